package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/certctl/certctl/api/client/clienttest"
)

// complete is what check needs besides the server.
var complete = []string{"-agent-id", "ag-1", "-api-key", "k"}

func TestConfig_PlainHTTPToAnotherHostRefused(t *testing.T) {
	cfg, _, err := loadConfig(append([]string{"-server", "https://10.0.0.9:8443,http://10.0.0.1:8443"}, complete...), env(nil), &bytes.Buffer{})
	require.NoError(t, err)
	assert.False(t, bool(cfg.InsecureHTTP), "off by default")
	_, err = cfg.check()
	require.Error(t, err)
	for _, want := range []string{"server_url", "http://10.0.0.1:8443", "https://", "ca_bundle", "certctl ca bundle", "insecure_http: true", "CERTCTL_INSECURE_HTTP"} {
		assert.Contains(t, err.Error(), want)
	}

	// The README's agent against make run: plain HTTP on loopback, no flag.
	for _, server := range []string{"http://127.0.0.1:8443", "http://localhost:8443", "https://10.0.0.1:8443"} {
		cfg, _, err := loadConfig(append([]string{"-server", server}, complete...), env(nil), &bytes.Buffer{})
		require.NoError(t, err)
		_, err = cfg.check()
		assert.NoError(t, err, server)
	}
	cfg, _, err = loadConfig(complete, env(nil), &bytes.Buffer{})
	require.NoError(t, err)
	_, err = cfg.check()
	assert.NoError(t, err, "the default server, a --dev node on this host")
}

func TestConfig_InsecureHTTPFromEverySource(t *testing.T) {
	file := filepath.Join(t.TempDir(), "agent.yaml")
	require.NoError(t, os.WriteFile(file, []byte("server_url: http://10.0.0.1:8443\ninsecure_http: true\n"), 0o600))
	for name, tc := range map[string]struct {
		args []string
		env  map[string]string
		want bool
	}{
		"file":              {[]string{"-config", file}, nil, true},
		"environment":       {[]string{"-server", "http://10.0.0.1:8443"}, map[string]string{"CERTCTL_INSECURE_HTTP": "true"}, true},
		"flag":              {[]string{"-server", "http://10.0.0.1:8443", "-insecure-http"}, nil, true},
		"flag beats env":    {[]string{"-server", "http://10.0.0.1:8443", "-insecure-http=false"}, map[string]string{"CERTCTL_INSECURE_HTTP": "true"}, false},
		"env beats file":    {[]string{"-config", file}, map[string]string{"CERTCTL_INSECURE_HTTP": "false"}, false},
		"unset in the file": {[]string{"-server", "http://10.0.0.1:8443"}, nil, false},
	} {
		cfg, _, err := loadConfig(append(tc.args, complete...), env(tc.env), &bytes.Buffer{})
		require.NoError(t, err, name)
		assert.Equal(t, tc.want, bool(cfg.InsecureHTTP), name)
		_, err = cfg.check()
		assert.Equal(t, tc.want, err == nil, "%s: %v", name, err)
	}

	_, _, err := loadConfig(nil, env(map[string]string{"CERTCTL_INSECURE_HTTP": "maybe"}), &bytes.Buffer{})
	assert.ErrorContains(t, err, `CERTCTL_INSECURE_HTTP "maybe" must be true or false`)
	require.NoError(t, os.WriteFile(file, []byte("insecure_http: maybe\n"), 0o600))
	_, _, err = loadConfig([]string{"-config", file}, env(nil), &bytes.Buffer{})
	assert.ErrorContains(t, err, "maybe")
}

// TestRun_InsecureHTTP: refused at start without insecure_http (exit 2,
// nothing sent), and with it a warning at start.
func TestRun_InsecureHTTP(t *testing.T) {
	args := append([]string{"-server", "http://192.0.2.10:8443", "-key-dir", filepath.Join(t.TempDir(), "keys")}, complete...)
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), args, env(nil), 1000, &stdout, &stderr)
	assert.Equal(t, exitConfig, code)
	assert.Contains(t, stderr.String(), "insecure_http: true")

	// A cancelled context: the agent starts and stops at once, sending nothing.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	stderr.Reset()
	code = run(ctx, append(args, "-insecure-http"), env(nil), 1000, &stdout, &stderr)
	assert.Equal(t, 0, code, stderr.String())
	assert.Regexp(t, `level=WARN msg="insecure_http is set: http:// servers of other hosts are allowed.*server_url=http://192.0.2.10:8443`, stderr.String())
}

// TestHTTPClient_TrustsOnlyTheCABundle: with ca_bundle a server of another
// CA is refused at the handshake.
func TestHTTPClient_TrustsOnlyTheCABundle(t *testing.T) {
	ours := clienttest.NewCA(t, "cluster CA")
	theirs := clienttest.NewCA(t, "another CA")
	ok := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok") })
	good := clienttest.NewTLSServer(t, ours, ok)
	bad := clienttest.NewTLSServer(t, theirs, ok)

	hc, err := httpClient(ours.WriteFile(t))
	require.NoError(t, err)
	resp, err := hc.Get(good.URL)
	require.NoError(t, err)
	resp.Body.Close()
	_, err = hc.Get(bad.URL)
	assert.ErrorContains(t, err, "x509: certificate signed by unknown authority")
}
