package webserver_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/certctl/certctl/connectors/target"
)

// pki is a small CA (root and intermediate) and the leaves a test deploys.
// A and Boot share a key; B has its own, of another algorithm.
type pki struct {
	chainPEM           string
	a, b, boot         leaf
	keyDir             string
	keyAPath, keyBPath string
}

type leaf struct {
	cert *x509.Certificate
	pem  string
	fp   string
}

const commonName = "www.example.test"

func newPKI(t *testing.T) *pki {
	t.Helper()
	rootKey := ecKey(t)
	root := sign(t, &x509.Certificate{Subject: pkix.Name{CommonName: "certctl test root"}, IsCA: true,
		BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}, nil, rootKey.Public(), rootKey)
	interKey := ecKey(t)
	inter := sign(t, &x509.Certificate{Subject: pkix.Name{CommonName: "certctl test intermediate"}, IsCA: true,
		BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}, root, interKey.Public(), rootKey)

	keyA := ecKey(t)
	keyB, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	p := &pki{chainPEM: string(pemCert(inter)), keyDir: t.TempDir()}
	p.a = newLeaf(t, inter, interKey, keyA.Public())
	p.b = newLeaf(t, inter, interKey, keyB.Public())
	p.boot = newLeaf(t, inter, interKey, keyA.Public())

	ecDER, err := x509.MarshalECPrivateKey(keyA)
	require.NoError(t, err)
	p.keyAPath = filepath.Join(p.keyDir, "a.key")
	require.NoError(t, os.WriteFile(p.keyAPath, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: ecDER}), 0o600))
	rsaDER, err := x509.MarshalPKCS8PrivateKey(keyB)
	require.NoError(t, err)
	p.keyBPath = filepath.Join(p.keyDir, "b.key")
	require.NoError(t, os.WriteFile(p.keyBPath, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: rsaDER}), 0o600))
	return p
}

func ecKey(t *testing.T) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	return k
}

func newLeaf(t *testing.T, issuer *x509.Certificate, issuerKey crypto.Signer, pub crypto.PublicKey) leaf {
	t.Helper()
	c := sign(t, &x509.Certificate{Subject: pkix.Name{CommonName: commonName},
		DNSNames: []string{commonName, "localhost"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}},
		issuer, pub, issuerKey)
	return leaf{cert: c, pem: string(pemCert(c)), fp: target.Fingerprint(c)}
}

func sign(t *testing.T, tmpl, issuer *x509.Certificate, pub crypto.PublicKey, issuerKey crypto.Signer) *x509.Certificate {
	t.Helper()
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 64))
	require.NoError(t, err)
	tmpl.SerialNumber = serial
	tmpl.NotBefore, tmpl.NotAfter = time.Now().Add(-time.Hour), time.Now().Add(24*time.Hour)
	if issuer == nil {
		issuer = tmpl
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, issuer, pub, issuerKey)
	require.NoError(t, err)
	c, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	return c
}

func pemCert(c *x509.Certificate) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
}

// request is the deployment of l with the key at keyPath.
func (p *pki) request(t *testing.T, config map[string]string, l leaf, keyPath string) target.DeploymentRequest {
	t.Helper()
	return target.DeploymentRequest{TargetID: "t-1", Config: rawConfig(t, config), CertificateID: "mc-1",
		CommonName: commonName, CertPEM: l.pem, ChainPEM: p.chainPEM, KeyPath: keyPath,
		SerialNumber: l.cert.SerialNumber.Text(16), FingerprintSHA256: l.fp,
		StateDir: filepath.Join(t.TempDir(), "state")}
}

func rawConfig(t *testing.T, config map[string]string) json.RawMessage {
	t.Helper()
	raw, err := json.Marshal(config)
	require.NoError(t, err)
	return raw
}

// with returns a copy of config with the given fields changed.
func with(config map[string]string, kv ...string) map[string]string {
	out := make(map[string]string, len(config)+len(kv)/2)
	for k, v := range config {
		out[k] = v
	}
	for i := 0; i+1 < len(kv); i += 2 {
		out[kv[i]] = kv[i+1]
	}
	return out
}
