package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/certctl/certctl/api/client"
	"github.com/certctl/certctl/api/client/clienttest"
)

const clusterJSON = `{"cluster_id":"c-1","node_id":"n1","members":[]}`

// tlsAPI is an HTTPS server of a test CA answering the cluster status and
// the CA bundle, recording the paths it was asked.
type tlsAPI struct {
	url    string
	mu     sync.Mutex
	paths  []string
	bundle []byte
}

func newTLSAPI(t *testing.T, ca *clienttest.CA, bundle []byte) *tlsAPI {
	a := &tlsAPI{bundle: bundle}
	srv := clienttest.NewTLSServer(t, ca, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a.mu.Lock()
		a.paths = append(a.paths, r.URL.Path+" auth="+r.Header.Get("Authorization"))
		a.mu.Unlock()
		switch r.URL.Path {
		case "/.well-known/pki/cluster-ca":
			w.Header().Set("Content-Type", "application/x-pem-file")
			_, _ = w.Write(a.bundle)
		case "/api/v1/cluster":
			w.Header().Set("Content-Type", "application/json")
			_, _ = io.WriteString(w, clusterJSON)
		default:
			http.NotFound(w, r)
		}
	}))
	a.url = srv.URL
	return a
}

func (a *tlsAPI) requests() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]string(nil), a.paths...)
}

// runCLIContext runs the CLI with ctx, no server preset.
func runCLIContext(t *testing.T, ctx context.Context, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errOut bytes.Buffer
	root := newRootCommand()
	root.SetArgs(args)
	root.SetOut(&out)
	root.SetErr(&errOut)
	root.SetIn(strings.NewReader(""))
	err = root.ExecuteContext(ctx)
	return out.String(), errOut.String(), err
}

func TestCLI_PlainHTTPToAnotherHostRefused(t *testing.T) {
	_, _, err := runCLI(t, nil, "--server", "http://192.0.2.10:8443", "status")
	require.Error(t, err)
	assert.True(t, isUsage(err), "%v is a usage error", err)
	assert.ErrorIs(t, err, client.ErrInsecureHTTP)
	for _, hint := range []string{"http://192.0.2.10:8443", "https://", "--ca-file", "certctl ca bundle", "--insecure-http", "CERTCTL_INSECURE_HTTP=true"} {
		assert.Contains(t, err.Error(), hint)
	}

	t.Setenv("CERTCTL_SERVER_URL", "")
	t.Setenv("CERTCTL_API_KEY", "")
	t.Setenv("CERTCTL_CA_FILE", "")
	// Told explicitly, it goes ahead (and stops at the cancelled context,
	// before any packet leaves), warning that the key travels in clear.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for _, tc := range []struct {
		env  string
		args []string
	}{
		{"", []string{"--insecure-http", "--server", "http://192.0.2.10:8443", "status"}},
		{"true", []string{"--server", "http://192.0.2.10:8443", "status"}},
	} {
		t.Setenv("CERTCTL_INSECURE_HTTP", tc.env)
		_, errOut, err := runCLIContext(t, ctx, tc.args...)
		require.Error(t, err)
		assert.False(t, isUsage(err), "%v", err)
		assert.ErrorIs(t, err, context.Canceled)
		assert.Contains(t, errOut, "warning: --insecure-http: the API key and the answers of http://192.0.2.10:8443 cross the network in clear")
	}
	t.Setenv("CERTCTL_INSECURE_HTTP", "maybe")
	_, _, err = runCLIContext(t, ctx, "--server", "http://192.0.2.10:8443", "status")
	assert.True(t, isUsage(err))
	assert.ErrorContains(t, err, `CERTCTL_INSECURE_HTTP "maybe" must be true or false`)
}

// TestCLI_PlainHTTPOnLoopback: a --dev node (make run) answers on
// http://127.0.0.1:8443, the default, with no flag.
func TestCLI_PlainHTTPOnLoopback(t *testing.T) {
	assert.NoError(t, client.Config{Servers: []string{defaultServerURL}}.Validate())
	api := newFakeAPI(t) // plain HTTP on 127.0.0.1
	api.on("GET /api/v1/cluster", 200, clusterJSON)
	_, errOut, err := runCLI(t, api, "status")
	require.NoError(t, err)
	assert.Empty(t, errOut)
}

