package localca

import (
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/hex"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/certctl/certctl/connectors/issuer"
	"github.com/certctl/certctl/connectors/keywrap"
)

const testCRLURL = "http://ca.example.net/.well-known/pki/crl/iss-local"

var (
	oidSubjectKeyID    = asn1.ObjectIdentifier{2, 5, 29, 14}
	oidKeyUsage        = asn1.ObjectIdentifier{2, 5, 29, 15}
	oidSubjectAltName  = asn1.ObjectIdentifier{2, 5, 29, 17}
	oidBasicConstraint = asn1.ObjectIdentifier{2, 5, 29, 19}
	oidCRLDistPoints   = asn1.ObjectIdentifier{2, 5, 29, 31}
	oidAuthorityKeyID  = asn1.ObjectIdentifier{2, 5, 29, 35}
	oidExtKeyUsage     = asn1.ObjectIdentifier{2, 5, 29, 37}
)

// TestIssue_FromCSR issues from an ECDSA P-256 and an RSA 2048 CSR and
// checks the leaf field by field, with crypto/x509 and with openssl.
func TestIssue_FromCSR(t *testing.T) {
	ca := newTestCA(t, "", Config{CRLURL: testCRLURL, AllowIPSANs: true})
	tests := []struct {
		name    string
		key     crypto.Signer
		wantKU  x509.KeyUsage
		wantAlg x509.PublicKeyAlgorithm
	}{
		{"ECDSA P-256", ecKey(t, elliptic.P256()), x509.KeyUsageDigitalSignature, x509.ECDSA},
		{"RSA 2048", rsaKey(t, 2048), x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment, x509.RSA},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			serial, err := issuer.NewSerial(nil)
			require.NoError(t, err)
			before := time.Now()
			res, leaf := issue(t, ca, issuer.IssuanceRequest{
				CommonName: "api.example.com",
				SANs:       []string{"www.example.com", "10.1.2.3", "2001:db8::1", "ops@example.com"},
				CSRPEM:     makeCSR(t, tt.key, "api.example.com", "www.example.com"),
				Serial:     serial,
			})

			// The result describes the certificate.
			assert.Equal(t, issuer.FormatSerial(serial), res.SerialNumber)
			assert.Equal(t, res.SerialNumber, res.OrderID)
			fp := sha256.Sum256(leaf.Raw)
			assert.Equal(t, hex.EncodeToString(fp[:]), res.FingerprintSHA256)
			assert.True(t, res.NotBefore.Equal(leaf.NotBefore))
			assert.True(t, res.NotAfter.Equal(leaf.NotAfter))
			assert.Equal(t, ca.material.IntermediateCertPEM, res.ChainPEM)

			// Identity.
			assert.Equal(t, 0, serial.Cmp(leaf.SerialNumber))
			assert.Equal(t, pkix.Name{CommonName: "api.example.com"}.String(), leaf.Subject.String())
			assert.Equal(t, ca.inter.Subject.String(), leaf.Issuer.String())
			assert.Equal(t, tt.wantAlg, leaf.PublicKeyAlgorithm)
			assert.True(t, leaf.PublicKey.(interface{ Equal(crypto.PublicKey) bool }).Equal(tt.key.Public()))
			assert.Equal(t, x509.ECDSAWithSHA384, leaf.SignatureAlgorithm) // by the P-384 intermediate

			// Names: the CN first, then the request's SANs.
			assert.Equal(t, []string{"api.example.com", "www.example.com"}, leaf.DNSNames)
			require.Len(t, leaf.IPAddresses, 2)
			assert.True(t, leaf.IPAddresses[0].Equal(net.ParseIP("10.1.2.3")))
			assert.True(t, leaf.IPAddresses[1].Equal(net.ParseIP("2001:db8::1")))
			assert.Equal(t, []string{"ops@example.com"}, leaf.EmailAddresses)

			// Key identifiers.
			wantSKI := sha256.Sum256(subjectPublicKeyBits(t, leaf))
			assert.Equal(t, wantSKI[:20], leaf.SubjectKeyId)
			assert.Equal(t, ca.inter.SubjectKeyId, leaf.AuthorityKeyId)

			// Usages and constraints.
			assert.Equal(t, tt.wantKU, leaf.KeyUsage)
			assert.Equal(t, []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}, leaf.ExtKeyUsage)
			assert.Empty(t, leaf.UnknownExtKeyUsage)
			assert.True(t, leaf.BasicConstraintsValid)
			assert.False(t, leaf.IsCA)
			assert.Equal(t, []string{testCRLURL}, leaf.CRLDistributionPoints)

			// Extensions present exactly once, critical where RFC 5280 says.
			critical := map[string]bool{}
			for _, ext := range leaf.Extensions {
				_, dup := critical[ext.Id.String()]
				assert.False(t, dup, "extension %s twice", ext.Id)
				critical[ext.Id.String()] = ext.Critical
			}
			assert.Equal(t, map[string]bool{
				oidSubjectKeyID.String():    false,
				oidKeyUsage.String():        true,
				oidSubjectAltName.String():  false,
				oidBasicConstraint.String(): true,
				oidCRLDistPoints.String():   false,
				oidAuthorityKeyID.String():  false,
				oidExtKeyUsage.String():     false,
			}, critical)

			// Validity: 90 days from now, backdated a minute.
			assert.WithinDuration(t, before.Add(-time.Minute), leaf.NotBefore, 2*time.Second)
			assert.Equal(t, 90*24*time.Hour+time.Minute, leaf.NotAfter.Sub(leaf.NotBefore))

			// The chain verifies, for both TLS roles and every name.
			roots, inters := ca.pools()
			for _, name := range []string{"api.example.com", "www.example.com", "10.1.2.3"} {
				chains, err := leaf.Verify(x509.VerifyOptions{
					DNSName: name, Roots: roots, Intermediates: inters,
					KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
				})
				require.NoError(t, err, name)
				require.Len(t, chains, 1)
				assert.Len(t, chains[0], 3)
			}
			// The chain in the result is what a server sends after the leaf.
			inters2 := x509.NewCertPool()
			require.True(t, inters2.AppendCertsFromPEM([]byte(res.ChainPEM)))
			_, err = leaf.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inters2})
			require.NoError(t, err)

			// And openssl agrees, strictly, for both purposes.
			opensslVerify(t, ca, res.CertPEM)
			opensslVerify(t, ca, res.CertPEM, "-x509_strict", "-purpose", "sslserver", "-verify_hostname", "api.example.com")
			opensslVerify(t, ca, res.CertPEM, "-x509_strict", "-purpose", "sslclient", "-verify_ip", "10.1.2.3")
		})
	}
}

