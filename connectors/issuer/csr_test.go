package issuer

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
	"errors"
	"net"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func csrPEM(t *testing.T, key crypto.Signer, tmpl *x509.CertificateRequest) string {
	t.Helper()
	der, err := x509.CreateCertificateRequest(rand.Reader, tmpl, key)
	require.NoError(t, err)
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}))
}

func TestCheckPublicKey(t *testing.T) {
	p256, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	p521, _ := ecdsa.GenerateKey(elliptic.P521(), rand.Reader)
	r1024, _ := rsa.GenerateKey(rand.Reader, 1024)
	r2048, _ := rsa.GenerateKey(rand.Reader, 2048)
	edPub, _, _ := ed25519.GenerateKey(rand.Reader)

	for name, pub := range map[string]any{"P-256": &p256.PublicKey, "P-384": &p384.PublicKey, "RSA 2048": &r2048.PublicKey, "Ed25519": edPub} {
		assert.NoError(t, CheckPublicKey(pub), name)
	}
	for name, pub := range map[string]any{"P-521": &p521.PublicKey, "RSA 1024": &r1024.PublicKey, "string": "key"} {
		err := CheckPublicKey(pub)
		assert.ErrorIs(t, err, ErrKeyNotAllowed, name)
		assert.ErrorIs(t, err, ErrInvalidCSR, name)
	}
}

func TestVerifyCSR(t *testing.T) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	allowed, err := ParseNames("a.example.com", []string{"b.example.com", "10.0.0.1", "ops@example.com"})
	require.NoError(t, err)

	ok := []*x509.CertificateRequest{
		{Subject: pkix.Name{CommonName: "a.example.com"}},
		{Subject: pkix.Name{CommonName: "A.EXAMPLE.COM"}, DNSNames: []string{"B.example.com"}},
		{Subject: pkix.Name{CommonName: "b.example.com"}, IPAddresses: []net.IP{net.ParseIP("10.0.0.1")}},
		{EmailAddresses: []string{"ops@EXAMPLE.com"}},
		{},
	}
	for _, tmpl := range ok {
		csr, err := VerifyCSR(csrPEM(t, key, tmpl), "a.example.com", allowed)
		require.NoError(t, err, "%+v", tmpl)
		assert.NotNil(t, csr)
	}

	refused := []*x509.CertificateRequest{
		{Subject: pkix.Name{CommonName: "c.example.com"}},
		{DNSNames: []string{"c.example.com"}},
		{IPAddresses: []net.IP{net.ParseIP("10.0.0.2")}},
		{EmailAddresses: []string{"OPS@example.com"}},
	}
	for _, tmpl := range refused {
		_, err := VerifyCSR(csrPEM(t, key, tmpl), "a.example.com", allowed)
		assert.ErrorIs(t, err, ErrNameNotAllowed, "%+v", tmpl)
		assert.ErrorIs(t, err, ErrInvalidCSR, "%+v", tmpl)
	}
}

func TestParseCSR_BadSignature(t *testing.T) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	block, _ := pem.Decode([]byte(csrPEM(t, key, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "a"}})))
	block.Bytes[len(block.Bytes)-2] ^= 0xff
	_, err = ParseCSR(string(pem.EncodeToMemory(block)))
	var ce *CSRError
	require.ErrorAs(t, err, &ce)
	assert.Equal(t, "signature does not verify", ce.Reason)
	assert.False(t, errors.Is(err, ErrKeyNotAllowed))

	// Legacy PEM type is accepted.
	block, _ = pem.Decode([]byte(csrPEM(t, key, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "a"}})))
	block.Type = "NEW CERTIFICATE REQUEST"
	_, err = ParseCSR(string(pem.EncodeToMemory(block)))
	assert.NoError(t, err)
}