func TestCLI_CAFileTrustsOnlyIt(t *testing.T) {
	ours := clienttest.NewCA(t, "cluster CA")
	theirs := clienttest.NewCA(t, "another CA")
	good := newTLSAPI(t, ours, ours.PEM)
	bad := newTLSAPI(t, theirs, theirs.PEM)
	caFile := ours.WriteFile(t)

	out, _, err := runCLI(t, nil, "--server", good.url, "--ca-file", caFile, "status")
	require.NoError(t, err)
	assert.Regexp(t, `(?m)^Cluster:\s+c-1$`, out)

	_, _, err = runCLI(t, nil, "--server", bad.url, "--ca-file", caFile, "status")
	require.Error(t, err)
	assert.False(t, isUsage(err))
	assert.ErrorIs(t, err, client.ErrUntrustedServer)
	assert.Contains(t, err.Error(), "x509: certificate signed by unknown authority")
	assert.Contains(t, err.Error(), "(give the cluster CA with --ca-file")
	assert.Empty(t, bad.requests(), "no request, so no API key, reaches an untrusted server")

	_, _, err = runCLI(t, nil, "--server", good.url, "status")
	assert.ErrorIs(t, err, client.ErrUntrustedServer, "without --ca-file only the system's CAs are trusted")

	// The environment names the file too.
	root := newRootCommand()
	root.SetArgs([]string{"--server", good.url, "status"})
	root.SetOut(io.Discard)
	t.Setenv("CERTCTL_CA_FILE", caFile)
	require.NoError(t, root.Execute())

	notPEM := filepath.Join(t.TempDir(), "ca.pem")
	require.NoError(t, os.WriteFile(notPEM, []byte("not a certificate"), 0o644))
	_, _, err = runCLI(t, nil, "--server", good.url, "--ca-file", notPEM, "status")
	assert.True(t, isUsage(err))
	assert.ErrorContains(t, err, "--ca-file "+notPEM+": the CA bundle holds text that is not PEM")
}

func TestCLI_CABundleWithFingerprint(t *testing.T) {
	ca := clienttest.NewCA(t, "cluster CA")
	api := newTLSAPI(t, ca, ca.PEM)
	out := filepath.Join(t.TempDir(), "cluster-ca.pem")

	stdout, stderr, err := runCLI(t, nil, "--server", api.url, "--api-key", "cc_secret", "ca", "bundle", "--fingerprint", ca.Fingerprint, "--out", out)
	require.NoError(t, err)
	assert.Empty(t, stdout)
	raw, err := os.ReadFile(out)
	require.NoError(t, err)
	assert.Equal(t, ca.PEM, raw)
	fi, err := os.Stat(out)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o644), fi.Mode().Perm())
	assert.Contains(t, stderr, `CA certificate "CN=cluster CA": SHA-256 fingerprint `+ca.Fingerprint)
	for _, r := range api.requests() {
		assert.Equal(t, "/.well-known/pki/cluster-ca auth=", r, "no API key before the server is trusted")
	}

	// The written file is then what --ca-file trusts.
	_, _, err = runCLI(t, nil, "--server", api.url, "--ca-file", out, "status")
	require.NoError(t, err)
}

func TestCLI_CABundleWrongFingerprintWritesNothing(t *testing.T) {
	ca := clienttest.NewCA(t, "cluster CA")
	other := clienttest.NewCA(t, "other CA")
	api := newTLSAPI(t, ca, ca.PEM)
	out := filepath.Join(t.TempDir(), "cluster-ca.pem")

	stdout, _, err := runCLI(t, nil, "--server", api.url, "ca", "bundle", "--fingerprint", other.Fingerprint, "--out", out)
	require.Error(t, err)
	assert.ErrorIs(t, err, client.ErrFingerprintMismatch)
	assert.Contains(t, err.Error(), "nothing was written")
	assert.Empty(t, stdout)
	_, statErr := os.Stat(out)
	assert.True(t, errors.Is(statErr, os.ErrNotExist), "no file")
	entries, err := os.ReadDir(filepath.Dir(out))
	require.NoError(t, err)
	assert.Empty(t, entries, "no temporary file left either")

	// A server relaying the right bundle behind another CA's certificate.
	mitm := newTLSAPI(t, other, ca.PEM)
	_, _, err = runCLI(t, nil, "--server", mitm.url, "ca", "bundle", "--fingerprint", ca.Fingerprint, "--out", out)
	require.Error(t, err)
	assert.ErrorIs(t, err, client.ErrUntrustedServer)
	_, statErr = os.Stat(out)
	assert.True(t, errors.Is(statErr, os.ErrNotExist))

	_, _, err = runCLI(t, nil, "--server", api.url, "ca", "bundle", "--fingerprint", "abc")
	assert.True(t, isUsage(err))
	assert.ErrorContains(t, err, "--fingerprint: fingerprint \"abc\" is not a SHA-256")
}

func TestCLI_CABundleNeedsATrustAnchor(t *testing.T) {
	ca := clienttest.NewCA(t, "cluster CA")
	api := newTLSAPI(t, ca, ca.PEM)
	_, _, err := runCLI(t, nil, "--server", api.url, "ca", "bundle")
	require.Error(t, err)
	assert.True(t, isUsage(err))
	assert.Contains(t, err.Error(), "--fingerprint SHA256")
	assert.Contains(t, err.Error(), "--ca-file FILE")
	assert.Empty(t, api.requests())

	// With --ca-file the bundle goes to stdout.
	stdout, _, err := runCLI(t, nil, "--server", api.url, "--ca-file", ca.WriteFile(t), "ca", "bundle")
	require.NoError(t, err)
	assert.Equal(t, string(ca.PEM), stdout)

	// Over plain HTTP only a fingerprint vouches for the bundle.
	plain := newFakeAPI(t)
	_, _, err = runCLI(t, plain, "--ca-file", ca.WriteFile(t), "ca", "bundle")
	assert.True(t, isUsage(err))
	assert.ErrorContains(t, err, "give --fingerprint")
	assert.Empty(t, plain.requests())
}