// subjectPublicKeyBits is the subjectPublicKey BIT STRING of cert.
func subjectPublicKeyBits(t *testing.T, cert *x509.Certificate) []byte {
	t.Helper()
	var spki struct {
		Algorithm pkix.AlgorithmIdentifier
		PublicKey asn1.BitString
	}
	_, err := asn1.Unmarshal(cert.RawSubjectPublicKeyInfo, &spki)
	require.NoError(t, err)
	return spki.PublicKey.Bytes
}

func TestIssue_OtherKeyTypes(t *testing.T) {
	ca := newTestCA(t, "", Config{})
	_, ed, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	for name, key := range map[string]crypto.Signer{
		"ECDSA P-384": ecKey(t, elliptic.P384()),
		"Ed25519":     ed,
		"RSA 4096":    rsaKey(t, 4096),
	} {
		t.Run(name, func(t *testing.T) {
			res, leaf := issue(t, ca, issuer.IssuanceRequest{CommonName: "svc.example.com", CSRPEM: makeCSR(t, key, "svc.example.com")})
			roots, inters := ca.pools()
			_, err := leaf.Verify(x509.VerifyOptions{DNSName: "svc.example.com", Roots: roots, Intermediates: inters})
			require.NoError(t, err)
			opensslVerify(t, ca, res.CertPEM, "-x509_strict", "-purpose", "sslserver")
		})
	}
}

