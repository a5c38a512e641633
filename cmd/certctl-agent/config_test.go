package main

import (
	"bytes"
	"context"
	"encoding/pem"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/certctl/certctl/fsm"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

// TestConfig_FlagBeatsEnvBeatsFile: each key from its three sources, in
// that order, with the original agent's names.
func TestConfig_FlagBeatsEnvBeatsFile(t *testing.T) {
	file := filepath.Join(t.TempDir(), "agent.yaml")
	require.NoError(t, os.WriteFile(file, []byte(`
insecure_http: true
server_url: [http://10.0.0.1:8443, http://10.0.0.2:8443]
api_key: from-file
agent_id: ag-file
key_dir: /srv/keys
poll_interval: 45s
allowed_commands: /usr/sbin/nginx, /usr/sbin/apachectl
`), 0o600))
	cfg, _, err := loadConfig([]string{"-config", file, "--agent-id", "ag-flag"},
		env(map[string]string{"CERTCTL_AGENT_ID": "ag-env", "CERTCTL_API_KEY": "from-env", "CERTCTL_KEY_DIR": ""}), &bytes.Buffer{})
	require.NoError(t, err)
	assert.Equal(t, "ag-flag", cfg.AgentID, "flag over env")
	assert.Equal(t, "from-env", cfg.APIKey, "env over file")
	assert.Equal(t, "/srv/keys", cfg.KeyDir, "file over default; an empty variable is unset")
	assert.Equal(t, stringList{"http://10.0.0.1:8443", "http://10.0.0.2:8443"}, cfg.ServerURL)
	assert.Equal(t, stringList{"/usr/sbin/nginx", "/usr/sbin/apachectl"}, cfg.AllowedCommands, "a comma-separated string is a list too")
	s, err := cfg.check()
	require.NoError(t, err)
	assert.Equal(t, 45*time.Second, s.poll)
	assert.Equal(t, 60*time.Second, s.heartbeat)
	assert.Equal(t, "/srv/state", s.StateDir, "next to the key dir by default")

	cfg, _, err = loadConfig([]string{"-server", "http://a:1,http://b:2", "-server", "http://c:3"},
		env(map[string]string{"CERTCTL_SERVER_URL": "http://env:1"}), &bytes.Buffer{})
	require.NoError(t, err)
	assert.Equal(t, stringList{"http://a:1", "http://b:2", "http://c:3"}, cfg.ServerURL)
	assert.Equal(t, "/var/lib/certctl/keys", cfg.KeyDir, "the original agent's default")
}

// TestConfig_MistakesNamed: each mistake is reported with the key to fix.
func TestConfig_MistakesNamed(t *testing.T) {
	file := filepath.Join(t.TempDir(), "agent.yaml")
	require.NoError(t, os.WriteFile(file, []byte("server: http://x\n"), 0o600))
	_, _, err := loadConfig([]string{"-config", file}, env(nil), &bytes.Buffer{})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "field server not found")

	cfg, _, err := loadConfig([]string{"-poll-interval", "soon"}, env(nil), &bytes.Buffer{})
	require.NoError(t, err)
	_, err = cfg.check()
	require.Error(t, err)
	for _, want := range []string{"agent_id", "api_key", "poll_interval \"soon\""} {
		assert.Contains(t, err.Error(), want)
	}

	_, _, err = loadConfig([]string{"extra"}, env(nil), &bytes.Buffer{})
	require.Error(t, err)
}

// TestRun_ExitStatuses: a configuration to fix exits 2 and says what.
func TestRun_ExitStatuses(t *testing.T) {
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), []string{"-agent-id", "ag-1"}, env(nil), &stdout, &stderr)
	assert.Equal(t, exitConfig, code)
	assert.Contains(t, stderr.String(), "no API key")

	stderr.Reset()
	code = run(context.Background(), []string{"-version"}, env(nil), &stdout, &stderr)
	assert.Equal(t, 0, code)
	assert.True(t, strings.HasPrefix(stdout.String(), "certctl-agent "))

	stderr.Reset()
	code = run(context.Background(), []string{"-agent-id", "../x", "-api-key", "k", "-key-dir", t.TempDir()}, env(nil), &stdout, &stderr)
	assert.Equal(t, exitConfig, code)
	assert.Contains(t, stderr.String(), "agent_id")
}

// TestConfig_PackagedFileLoads: the commented config the package installs
// is one the agent reads, with the package's directories.
func TestConfig_PackagedFileLoads(t *testing.T) {
	cfg, _, err := loadConfig([]string{"-config", "../../packaging/etc/agent.yaml"}, env(nil), &bytes.Buffer{})
	require.NoError(t, err)
	assert.Equal(t, "/var/lib/certctl-agent/keys", cfg.KeyDir)
	assert.Equal(t, "/var/lib/certctl-agent/state", cfg.StateDir)
}

// TestTargets_EveryTypeTheClusterKnows: each target type the API accepts
// has a connector in the agent.
func TestTargets_EveryTypeTheClusterKnows(t *testing.T) {
	r, err := newTargets(settled{agentConfig: agentConfig{KeyDir: "/k"}})
	require.NoError(t, err)
	for _, typ := range fsm.TargetTypes {
		_, err := r.Get(strings.ToLower(typ))
		assert.NoError(t, err, typ)
	}
}

// TestHTTPClient_TrustsTheCABundle: with ca_bundle the agent reaches an
// HTTPS cluster whose certificate that bundle signs, and without it not.
func TestHTTPClient_TrustsTheCABundle(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok") }))
	defer srv.Close()
	bundle := filepath.Join(t.TempDir(), "ca.pem")
	require.NoError(t, os.WriteFile(bundle, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o644))

	hc, err := httpClient(bundle)
	require.NoError(t, err)
	resp, err := hc.Get(srv.URL)
	require.NoError(t, err)
	resp.Body.Close()

	hc, err = httpClient("")
	require.NoError(t, err)
	_, err = hc.Get(srv.URL)
	require.Error(t, err, "the system's CAs do not sign a test server")

	empty := filepath.Join(t.TempDir(), "empty.pem")
	require.NoError(t, os.WriteFile(empty, []byte("not a certificate"), 0o644))
	_, err = httpClient(empty)
	require.ErrorContains(t, err, "holds no PEM certificate")
}
