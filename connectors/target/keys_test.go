package target_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/certctl/certctl/connectors/target"
)

func selfSigned(t *testing.T, key crypto.Signer) *x509.Certificate {
	t.Helper()
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(42), Subject: pkix.Name{CommonName: "www.example.test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	require.NoError(t, err)
	c, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	return c
}

func TestReadKeyFor(t *testing.T) {
	dir := t.TempDir()
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	rk, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	_, ed, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	sec1, err := x509.MarshalECPrivateKey(ec)
	require.NoError(t, err)
	pkcs8, err := x509.MarshalPKCS8PrivateKey(ed)
	require.NoError(t, err)

	for _, tc := range []struct {
		name  string
		key   crypto.Signer
		block *pem.Block
	}{
		{"sec1", ec, &pem.Block{Type: "EC PRIVATE KEY", Bytes: sec1}},
		{"pkcs1", rk, &pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(rk)}},
		{"pkcs8", ed, &pem.Block{Type: "PRIVATE KEY", Bytes: pkcs8}},
	} {
		p := filepath.Join(dir, tc.name+".key")
		require.NoError(t, os.WriteFile(p, pem.EncodeToMemory(tc.block), 0o600))
		data, err := target.ReadKeyFor(selfSigned(t, tc.key), p)
		require.NoError(t, err, tc.name)
		assert.Equal(t, pem.EncodeToMemory(tc.block), data)

		other := selfSigned(t, ec)
		if tc.key == crypto.Signer(ec) {
			other = selfSigned(t, rk)
		}
		_, err = target.ReadKeyFor(other, p)
		require.ErrorIs(t, err, target.ErrKeyMismatch, tc.name)
		assert.Contains(t, err.Error(), "does not match the local key at "+p)
		assert.Contains(t, err.Error(), target.Fingerprint(other))
	}

	for name, content := range map[string]string{
		"garbage":   "not a key",
		"encrypted": string(pem.EncodeToMemory(&pem.Block{Type: "ENCRYPTED PRIVATE KEY", Bytes: []byte("secret bytes")})),
		"corrupt":   string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: []byte("secret bytes")})),
	} {
		p := filepath.Join(dir, name+".key")
		require.NoError(t, os.WriteFile(p, []byte(content), 0o600))
		_, err := target.ReadKeyFor(selfSigned(t, ec), p)
		require.Error(t, err, name)
		assert.NotErrorIs(t, err, target.ErrKeyMismatch)
		assert.NotContains(t, err.Error(), "secret bytes")
	}
	_, err = target.ReadKeyFor(selfSigned(t, ec), filepath.Join(dir, "missing.key"))
	assert.ErrorContains(t, err, "read the local private key")
}

func TestParsePrivateKey(t *testing.T) {
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	sec1, err := x509.MarshalECPrivateKey(ec)
	require.NoError(t, err)
	key, err := target.ParsePrivateKey(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: sec1}))
	require.NoError(t, err)
	assert.True(t, ec.Equal(key))

	_, err = target.ParsePrivateKey(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: []byte("secret bytes")}))
	assert.ErrorContains(t, err, "does not parse")
	assert.NotContains(t, err.Error(), "secret bytes")
	_, err = target.ParsePrivateKey([]byte("not a key"))
	assert.ErrorContains(t, err, "not PEM")
}

func TestNormalFingerprint(t *testing.T) {
	assert.Equal(t, "ab01ff", target.NormalFingerprint("AB:01:ff"))
	assert.Equal(t, "ab01ff", target.NormalFingerprint("ab01ff"))
}

func TestParseCertificates(t *testing.T) {
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	c := selfSigned(t, ec)
	one := string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw}))

	leaf, chain, err := target.ParseCertificates(one, one+one)
	require.NoError(t, err)
	assert.Equal(t, c.Raw, leaf.Raw)
	assert.Len(t, chain, 2)
	_, chain, err = target.ParseCertificates(one, "")
	require.NoError(t, err)
	assert.Empty(t, chain)

	_, _, err = target.ParseCertificates(one+one, "")
	assert.ErrorContains(t, err, "want the leaf alone")
	_, _, err = target.ParseCertificates("", "")
	assert.ErrorContains(t, err, "holds 0 certificates")
	_, _, err = target.ParseCertificates(one, one+"trailing junk")
	assert.ErrorContains(t, err, "trailing data")
}