func TestIssue_RSACA(t *testing.T) {
	ca := newTestCA(t, "RSA-3072", Config{})
	res, leaf := issue(t, ca, issuer.IssuanceRequest{CommonName: "svc.example.com", CSRPEM: makeCSR(t, ecKey(t, elliptic.P256()), "svc.example.com")})
	assert.Equal(t, x509.SHA256WithRSA, leaf.SignatureAlgorithm)
	assert.Equal(t, ca.inter.SubjectKeyId, leaf.AuthorityKeyId)
	opensslVerify(t, ca, res.CertPEM, "-x509_strict", "-purpose", "sslserver")
}

// TestIssue_OpenSSLCSR accepts a CSR made by `openssl req` (testdata: CN
// app.example.com, O Example, SANs app and www.app.example.com, 10.0.0.7).
func TestIssue_OpenSSLCSR(t *testing.T) {
	ca := newTestCA(t, "", Config{AllowIPSANs: true})
	csr, err := os.ReadFile("testdata/openssl-p256.csr")
	require.NoError(t, err)
	res, leaf := issue(t, ca, issuer.IssuanceRequest{
		CommonName: "app.example.com",
		SANs:       []string{"www.app.example.com", "10.0.0.7"},
		CSRPEM:     string(csr),
	})
	// The CSR's organisation is not copied: the subject is the CN alone.
	assert.Empty(t, leaf.Subject.Organization)
	assert.Equal(t, []string{"app.example.com", "www.app.example.com"}, leaf.DNSNames)
	opensslVerify(t, ca, res.CertPEM, "-x509_strict", "-purpose", "sslserver")

	// The same CSR for a request that leaves out its IP is refused.
	_, err = ca.iss.IssueCertificate(t.Context(), issuer.IssuanceRequest{
		CommonName: "app.example.com", SANs: []string{"www.app.example.com"}, CSRPEM: string(csr),
	})
	assert.ErrorIs(t, err, issuer.ErrNameNotAllowed)
}

func TestIssue_Serial(t *testing.T) {
	ca := newTestCA(t, "", Config{})
	csr := makeCSR(t, ecKey(t, elliptic.P256()), "a.example.com")

	fixed, ok := new(big.Int).SetString("7f3a9c0e5b2d4e6f8a1b2c3d4e5f6071", 16)
	require.True(t, ok)
	res, leaf := issue(t, ca, issuer.IssuanceRequest{CommonName: "a.example.com", CSRPEM: csr, Serial: fixed})
	assert.Equal(t, 0, fixed.Cmp(leaf.SerialNumber))
	assert.Equal(t, "7f3a9c0e5b2d4e6f8a1b2c3d4e5f6071", res.SerialNumber)

	// Without one, the connector draws a fresh 128-bit serial.
	seen := map[string]bool{}
	for range 20 {
		res, leaf := issue(t, ca, issuer.IssuanceRequest{CommonName: "a.example.com", CSRPEM: csr})
		assert.Positive(t, leaf.SerialNumber.Sign())
		assert.LessOrEqual(t, leaf.SerialNumber.BitLen(), issuer.SerialBits)
		assert.False(t, seen[res.SerialNumber], "serial drawn twice")
		seen[res.SerialNumber] = true
	}
}

