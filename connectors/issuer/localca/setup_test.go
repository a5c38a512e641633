package localca

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/certctl/certctl/connectors/issuer"
)

const testIssuerID = "iss-local"

func testKEK(t testing.TB) []byte {
	t.Helper()
	kek := make([]byte, 32)
	_, err := rand.Read(kek)
	require.NoError(t, err)
	return kek
}

// testCA makes the CA material of testIssuerID and its Issuer.
type testCA struct {
	material *CAMaterial
	kek      []byte
	iss      *Issuer
	root     *x509.Certificate
	inter    *x509.Certificate
}

func newTestCA(t testing.TB, keyType string, cfg Config, opts ...Option) *testCA {
	t.Helper()
	kek := testKEK(t)
	m, err := NewCA(testIssuerID, "certctl Test CA", keyType, kek, time.Now(), nil)
	require.NoError(t, err)
	cfg.ID = testIssuerID
	iss, err := New(cfg, m, kek, opts...)
	require.NoError(t, err)
	return &testCA{material: m, kek: kek, iss: iss, root: mustParseCert(t, m.RootCertPEM), inter: mustParseCert(t, m.IntermediateCertPEM)}
}

func (ca *testCA) pools() (roots, inters *x509.CertPool) {
	roots, inters = x509.NewCertPool(), x509.NewCertPool()
	roots.AddCert(ca.root)
	inters.AddCert(ca.inter)
	return roots, inters
}

func mustParseCert(t testing.TB, text string) *x509.Certificate {
	t.Helper()
	block, _ := pem.Decode([]byte(text))
	require.NotNil(t, block, "no PEM block")
	require.Equal(t, "CERTIFICATE", block.Type)
	cert, err := x509.ParseCertificate(block.Bytes)
	require.NoError(t, err)
	return cert
}

func ecKey(t testing.TB, curve elliptic.Curve) crypto.Signer {
	t.Helper()
	k, err := ecdsa.GenerateKey(curve, rand.Reader)
	require.NoError(t, err)
	return k
}

func rsaKey(t testing.TB, bits int) crypto.Signer {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, bits)
	require.NoError(t, err)
	return k
}

// makeCSR signs a CSR for cn and DNS names dns with key.
func makeCSR(t testing.TB, key crypto.Signer, cn string, dns ...string) string {
	t.Helper()
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{
		Subject:  pkix.Name{CommonName: cn},
		DNSNames: dns,
	}, key)
	require.NoError(t, err)
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}))
}

// requireOpenSSL returns the openssl binary. A missing openssl fails the
// test: these checks are never skipped (apt-get install openssl).
func requireOpenSSL(t testing.TB) string {
	t.Helper()
	path, err := exec.LookPath("openssl")
	require.NoError(t, err, "openssl is required for these tests: apt-get install openssl")
	return path
}

// openssl runs openssl with args and returns its combined output and error.
func openssl(t testing.TB, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, requireOpenSSL(t), args...).CombinedOutput()
	return string(out), err
}

func writeFile(t testing.TB, dir, name string, data []byte) string {
	t.Helper()
	path := filepath.Join(dir, name)
	require.NoError(t, os.WriteFile(path, data, 0o600))
	return path
}

// opensslVerify runs `openssl verify -CAfile root -untrusted inter leaf`
// with extra flags and requires "leaf.pem: OK".
func opensslVerify(t *testing.T, ca *testCA, leafPEM string, flags ...string) {
	t.Helper()
	dir := t.TempDir()
	root := writeFile(t, dir, "root.pem", []byte(ca.material.RootCertPEM))
	inter := writeFile(t, dir, "intermediate.pem", []byte(ca.material.IntermediateCertPEM))
	leaf := writeFile(t, dir, "leaf.pem", []byte(leafPEM))
	args := append([]string{"verify"}, flags...)
	args = append(args, "-CAfile", root, "-untrusted", inter, leaf)
	out, err := openssl(t, args...)
	require.NoError(t, err, "openssl %v:\n%s", args, out)
	require.Contains(t, out, leaf+": OK", "openssl %v:\n%s", args, out)
}

func pemBlock(typ string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}

func containsAny(haystack []byte, needles ...[]byte) bool {
	for _, n := range needles {
		if len(n) > 0 && bytes.Contains(haystack, n) {
			return true
		}
	}
	return false
}

// issue is IssueCertificate that requires success and parses the leaf.
func issue(t testing.TB, ca *testCA, req issuer.IssuanceRequest) (*issuer.IssuanceResult, *x509.Certificate) {
	t.Helper()
	res, err := ca.iss.IssueCertificate(t.Context(), req)
	require.NoError(t, err)
	return res, mustParseCert(t, res.CertPEM)
}
