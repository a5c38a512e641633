package fsm_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/certctl/certctl/fsm"
	"github.com/certctl/certctl/fsm/fsmtest"
)

// TestCertificateVersion_DescribeKey: the key facts of a version, weak for
// RSA under 2048 bits, ECDSA under P-256 and SHA-1 signatures.
func TestCertificateVersion_DescribeKey(t *testing.T) {
	rsa1024, err := rsa.GenerateKey(rand.Reader, 1024)
	require.NoError(t, err)
	rsa2048, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	p224, err := ecdsa.GenerateKey(elliptic.P224(), rand.Reader)
	require.NoError(t, err)
	p256, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	cases := []struct {
		name string
		key  crypto.Signer
		sig  x509.SignatureAlgorithm
		algo string
		weak bool
	}{
		{"RSA-2048", rsa2048, x509.SHA256WithRSA, "RSA-2048", false},
		{"RSA-1024", rsa1024, x509.SHA256WithRSA, "RSA-1024", true},
		{"SHA-1", rsa2048, x509.SHA1WithRSA, "RSA-2048", true},
		{"P-256", p256, x509.ECDSAWithSHA256, "ECDSA-P256", false},
		{"P-224", p224, x509.ECDSAWithSHA256, "ECDSA-P224", true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "a.example.com"},
				NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour), SignatureAlgorithm: tc.sig}
			der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, tc.key.Public(), tc.key)
			if tc.sig == x509.SHA1WithRSA && err != nil {
				t.Fatalf("this Go refuses to sign with SHA-1: %v", err)
			}
			require.NoError(t, err)
			v := fsm.CertificateVersion{PEMChain: string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))}
			v.DescribeKey()
			assert.Equal(t, tc.algo, v.KeyAlgorithm)
			assert.Equal(t, tc.weak, v.WeakKey)
			assert.Equal(t, tc.sig.String(), v.SignatureAlgorithm)
		})
	}
	v := fsm.CertificateVersion{PEMChain: "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"}
	v.DescribeKey()
	assert.Equal(t, fsm.CertificateVersion{PEMChain: v.PEMChain}, v, "an unreadable chain has no facts")
}

// TestFSM_HeartbeatHostFacts: a beat's OS, architecture and IP address land
// on the agent; a beat without them (every entry written before they
// existed) keeps what it has.
func TestFSM_HeartbeatHostFacts(t *testing.T) {
	f := fsmtest.Open(t)
	l := fsmtest.NewLog(t, f)
	fsmtest.Seed(l)
	l.Must(&fsm.RecordHeartbeats{Beats: []fsm.Heartbeat{{AgentID: fsmtest.AgentID, At: l.Now, OS: "linux", Architecture: "arm64", IPAddress: "10.0.0.7"}}})
	// A beat without them encodes as older releases wrote it.
	old := &fsm.RecordHeartbeats{Beats: []fsm.Heartbeat{{AgentID: fsmtest.AgentID, At: l.Now.Add(time.Second), Version: "1.2"}}}
	require.NotContains(t, string(fsmtest.Encode(t, l.Meta(), old)), "architecture")
	l.Must(old)
	a, err := f.Agent(fsmtest.AgentID)
	require.NoError(t, err)
	assert.Equal(t, []string{"linux", "arm64", "10.0.0.7", "1.2"}, []string{a.OS, a.Architecture, a.IPAddress, a.Version})
	assert.Error(t, fsm.CheckHeartbeat(&fsm.Heartbeat{OS: "bad\u202e"}), "the API refuses the beat before batching it")
}