func TestIssue_Validity(t *testing.T) {
	now := time.Date(2027, 3, 14, 10, 30, 15, 500, time.UTC)
	kek := testKEK(t)
	m, err := NewCA(testIssuerID, "Clock CA", "", kek, now.Add(-24*time.Hour), nil)
	require.NoError(t, err)
	iss, err := New(Config{ID: testIssuerID, ValidityDays: 30, MaxValidityDays: MaxValidityDays}, m, kek, WithClock(func() time.Time { return now }))
	require.NoError(t, err)
	inter := mustParseCert(t, m.IntermediateCertPEM)
	csr := makeCSR(t, ecKey(t, elliptic.P256()), "v.example.com")
	at := func(s string) time.Time {
		ts, err := time.Parse(time.RFC3339, s)
		require.NoError(t, err)
		return ts
	}

	tests := []struct {
		name          string
		req           issuer.IssuanceRequest
		before, after time.Time
	}{
		{"config default", issuer.IssuanceRequest{}, at("2027-03-14T10:29:15Z"), at("2027-04-13T10:30:15Z")},
		{"request validity", issuer.IssuanceRequest{Validity: 7 * 24 * time.Hour}, at("2027-03-14T10:29:15Z"), at("2027-03-21T10:30:15Z")},
		{"request dates", issuer.IssuanceRequest{NotBefore: at("2027-04-01T00:00:00Z"), NotAfter: at("2027-05-01T00:00:00Z")}, at("2027-04-01T00:00:00Z"), at("2027-05-01T00:00:00Z")},
		{"request start", issuer.IssuanceRequest{NotBefore: at("2027-04-01T00:00:00Z")}, at("2027-04-01T00:00:00Z"), at("2027-05-01T00:00:00Z")},
		{"clamped to the intermediate", issuer.IssuanceRequest{Validity: 3650 * 24 * time.Hour}, at("2027-03-14T10:29:15Z"), inter.NotAfter},
		{"starts no earlier than the intermediate", issuer.IssuanceRequest{NotBefore: at("2020-01-01T00:00:00Z"), NotAfter: at("2027-06-01T00:00:00Z")}, inter.NotBefore, at("2027-06-01T00:00:00Z")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := tt.req
			req.CommonName, req.CSRPEM = "v.example.com", csr
			res, err := iss.IssueCertificate(t.Context(), req)
			require.NoError(t, err)
			leaf := mustParseCert(t, res.CertPEM)
			assert.Equal(t, tt.before, leaf.NotBefore)
			assert.Equal(t, tt.after, leaf.NotAfter)
			assert.Equal(t, tt.before, res.NotBefore)
			assert.Equal(t, tt.after, res.NotAfter)
		})
	}

	// Once the intermediate has expired, nothing is issued.
	late, err := New(Config{ID: testIssuerID}, m, kek, WithClock(func() time.Time { return inter.NotAfter.Add(time.Second) }))
	require.NoError(t, err)
	_, err = late.IssueCertificate(t.Context(), issuer.IssuanceRequest{CommonName: "v.example.com", CSRPEM: csr})
	assert.ErrorIs(t, err, ErrCAExpired)
}

func TestIssue_Names(t *testing.T) {
	ca := newTestCA(t, "", Config{AllowIPSANs: true})
	key := ecKey(t, elliptic.P256())
	tests := []struct {
		name      string
		cn        string
		sans      []string
		csr       string
		wantDNS   []string
		wantIPs   []string
		wantEmail []string
		wantURIs  []string
	}{
		{name: "CN added as a SAN, lowercased, once", cn: "Web.Example.com", sans: []string{"web.example.com", "*.web.example.com"},
			csr: makeCSR(t, key, "Web.Example.com"), wantDNS: []string{"web.example.com", "*.web.example.com"}},
		{name: "IP common name", cn: "192.0.2.10", csr: makeCSR(t, key, "192.0.2.10"), wantIPs: []string{"192.0.2.10"}},
		{name: "SANs only", sans: []string{"x.example.com", "spiffe://example.com/ns/prod/sa/api", "dev@example.com"},
			csr: makeCSR(t, key, ""), wantDNS: []string{"x.example.com"}, wantEmail: []string{"dev@example.com"},
			wantURIs: []string{"spiffe://example.com/ns/prod/sa/api"}},
		{name: "CSR naming fewer names", cn: "a.example.com", sans: []string{"b.example.com", "c.example.com"},
			csr: makeCSR(t, key, "", "c.example.com"), wantDNS: []string{"a.example.com", "b.example.com", "c.example.com"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, leaf := issue(t, ca, issuer.IssuanceRequest{CommonName: tt.cn, SANs: tt.sans, CSRPEM: tt.csr})
			assert.Equal(t, tt.cn, leaf.Subject.CommonName)
			assert.Equal(t, tt.wantDNS, leaf.DNSNames)
			var ips, uris []string
			for _, ip := range leaf.IPAddresses {
				ips = append(ips, ip.String())
			}
			for _, u := range leaf.URIs {
				uris = append(uris, u.String())
			}
			assert.Equal(t, tt.wantIPs, ips)
			assert.Equal(t, tt.wantEmail, leaf.EmailAddresses)
			assert.Equal(t, tt.wantURIs, uris)
			opensslVerify(t, ca, res.CertPEM, "-x509_strict")
		})
	}
}