func TestCLI_JoinTokenCreate(t *testing.T) {
	api := newFakeAPI(t)
	const answer = `{"id":"jt-1","token":"cjt_s3cret","expires_at":"2026-02-03T05:00:00Z","uses":1,"uses_left":1,` +
		`"created_at":"2026-02-03T04:00:00Z","created_by":"admin"}`
	api.on("POST /api/v1/cluster/join-tokens", 201, answer)

	out, errOut, err := runCLI(t, api, "operator", "join-token", "create")
	require.NoError(t, err)
	assert.Equal(t, 1, strings.Count(out, "cjt_s3cret"), "the token is printed once")
	assert.Regexp(t, `(?m)^Join token:\s+cjt_s3cret$`, out)
	assert.Regexp(t, `(?m)^ID:\s+jt-1$`, out)
	assert.Regexp(t, `(?m)^Expires:\s+2026-02-03 05:00$`, out)
	assert.NotContains(t, errOut, "cjt_s3cret")
	assert.Contains(t, errOut, "not shown again")

	out, _, err = runCLI(t, api, "-o", "json", "operator", "join-token", "create", "--ttl", "30m", "--uses", "3")
	require.NoError(t, err)
	assert.JSONEq(t, answer, out)

	reqs := api.requests()
	require.Len(t, reqs, 2)
	assert.Equal(t, "POST", reqs[0].Method)
	assert.JSONEq(t, `{"ttl":"1h","uses":1}`, reqs[0].Body)
	assert.JSONEq(t, `{"ttl":"30m","uses":3}`, reqs[1].Body)

	for _, args := range [][]string{{"--uses", "0"}, {"--uses", "101"}, {"--ttl", "0s"}, {"--ttl", "59s"}, {"--ttl", "169h"}, {"--ttl", "soon"}} {
		_, _, err := runCLI(t, api, append([]string{"operator", "join-token", "create"}, args...)...)
		assert.True(t, isUsage(err), "%v: %v", args, err)
		assert.ErrorContains(t, err, args[0])
	}
	assert.Len(t, api.requests(), 2, "bad flags send nothing")
}

func TestCLI_JoinTokenListAndRevoke(t *testing.T) {
	api := newFakeAPI(t)
	api.on("GET /api/v1/cluster/join-tokens", 200, `{"data":[`+
		`{"id":"jt-1","expires_at":"2099-01-01T00:00:00Z","uses":2,"uses_left":1,"created_at":"2026-02-03T04:00:00Z","created_by":"admin"},`+
		`{"id":"jt-2","expires_at":"2026-01-01T00:00:00Z","uses":1,"uses_left":1,"created_at":"2025-12-31T23:00:00Z","created_by":"admin"},`+
		`{"id":"jt-3","expires_at":"2099-01-01T00:00:00Z","uses":1,"uses_left":1,"created_at":"2026-02-03T04:00:00Z","created_by":"ops",`+
		`"revoked_at":"2026-02-03T04:10:00Z"}],"total":3,"page":1,"per_page":50}`)
	api.on("DELETE /api/v1/cluster/join-tokens/jt-1", 204, "")

	out, _, err := runCLI(t, api, "operator", "join-token", "list")
	require.NoError(t, err)
	assert.Regexp(t, `(?m)^ID\s+STATE\s+USES LEFT\s+EXPIRES\s+CREATED\s+CREATED BY$`, out)
	assert.Regexp(t, `(?m)^jt-1\s+valid\s+1/2\s+2099-01-01 00:00\s+2026-02-03 04:00\s+admin$`, out)
	assert.Regexp(t, `(?m)^jt-2\s+expired\s+1/1\s+`, out)
	assert.Regexp(t, `(?m)^jt-3\s+revoked 2026-02-03 04:10\s+1/1\s+`, out)
	assert.NotContains(t, out, "token\"")

	out, _, err = runCLI(t, api, "operator", "join-token", "revoke", "jt-1")
	require.NoError(t, err)
	assert.Equal(t, "revoked join token jt-1\n", out)
	reqs := api.requests()
	assert.Equal(t, "DELETE /api/v1/cluster/join-tokens/jt-1", reqs[len(reqs)-1].Method+" "+reqs[len(reqs)-1].Path)

	_, _, err = runCLI(t, api, "operator", "join-token", "revoke")
	assert.True(t, isUsage(err))
}
