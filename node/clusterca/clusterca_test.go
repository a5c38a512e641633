package clusterca_test

import (
	"crypto/x509"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/certctl/certctl/node/clusterca"
)

func newNodeCert(t *testing.T, ca *clusterca.CA, id string, hosts ...string) *x509.Certificate {
	t.Helper()
	key, err := clusterca.NewNodeKey()
	require.NoError(t, err)
	csr, err := clusterca.NodeCSR(key, id)
	require.NoError(t, err)
	cert, err := ca.SignNode(csr, id, hosts, time.Now())
	require.NoError(t, err)
	return cert
}

func TestCA_SignsNodeCertificatesThatNameTheirNode(t *testing.T) {
	ca, keyPEM, err := clusterca.New("c1", time.Now())
	require.NoError(t, err)
	assert.True(t, ca.Cert.IsCA)
	assert.True(t, ca.Cert.MaxPathLenZero, "the cluster CA signs nodes only, never another CA")

	again, err := clusterca.Parse(ca.CertPEM(), keyPEM)
	require.NoError(t, err)
	assert.Equal(t, ca.Fingerprint(), again.Fingerprint())
	other, otherKey, err := clusterca.New("c2", time.Now())
	require.NoError(t, err)
	_, err = clusterca.Parse(ca.CertPEM(), otherKey)
	require.ErrorContains(t, err, "does not match")

	cert := newNodeCert(t, again, "n-1.a_b", "10.0.0.1", "node1.example.org", "10.0.0.1")
	id, ok := clusterca.NodeID(cert)
	require.True(t, ok)
	assert.Equal(t, "n-1.a_b", id)
	assert.Len(t, cert.IPAddresses, 1, "hosts are deduplicated")
	assert.Contains(t, cert.DNSNames, clusterca.ServerName)
	assert.Contains(t, cert.DNSNames, "node1.example.org")
	assert.ElementsMatch(t, []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}, cert.ExtKeyUsage)
	assert.WithinDuration(t, time.Now().Add(clusterca.NodeLifetime), cert.NotAfter, time.Minute)
	assert.Zero(t, len(clusterca.Serial(cert))%2, "serials are whole bytes of hex")

	got, err := ca.VerifyNode([]*x509.Certificate{cert}, time.Now())
	require.NoError(t, err)
	assert.Equal(t, "n-1.a_b", got)
	_, err = other.VerifyNode([]*x509.Certificate{cert}, time.Now())
	var pe *clusterca.PeerError
	require.ErrorAs(t, err, &pe)
	assert.True(t, pe.ForeignCA)
	_, err = ca.VerifyNode([]*x509.Certificate{cert}, cert.NotAfter.Add(time.Hour))
	require.Error(t, err, "an expired node certificate is refused")
	_, err = ca.VerifyNode(nil, time.Now())
	require.ErrorContains(t, err, "no certificate")

	// A key-less CA (what a node holds) cannot sign.
	pub, err := clusterca.Parse(ca.CertPEM(), nil)
	require.NoError(t, err)
	key, _ := clusterca.NewNodeKey()
	csr, _ := clusterca.NodeCSR(key, "x")
	_, err = pub.SignNode(csr, "x", nil, time.Now())
	require.ErrorContains(t, err, "cannot sign")
}

func TestJoinToken_RoundTripAndRefusals(t *testing.T) {
	fp := strings.Repeat("ab", 32)
	tok, err := clusterca.NewJoinToken(fp)
	require.NoError(t, err)
	back, err := clusterca.ParseJoinToken(" " + tok.String() + "\n")
	require.NoError(t, err)
	assert.Equal(t, tok, back)
	assert.Len(t, tok.SecretHash(), 64)
	other, _ := clusterca.NewJoinToken(fp)
	assert.NotEqual(t, tok.Secret, other.Secret)
	assert.NotEqual(t, tok.ID, other.ID)

	for name, s := range map[string]string{
		"empty":            "",
		"one character":    "x",
		"old shared token": "e2e-join-token-0123456789abcdef",
		"short secret":     "cjt1.jt-1.c2hvcnQ." + fp,
		"no fingerprint":   "cjt1." + tok.ID + "." + tok.Secret + ".",
		"bad fingerprint":  "cjt1." + tok.ID + "." + tok.Secret + "." + strings.Repeat("zz", 32),
		"other version":    strings.Replace(tok.String(), "cjt1", "cjt9", 1),
	} {
		_, err := clusterca.ParseJoinToken(s)
		assert.ErrorIs(t, err, clusterca.ErrMalformedJoinToken, name)
	}
}

// Every node derives the same CA from the same seed and cluster id, and a
// node certificate it signs verifies; another seed or cluster, another CA.
func TestDerive_SameCAOnEveryNode(t *testing.T) {
	seed := []byte(strings.Repeat("s", 32))
	a, keyA, err := clusterca.Derive("c1", seed)
	require.NoError(t, err)
	b, keyB, err := clusterca.Derive("c1", append([]byte{}, seed...))
	require.NoError(t, err)
	assert.Equal(t, a.Cert.Raw, b.Cert.Raw, "byte for byte")
	assert.Equal(t, keyA, keyB)
	other, _, err := clusterca.Derive("c2", seed)
	require.NoError(t, err)
	assert.NotEqual(t, a.Fingerprint(), other.Fingerprint())
	otherSeed, _, err := clusterca.Derive("c1", []byte(strings.Repeat("t", 32)))
	require.NoError(t, err)
	assert.NotEqual(t, a.Fingerprint(), otherSeed.Fingerprint())

	cert := newNodeCert(t, a, "n1", "127.0.0.1")
	id, err := b.VerifyNode([]*x509.Certificate{cert}, time.Now())
	require.NoError(t, err)
	assert.Equal(t, "n1", id)
	_, _, err = clusterca.Derive("c1", seed[:16])
	require.Error(t, err)
}