func TestIssue_RefusesBadCSR(t *testing.T) {
	ca := newTestCA(t, "", Config{})
	good := ecKey(t, elliptic.P256())

	badSig := func() string {
		block, _ := pem.Decode([]byte(makeCSR(t, good, "a.example.com")))
		block.Bytes[len(block.Bytes)-3] ^= 0x01 // inside the signature
		return string(pem.EncodeToMemory(block))
	}()
	p521 := ecKey(t, elliptic.P521())

	tests := []struct {
		name    string
		csr     string
		sans    []string
		wantErr error
	}{
		{"bad signature", badSig, nil, issuer.ErrInvalidCSR},
		{"SAN not requested", makeCSR(t, good, "a.example.com", "evil.example.com"), nil, issuer.ErrNameNotAllowed},
		{"CN not requested", makeCSR(t, good, "evil.example.com"), []string{"b.example.com"}, issuer.ErrNameNotAllowed},
		{"RSA 1024", makeCSR(t, rsaKey(t, 1024), "a.example.com"), nil, issuer.ErrKeyNotAllowed},
		{"ECDSA P-521", makeCSR(t, p521, "a.example.com"), nil, issuer.ErrKeyNotAllowed},
		{"not PEM", "hello", nil, issuer.ErrInvalidCSR},
		{"empty", "", nil, issuer.ErrInvalidCSR},
		{"a certificate instead", ca.material.IntermediateCertPEM, nil, issuer.ErrInvalidCSR},
		{"trailing data", makeCSR(t, good, "a.example.com") + ca.material.RootCertPEM, nil, issuer.ErrInvalidCSR},
		{"garbage DER", string(pemBlock("CERTIFICATE REQUEST", []byte{0x30, 0x03, 0x02, 0x01, 0x01})), nil, issuer.ErrInvalidCSR},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ca.iss.IssueCertificate(t.Context(), issuer.IssuanceRequest{CommonName: "a.example.com", SANs: tt.sans, CSRPEM: tt.csr})
			require.Error(t, err)
			assert.ErrorIs(t, err, issuer.ErrInvalidCSR)
			assert.ErrorIs(t, err, tt.wantErr)
			var ce *issuer.CSRError
			require.ErrorAs(t, err, &ce)
			assert.NotEmpty(t, ce.Reason)
			t.Log(err)
		})
	}
}

func TestIssue_RefusesBadRequest(t *testing.T) {
	ca := newTestCA(t, "", Config{})
	csr := makeCSR(t, ecKey(t, elliptic.P256()), "a.example.com")
	huge := new(big.Int).Lsh(big.NewInt(1), 160)
	tests := []struct {
		name      string
		req       issuer.IssuanceRequest
		wantField string
	}{
		{"zero serial", issuer.IssuanceRequest{Serial: big.NewInt(0)}, "serial"},
		{"negative serial", issuer.IssuanceRequest{Serial: big.NewInt(-5)}, "serial"},
		{"serial over 20 octets", issuer.IssuanceRequest{Serial: huge}, "serial"},
		{"invalid SAN", issuer.IssuanceRequest{SANs: []string{"bad_name.example.com"}}, "sans"},
		{"empty SAN", issuer.IssuanceRequest{SANs: []string{""}}, "sans"},
		{"not_after before not_before", issuer.IssuanceRequest{NotBefore: time.Now(), NotAfter: time.Now().Add(-time.Hour)}, "not_after"},
		{"negative validity", issuer.IssuanceRequest{Validity: -time.Hour}, "validity"},
		{"validity over the maximum", issuer.IssuanceRequest{Validity: 4000 * 24 * time.Hour}, "validity"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := tt.req
			req.CommonName, req.CSRPEM = "a.example.com", csr
			_, err := ca.iss.IssueCertificate(t.Context(), req)
			require.ErrorIs(t, err, issuer.ErrInvalidRequest)
			var re *issuer.RequestError
			require.ErrorAs(t, err, &re)
			assert.Equal(t, tt.wantField, re.Field)
		})
	}

	_, err := ca.iss.IssueCertificate(t.Context(), issuer.IssuanceRequest{CSRPEM: csr})
	assert.ErrorIs(t, err, issuer.ErrInvalidRequest, "neither CN nor SAN")
	_, err = ca.iss.IssueCertificate(t.Context(), issuer.IssuanceRequest{CommonName: string(make([]byte, 65)), CSRPEM: csr})
	assert.ErrorIs(t, err, issuer.ErrInvalidRequest, "CN over 64 characters")
}

