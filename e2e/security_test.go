package e2e

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
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
