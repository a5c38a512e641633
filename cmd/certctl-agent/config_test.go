package main

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/pem"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/certctl/certctl/connectors/target"
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
	code := run(context.Background(), []string{"-agent-id", "ag-1"}, env(nil), 1000, &stdout, &stderr)
	assert.Equal(t, exitConfig, code)
	assert.Contains(t, stderr.String(), "no API key")

	stderr.Reset()
	code = run(context.Background(), []string{"-version"}, env(nil), 1000, &stdout, &stderr)
	assert.Equal(t, 0, code)
	assert.True(t, strings.HasPrefix(stdout.String(), "certctl-agent "))

	stderr.Reset()
	code = run(context.Background(), []string{"-agent-id", "../x", "-api-key", "k", "-key-dir", t.TempDir()}, env(nil), 1000, &stdout, &stderr)
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
		_, err := r.Get(strings.ToLower(string(typ)))
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

// fullConfig is a configuration that passes check, for the checks after it.
func fullConfig(t *testing.T, extra ...string) []string {
	keyFile := filepath.Join(t.TempDir(), "agent.key")
	require.NoError(t, os.WriteFile(keyFile, []byte("k\n"), 0o600))
	dir := t.TempDir()
	return append([]string{"-server", "http://127.0.0.1:1", "-agent-id", "ag-1", "-api-key-file", keyFile,
		"-key-dir", filepath.Join(dir, "keys"), "-state-dir", filepath.Join(dir, "state")}, extra...)
}

// TestPrivileges_RootNeedsAllowLists: as root (euid 0), an agent with
// neither allowed_dirs nor allowed_commands is refused, saying what to
// set; with either list, or as another user, it is not.
func TestPrivileges_RootNeedsAllowLists(t *testing.T) {
	for _, tc := range []struct {
		euid     int
		dirs     stringList
		commands stringList
		refused  bool
	}{
		{0, nil, nil, true},
		{0, stringList{}, stringList{}, true},
		{0, stringList{"/etc/nginx/certs"}, nil, false},
		{0, nil, stringList{"/usr/sbin/nginx -s reload"}, false},
		{0, stringList{"/etc/nginx/certs"}, stringList{"/usr/sbin/nginx -t"}, false},
		{1000, nil, nil, false},
		{998, nil, nil, false},
	} {
		s := settled{agentConfig: agentConfig{AllowedDirs: tc.dirs, AllowedCommands: tc.commands}}
		err := s.checkPrivileges(tc.euid)
		if !tc.refused {
			assert.NoError(t, err, "%+v", tc)
			continue
		}
		require.Error(t, err, "%+v", tc)
		for _, want := range []string{"root (euid 0)", "allowed_dirs", "allowed_commands", "/etc/certctl/agent.yaml", "unprivileged user"} {
			assert.Contains(t, err.Error(), want)
		}
	}
}

// TestRun_RootWithoutAllowListsExits2: the refusal stops the agent before
// it starts, with the configuration's exit status and the message; with
// allow-lists the same root agent gets past the check (and stops later, on
// the cluster it cannot reach, once its context ends).
func TestRun_RootWithoutAllowListsExits2(t *testing.T) {
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), fullConfig(t), env(nil), 0, &stdout, &stderr)
	assert.Equal(t, exitConfig, code)
	assert.Contains(t, stderr.String(), "runs as root (euid 0) without allow-lists: set allowed_dirs")

	stderr.Reset()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	code = run(ctx, fullConfig(t, "-allowed-dirs", "/etc/nginx/certs"), env(nil), 0, &stdout, &stderr)
	assert.Equal(t, 0, code, stderr.String())
	assert.NotContains(t, stderr.String(), "without allow-lists")
	assert.Contains(t, stderr.String(), "allowed_dirs=/etc/nginx/certs", "the limits are logged at start")
	assert.Contains(t, stderr.String(), `allowed_commands="none: no command"`)
}

// TestConfig_AllowListsChecked: a line of allowed_commands that is not a
// command line, or has an unknown placeholder, and a relative allowed_dirs
// stop the agent with the key to fix.
func TestConfig_AllowListsChecked(t *testing.T) {
	file := filepath.Join(t.TempDir(), "agent.yaml")
	require.NoError(t, os.WriteFile(file, []byte(`
allowed_commands:
  - /usr/sbin/nginx -t
  - /usr/bin/openssl x509 -in {cert_path}, -noout
`), 0o600))
	cfg, _, err := loadConfig(fullConfig(t, "-config", file), env(nil), &bytes.Buffer{})
	require.NoError(t, err)
	assert.Equal(t, stringList{"/usr/sbin/nginx -t", "/usr/bin/openssl x509 -in {cert_path}, -noout"}, cfg.AllowedCommands,
		"a YAML list keeps a line with a comma whole")
	_, err = cfg.check()
	require.NoError(t, err)

	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-allowed-commands", "/usr/sbin/nginx -c {config}"}, `allowed_commands: "/usr/sbin/nginx -c {config}": {config} is not a placeholder`},
		{[]string{"-allowed-commands", "/usr/sbin/nginx -s reload; reboot"}, "allowed_commands: "},
		{[]string{"-allowed-dirs", "etc/nginx"}, `allowed_dirs: "etc/nginx" must be an absolute directory`},
		{[]string{"-allowed-dirs", "/etc/nginx/../shadow"}, "allowed_dirs"},
	} {
		var stdout, stderr bytes.Buffer
		code := run(context.Background(), fullConfig(t, tc.args...), env(nil), 1000, &stdout, &stderr)
		assert.Equal(t, exitConfig, code, "%v", tc.args)
		assert.Contains(t, stderr.String(), tc.want, "%v", tc.args)
	}
}

