package e2e

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/certctl/certctl/api/client/clienttest"
)

// TestSecurity_SlowHeaderIsCutOff is a client that sends its request header
// one byte every two seconds, as a slowloris does: the node closes the
// connection at its header timeout (10 s) instead of holding it for minutes.
func TestSecurity_SlowHeaderIsCutOff(t *testing.T) {
	skipShort(t)
	c := NewCluster(t, certctlBin)
	c.Start(1)
	n := c.Node(0)

	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", n.APIAddr, &tls.Config{RootCAs: c.Roots(), ServerName: "127.0.0.1"})
	require.NoError(t, err)
	defer conn.Close()
	start := time.Now()
	req := []byte("GET /api/v1/certificates HTTP/1.1\r\nHost: x\r\nX-Slow: " + string(make([]byte, 64)))
	var cut error
	for i := 0; i < len(req) && time.Since(start) < 40*time.Second; i++ {
		if _, err := conn.Write(req[i : i+1]); err != nil {
			cut = err
			break
		}
		_ = conn.SetReadDeadline(time.Now().Add(2 * time.Second))
		if _, err := conn.Read(make([]byte, 1)); err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue // nothing yet: send the next byte
			}
			cut = err
			break
		}
	}
	took := time.Since(start)
	require.Error(t, cut, "the connection was never cut")
	assert.Less(t, took, 20*time.Second, "cut off at the header timeout, not later")
	t.Logf("cut off after %s: %v", took.Round(100*time.Millisecond), cut)
}

// TestSecurity_InternalRoutesTakeNodeCertificatesOnly: no API key, not even
// an admin's, and no join token opens a node-to-node route of a real node.
func TestSecurity_InternalRoutesTakeNodeCertificatesOnly(t *testing.T) {
	skipShort(t)
	c := NewCluster(t, certctlBin)
	c.Start(1)
	n := c.Node(0)
	cl := c.NewClient(2)
	defer cl.CloseIdle()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	var tok struct {
		Token string `json:"token"`
	}
	cl.APIKey = AdminKey
	_, _, err := cl.Do(ctx, http.MethodPost, n.URL()+"/api/v1/cluster/join-tokens", map[string]any{}, &tok, http.StatusCreated)
	require.NoError(t, err)
	for _, key := range []string{AdminKey, tok.Token, ""} {
		cl.APIKey = key
		for _, path := range []string{"/internal/v1/propose", "/internal/v1/add-voter"} {
			_, _, err := cl.Do(ctx, http.MethodPost, n.URL()+path, map[string]any{}, nil, http.StatusOK)
			requireStatus(t, err, http.StatusUnauthorized)
		}
	}
	// The cluster CA is public; nothing else is.
	cl.APIKey = ""
	resp, err := cl.HTTP.Get(n.URL() + "/.well-known/pki/cluster-ca")
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Contains(t, string(body), "BEGIN CERTIFICATE")
}

// TestSecurity_OperatorCertificateReloadedOnSIGHUP: a node given the site's
// own certificate (--tls-cert-file, --tls-key-file) serves it to clients,
// the node certificate to other nodes (by server name), and a renewed file
// after SIGHUP without a restart.
func TestSecurity_OperatorCertificateReloadedOnSIGHUP(t *testing.T) {
	skipShort(t)
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "api.crt"), filepath.Join(dir, "api.key")
	site := clienttest.NewCA(t, "site CA")
	pool := x509.NewCertPool()
	pool.AddCert(site.Cert)
	issueSiteCert(t, site, certFile, keyFile, "first")
	c := NewCluster(t, certctlBin, WithNodeArgs(func(string) []string {
		return []string{"--tls-cert-file", certFile, "--tls-key-file", keyFile}
	}))
	c.Roots().AddCert(site.Cert) // the harness's clients trust the site's CA, as its users do
	c.Start(1)
	n := c.Node(0)

	served := func(serverName string, roots *x509.CertPool) *x509.Certificate {
		t.Helper()
		conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", n.APIAddr, &tls.Config{RootCAs: roots, ServerName: serverName})
		require.NoError(t, err)
		defer conn.Close()
		return conn.ConnectionState().PeerCertificates[0]
	}
	assert.Equal(t, "first", served("127.0.0.1", pool).Subject.CommonName, "clients get the site's certificate")
	assert.Equal(t, n.ID, served("node.certctl.internal", c.Roots()).Subject.CommonName, "nodes get the node certificate")

	issueSiteCert(t, site, certFile, keyFile, "second")
	require.NoError(t, syscall.Kill(n.Pid(), syscall.SIGHUP))
	require.NoError(t, WaitFor(WaitTimeout, func(context.Context) error {
		if cn := served("127.0.0.1", pool).Subject.CommonName; cn != "second" {
			return errors.New("still serving " + cn)
		}
		return nil
	}))
}

// issueSiteCert writes a server certificate of the site's CA for 127.0.0.1
// named cn, and its key.
func issueSiteCert(t *testing.T, site *clienttest.CA, certFile, keyFile, cn string) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, site.Cert, key.Public(), site.Key)
	require.NoError(t, err)
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600))
	require.NoError(t, os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644))
}
