package localca

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/certctl/certctl/connectors/issuer"
	"github.com/certctl/certctl/connectors/keywrap"
)

func TestNewCA_ChainValid(t *testing.T) {
	tests := []struct {
		keyType string
		check   func(t *testing.T, pub any)
	}{
		{"", func(t *testing.T, pub any) { // the default: ECDSA P-384
			k, ok := pub.(*ecdsa.PublicKey)
			require.True(t, ok, "key is %T", pub)
			assert.Equal(t, elliptic.P384(), k.Curve)
		}},
		{"RSA-3072", func(t *testing.T, pub any) {
			k, ok := pub.(*rsa.PublicKey)
			require.True(t, ok, "key is %T", pub)
			assert.Equal(t, 3072, k.N.BitLen())
		}},
	}
	for _, tt := range tests {
		t.Run("key "+tt.keyType, func(t *testing.T) {
			now := time.Now()
			kek := testKEK(t)
			m, err := NewCA(testIssuerID, "Acme Internal CA", tt.keyType, kek, now, nil)
			require.NoError(t, err)
			root, inter := mustParseCert(t, m.RootCertPEM), mustParseCert(t, m.IntermediateCertPEM)

			// Root: self-signed CA, any path length below it.
			assert.Equal(t, "Acme Internal CA Root", root.Subject.CommonName)
			assert.Equal(t, root.Subject.String(), root.Issuer.String())
			require.NoError(t, root.CheckSignatureFrom(root))
			assert.True(t, root.IsCA)
			assert.True(t, root.BasicConstraintsValid)
			assert.Equal(t, x509.KeyUsageCertSign|x509.KeyUsageCRLSign|x509.KeyUsageDigitalSignature, root.KeyUsage)
			assert.Len(t, root.SubjectKeyId, 20)
			tt.check(t, root.PublicKey)

			// Intermediate: signed by the root, path length 0.
			assert.Equal(t, "Acme Internal CA", inter.Subject.CommonName)
			require.NoError(t, inter.CheckSignatureFrom(root))
			assert.True(t, inter.IsCA)
			assert.True(t, inter.MaxPathLenZero)
			assert.Equal(t, 0, inter.MaxPathLen)
			assert.Equal(t, x509.KeyUsageCertSign|x509.KeyUsageCRLSign|x509.KeyUsageDigitalSignature, inter.KeyUsage)
			assert.Equal(t, root.SubjectKeyId, inter.AuthorityKeyId)
			assert.Len(t, inter.SubjectKeyId, 20)
			assert.NotEqual(t, root.SubjectKeyId, inter.SubjectKeyId)
			assert.NotEqual(t, root.SerialNumber, inter.SerialNumber)
			tt.check(t, inter.PublicKey)

			// Validity: backdated an hour, 10 and 5 years.
			assert.WithinDuration(t, now.Add(-time.Hour), root.NotBefore, 2*time.Second)
			assert.Equal(t, root.NotBefore.Add(RootValidity), root.NotAfter)
			assert.Equal(t, inter.NotBefore.Add(IntermediateValidity), inter.NotAfter)

			roots := x509.NewCertPool()
			roots.AddCert(root)
			_, err = inter.Verify(x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}})
			require.NoError(t, err)

			dir := t.TempDir()
			out, err := openssl(t, "verify", "-x509_strict", "-CAfile", writeFile(t, dir, "root.pem", []byte(m.RootCertPEM)),
				writeFile(t, dir, "intermediate.pem", []byte(m.IntermediateCertPEM)))
			require.NoError(t, err, out)
			assert.Contains(t, out, ": OK")

			assert.Equal(t, keywrap.KeyID(kek), m.KEKID)
			wantType := tt.keyType
			if wantType == "" {
				wantType = "ECDSA-P384"
			}
			assert.Equal(t, wantType, m.KeyType)

			// The material opens into a working Issuer.
			iss, err := New(Config{ID: testIssuerID}, m, kek)
			require.NoError(t, err)
			chain, err := iss.CAChainPEM()
			require.NoError(t, err)
			assert.Equal(t, m.IntermediateCertPEM+m.RootCertPEM, chain)
		})
	}
}

func TestNewCA_SealedKeysDoNotLeak(t *testing.T) {
	kek := testKEK(t)
	m, err := NewCA(testIssuerID, "Leak Test CA", "", kek, time.Now(), nil)
	require.NoError(t, err)
	stored, err := json.Marshal(m)
	require.NoError(t, err)

	root, inter := mustParseCert(t, m.RootCertPEM), mustParseCert(t, m.IntermediateCertPEM)
	for _, role := range []struct {
		name string
		cert *x509.Certificate
	}{{roleRoot, root}, {roleIntermediate, inter}} {
		key, err := m.openKey(kek, testIssuerID, role.name, role.cert)
		require.NoError(t, err, role.name)
		ec := key.(*ecdsa.PrivateKey)

		pkcs8, err := x509.MarshalPKCS8PrivateKey(key)
		require.NoError(t, err)
		sec1, err := x509.MarshalECPrivateKey(ec)
		require.NoError(t, err)
		scalar, err := ec.Bytes()
		require.NoError(t, err)
		secrets := [][]byte{
			pkcs8, sec1, scalar,
			pemBlock("PRIVATE KEY", pkcs8), pemBlock("EC PRIVATE KEY", sec1),
			[]byte(base64.StdEncoding.EncodeToString(pkcs8)), []byte(base64.StdEncoding.EncodeToString(sec1)),
		}
		for _, where := range [][]byte{stored, m.RootKeySealed, m.IntermediateKeySealed, []byte(m.RootCertPEM + m.IntermediateCertPEM)} {
			assert.False(t, containsAny(where, secrets...), "%s key material found in the stored CA", role.name)
		}
	}
	assert.NotContains(t, string(stored), "PRIVATE KEY")
}

