package targettest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// Issued is a certificate as the agent holds it for a deployment.
type Issued struct {
	// CertPEM is the leaf alone, ChainPEM its intermediate, KeyPEM the
	// leaf's key (PKCS #8), also written at KeyPath.
	CertPEM, ChainPEM, KeyPEM string
	KeyPath                   string
	// Serial is the leaf's serial in hex, Fingerprint the hex SHA-256 of
	// its DER: the forms of target.DeploymentRequest.
	Serial, Fingerprint string
	Key                 *ecdsa.PrivateKey
	Cert                *x509.Certificate
}

// Issue makes a leaf for cn with the given serial under a fresh
// intermediate, valid from an hour ago for a day, and writes its key to a
// 0600 file as the agent's key store does.
func Issue(t testing.TB, cn string, serial int64) Issued {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	now := time.Now()
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "certctl test intermediate"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	require.NoError(t, err)
	ca, err := x509.ParseCertificate(caDER)
	require.NoError(t, err)

	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: cn}, DNSNames: []string{cn},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour), KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	require.NoError(t, err)
	cert, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	pkcs8, err := x509.MarshalPKCS8PrivateKey(key)
	require.NoError(t, err)
	keyPEM := string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pkcs8}))
	keyPath := filepath.Join(t.TempDir(), "key.pem")
	require.NoError(t, os.WriteFile(keyPath, []byte(keyPEM), 0o600))
	sum := sha256.Sum256(der)
	return Issued{
		CertPEM:     string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})),
		ChainPEM:    string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})),
		KeyPEM:      keyPEM,
		KeyPath:     keyPath,
		Serial:      cert.SerialNumber.Text(16),
		Fingerprint: hex.EncodeToString(sum[:]),
		Key:         key,
		Cert:        cert,
	}
}