func TestIssue_CanceledContext(t *testing.T) {
	ca := newTestCA(t, "", Config{})
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err := ca.iss.IssueCertificate(ctx, issuer.IssuanceRequest{CommonName: "a.example.com", CSRPEM: makeCSR(t, ecKey(t, elliptic.P256()), "a.example.com")})
	assert.ErrorIs(t, err, context.Canceled)
}

func TestIssue_NoCRLURL(t *testing.T) {
	ca := newTestCA(t, "", Config{})
	_, leaf := issue(t, ca, issuer.IssuanceRequest{CommonName: "a.example.com", CSRPEM: makeCSR(t, ecKey(t, elliptic.P256()), "a.example.com")})
	assert.Empty(t, leaf.CRLDistributionPoints)
	for _, ext := range leaf.Extensions {
		assert.False(t, ext.Id.Equal(oidCRLDistPoints))
	}
}

func TestRenewCertificate(t *testing.T) {
	ca := newTestCA(t, "", Config{})
	key := ecKey(t, elliptic.P256())
	first, _ := issue(t, ca, issuer.IssuanceRequest{CommonName: "r.example.com", CSRPEM: makeCSR(t, key, "r.example.com")})
	res, err := ca.iss.RenewCertificate(t.Context(), issuer.RenewalRequest{
		IssuanceRequest: issuer.IssuanceRequest{CommonName: "r.example.com", CSRPEM: makeCSR(t, key, "r.example.com")},
		PreviousSerial:  first.SerialNumber,
	})
	require.NoError(t, err)
	assert.NotEqual(t, first.SerialNumber, res.SerialNumber)
	assert.NotEqual(t, first.FingerprintSHA256, res.FingerprintSHA256)
	opensslVerify(t, ca, res.CertPEM, "-x509_strict")
}

// TestIssue_ServerSideKey is the key_generation "server" path: the server
// makes the key and the CSR, and seals the key before storing it.
func TestIssue_ServerSideKey(t *testing.T) {
	ca := newTestCA(t, "", Config{})
	for _, kt := range []string{"ECDSA-P256", "RSA-2048"} {
		t.Run(kt, func(t *testing.T) {
			key, err := issuer.GenerateKey(kt, nil)
			require.NoError(t, err)
			csr, err := issuer.CSRFor(key, "srv.example.com", []string{"srv2.example.com"})
			require.NoError(t, err)
			res, leaf := issue(t, ca, issuer.IssuanceRequest{CommonName: "srv.example.com", SANs: []string{"srv2.example.com"}, CSRPEM: csr})
			assert.True(t, key.Public().(interface{ Equal(crypto.PublicKey) bool }).Equal(leaf.PublicKey))
			opensslVerify(t, ca, res.CertPEM, "-x509_strict", "-purpose", "sslserver")

			der, err := x509.MarshalPKCS8PrivateKey(key)
			require.NoError(t, err)
			aad := []byte("certctl/certificate/mc-api-prod/" + res.SerialNumber)
			sealed, err := keywrap.Seal(ca.kek, der, aad)
			require.NoError(t, err)
			assert.False(t, containsAny(sealed, der))
			back, err := keywrap.Open(ca.kek, sealed, aad)
			require.NoError(t, err)
			assert.Equal(t, der, back)
		})
	}
}

func TestIssue_Concurrent(t *testing.T) {
	ca := newTestCA(t, "", Config{})
	csr := makeCSR(t, ecKey(t, elliptic.P256()), "c.example.com")
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for range 8 {
		wg.Go(func() {
			for range 8 {
				_, err := ca.iss.IssueCertificate(t.Context(), issuer.IssuanceRequest{CommonName: "c.example.com", CSRPEM: csr})
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
}