// TestConfig_PackagedExamples: each commented example of the packaged
// agent.yaml (NGINX, Apache, HAProxy) loads once uncommented, and its lists
// let the agent's connector of that server deploy a target with the
// example's paths and the commands Debian's package needs, and refuse the
// same target with another path or command.
func TestConfig_PackagedExamples(t *testing.T) {
	examples := packagedExamples(t)
	for _, tc := range []struct {
		name, typ string
		config    map[string]string
		defaults  map[string]string // binary: the kind's default commands need it in PATH
	}{
		{"NGINX", "NGINX", map[string]string{"cert_path": "/etc/nginx/certs/www.crt", "key_path": "/etc/nginx/certs/www.key",
			"validate_command": "/usr/sbin/nginx -t", "reload_command": "systemctl reload nginx"}, map[string]string{"nginx": "/usr/sbin/nginx"}},
		{"Apache", "Apache", map[string]string{"cert_path": "/etc/apache2/certs/www.crt", "key_path": "/etc/apache2/certs/www.key",
			"validate_command": "/usr/sbin/apachectl configtest", "reload_command": "/usr/sbin/apachectl graceful"}, map[string]string{"apachectl": "/usr/sbin/apachectl"}},
		{"HAProxy", "HAProxy", map[string]string{"pem_path": "/etc/haproxy/certs/www.pem",
			"validate_command": "/usr/sbin/haproxy -c -f /etc/haproxy/haproxy.cfg", "reload_command": "/usr/bin/systemctl reload haproxy"},
			map[string]string{"haproxy": "/usr/sbin/haproxy", "systemctl": "/usr/bin/systemctl"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			example, ok := examples[tc.name]
			require.True(t, ok, "agent.yaml has an example for %s", tc.name)
			file := filepath.Join(t.TempDir(), "agent.yaml")
			require.NoError(t, os.WriteFile(file, []byte(example), 0o600))
			cfg, _, err := loadConfig(fullConfig(t, "-config", file), env(nil), &bytes.Buffer{})
			require.NoError(t, err, example)
			s, err := cfg.check()
			require.NoError(t, err, example)
			require.NoError(t, s.checkPrivileges(0), "enough to run as root")
			r, err := newTargets(s)
			require.NoError(t, err)
			conn, err := r.Get(tc.typ)
			require.NoError(t, err)
			ctx := context.Background()

			assert.NoError(t, conn.ValidateConfig(ctx, jsonConfig(t, tc.config)), "the example's target")
			// The kinds' default commands, by bare name, where this host
			// resolves them as Debian does.
			defaults := map[string]string{}
			for k, v := range tc.config {
				if k != "validate_command" && k != "reload_command" {
					defaults[k] = v
				}
			}
			resolvable := true
			for bin, want := range tc.defaults {
				if p, err := exec.LookPath(bin); err != nil || p != want {
					resolvable = false
				}
			}
			if resolvable {
				assert.NoError(t, conn.ValidateConfig(ctx, jsonConfig(t, defaults)), "the kind's default commands")
			}

			for field, value := range map[string]string{"validate_command": tc.config["validate_command"] + " -q",
				"reload_command": "/usr/bin/systemctl stop " + strings.ToLower(tc.name)} {
				err := conn.ValidateConfig(ctx, jsonConfig(t, with(tc.config, field, value)))
				assert.ErrorIs(t, err, target.ErrNotAllowed, "%s %q", field, value)
			}
			pathField := "cert_path"
			if _, ok := tc.config["pem_path"]; ok {
				pathField = "pem_path"
			}
			err = conn.ValidateConfig(ctx, jsonConfig(t, with(tc.config, pathField, "/etc/cron.d/www.crt")))
			assert.ErrorIs(t, err, target.ErrNotAllowed)
		})
	}
}

// packagedExamples are the commented examples of packaging/etc/agent.yaml,
// uncommented, by the server named on the comment that opens each: the
// "#allowed_dirs:" line, and the "#allowed_commands:" block after it.
func packagedExamples(t *testing.T) map[string]string {
	raw, err := os.ReadFile("../../packaging/etc/agent.yaml")
	require.NoError(t, err)
	out := map[string]string{}
	var name string
	var block []string
	lines := strings.Split(string(raw), "\n")
	for i, line := range lines {
		switch {
		case strings.HasPrefix(line, "# NGINX ("), strings.HasPrefix(line, "# Apache httpd ("), strings.HasPrefix(line, "# HAProxy ("):
			name = strings.Fields(line)[1]
		case name != "" && (strings.HasPrefix(line, "#allowed_") || strings.HasPrefix(line, "#  - ")):
			block = append(block, line[1:])
			if i+1 == len(lines) || !(strings.HasPrefix(lines[i+1], "#allowed_") || strings.HasPrefix(lines[i+1], "#  - ")) {
				out[name] = strings.Join(block, "\n") + "\n"
				name, block = "", nil
			}
		}
	}
	return out
}

func jsonConfig(t *testing.T, m map[string]string) json.RawMessage {
	t.Helper()
	raw, err := json.Marshal(m)
	require.NoError(t, err)
	return raw
}

func with(m map[string]string, k, v string) map[string]string {
	out := map[string]string{k: v}
	for key, val := range m {
		if key != k {
			out[key] = val
		}
	}
	return out
}