func TestNewCA_Refuses(t *testing.T) {
	kek := testKEK(t)
	now := time.Now()
	tests := []struct {
		name      string
		issuerID  string
		cn        string
		keyType   string
		kek       []byte
		now       time.Time
		wantField string
	}{
		{name: "no issuer id", cn: "CA", kek: kek, now: now},
		{name: "no time", issuerID: "i", cn: "CA", kek: kek},
		{name: "short kek", issuerID: "i", cn: "CA", kek: kek[:16], now: now},
		{name: "leaf key type", issuerID: "i", cn: "CA", keyType: "ECDSA-P256", kek: kek, now: now, wantField: "key_type"},
		{name: "unknown key type", issuerID: "i", cn: "CA", keyType: "DSA", kek: kek, now: now, wantField: "key_type"},
		{name: "long name", issuerID: "i", cn: string(bytes.Repeat([]byte("x"), 60)), kek: kek, now: now, wantField: "ca_common_name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewCA(tt.issuerID, tt.cn, tt.keyType, tt.kek, tt.now, nil)
			require.Error(t, err)
			if tt.wantField != "" {
				var ce *issuer.ConfigError
				require.ErrorAs(t, err, &ce)
				assert.Equal(t, tt.wantField, ce.Field)
			}
		})
	}
}

func TestNew_OpensOnlyWithItsKEKAndIssuer(t *testing.T) {
	ca := newTestCA(t, "", Config{})

	t.Run("another KEK", func(t *testing.T) {
		_, err := New(Config{ID: testIssuerID}, ca.material, testKEK(t))
		require.ErrorIs(t, err, ErrKEKMismatch)
		assert.Contains(t, err.Error(), ca.material.KEKID)
		assert.Contains(t, err.Error(), "same KEK file")

		// Without the KEK id, the seal itself refuses.
		m := *ca.material
		m.KEKID = ""
		_, err = New(Config{ID: testIssuerID}, &m, testKEK(t))
		assert.ErrorIs(t, err, keywrap.ErrOpen)
	})
	t.Run("another issuer", func(t *testing.T) {
		_, err := New(Config{ID: "iss-other"}, ca.material, ca.kek)
		assert.ErrorIs(t, err, keywrap.ErrOpen)
	})
	t.Run("keys swapped", func(t *testing.T) {
		m := *ca.material
		m.RootKeySealed, m.IntermediateKeySealed = m.IntermediateKeySealed, m.RootKeySealed
		_, err := New(Config{ID: testIssuerID}, &m, ca.kek)
		assert.ErrorIs(t, err, keywrap.ErrOpen)
	})
	t.Run("sealed key altered", func(t *testing.T) {
		m := *ca.material
		m.IntermediateKeySealed = bytes.Clone(m.IntermediateKeySealed)
		m.IntermediateKeySealed[len(m.IntermediateKeySealed)/2] ^= 0x80
		_, err := New(Config{ID: testIssuerID}, &m, ca.kek)
		assert.ErrorIs(t, err, keywrap.ErrOpen)
	})
	t.Run("certificates swapped", func(t *testing.T) {
		m := *ca.material
		m.RootCertPEM, m.IntermediateCertPEM = m.IntermediateCertPEM, m.RootCertPEM
		_, err := New(Config{ID: testIssuerID}, &m, ca.kek)
		assert.ErrorContains(t, err, "not signed by the root")
	})
	t.Run("key of another CA", func(t *testing.T) {
		other, err := NewCA(testIssuerID, "Other CA", "", ca.kek, time.Now(), nil)
		require.NoError(t, err)
		m := *ca.material
		m.IntermediateKeySealed = other.IntermediateKeySealed
		_, err = New(Config{ID: testIssuerID}, &m, ca.kek)
		assert.ErrorContains(t, err, "does not match its certificate")
	})
	t.Run("no material", func(t *testing.T) {
		_, err := New(Config{ID: testIssuerID}, nil, ca.kek)
		assert.ErrorIs(t, err, ErrNoMaterial)
	})
	t.Run("no issuer id", func(t *testing.T) {
		_, err := New(Config{}, ca.material, ca.kek)
		assert.ErrorContains(t, err, "issuer id")
	})
	t.Run("bad config", func(t *testing.T) {
		_, err := New(Config{ID: testIssuerID, ValidityDays: -1}, ca.material, ca.kek)
		assert.ErrorIs(t, err, issuer.ErrInvalidConfig)
	})
}

func TestCAMaterial_JSONRoundTrip(t *testing.T) {
	ca := newTestCA(t, "", Config{})
	data, err := json.Marshal(ca.material)
	require.NoError(t, err)
	for _, field := range []string{"key_type", "root_cert_pem", "intermediate_cert_pem", "root_key_sealed", "intermediate_key_sealed", "kek_id"} {
		assert.Contains(t, string(data), `"`+field+`"`)
	}
	var back CAMaterial
	require.NoError(t, json.Unmarshal(data, &back))
	assert.Equal(t, *ca.material, back)
	_, err = New(Config{ID: testIssuerID}, &back, ca.kek)
	require.NoError(t, err)
}
