package packaging_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const confPath = "/etc/certctl/certctl.yaml"

// TestDeb_InstallRunUpgradeRemovePurge takes the certctl .deb through an
// operator's life of it: dpkg -i makes the user, the data dir and the
// config; the installed binary runs a one-node cluster as the certctl user
// from a copy of the installed config, and a certificate is created with the
// admin key; dpkg -i of the newer build keeps the certificate and the edited
// config; dpkg -r keeps data and config; dpkg --purge deletes them.
func TestDeb_InstallRunUpgradeRemovePurge(t *testing.T) {
	m := setup(t)
	m.purge(t, "certctl")
	t.Cleanup(func() { m.purge(t, "certctl") })

	var node *nodeConfig
	steps := []struct {
		name string
		run  func(t *testing.T)
	}{
		{"install", func(t *testing.T) {
			out := m.root(t, "dpkg", "-i", m.debFile(m.oldDist, "certctl", oldVersion))
			assert.Contains(t, out, "systemctl enable --now certctl", "a first install says what to do next")
			assertInstalled(t, m, oldVersion)
		}},
		{"config lists every key of certctl server", func(t *testing.T) {
			assertConfigComplete(t, m)
		}},
		{"run and create a certificate", func(t *testing.T) {
			node = newNodeConfig(t, m)
			n := startNode(t, m, node)
			api := &apiClient{base: "https://" + node.apiAddr, key: node.adminKey, cfg: node}
			for _, r := range []struct{ path, body string }{
				{"/api/v1/teams", `{"id":"t-pkg","name":"packaging"}`},
				{"/api/v1/owners", `{"id":"o-pkg","name":"packaging","email":"pkg@example.com","team_id":"t-pkg"}`},
				{"/api/v1/issuers", `{"id":"iss-pkg","name":"packaging","type":"GenericCA","config":{},"enabled":true}`},
				{"/api/v1/certificates", `{"id":"mc-pkg-1","name":"packaged","common_name":"pkg.example.com","sans":["pkg.example.com"],"environment":"production","owner_id":"o-pkg","team_id":"t-pkg","issuer_id":"iss-pkg"}`},
			} {
				status, body := api.do(t, http.MethodPost, r.path, r.body)
				require.Equal(t, http.StatusCreated, status, "POST %s: %s", r.path, body)
			}
			n.stop(t)
			// The node wrote its state as the certctl user, inside the data dir.
			files := m.root(t, "find", "/var/lib/certctl", "-mindepth", "1", "!", "-user", "certctl")
			assert.Empty(t, strings.TrimSpace(files), "files in /var/lib/certctl not owned by certctl")
			assert.NotEmpty(t, strings.TrimSpace(m.root(t, "find", "/var/lib/certctl", "-mindepth", "1")), "the node wrote its state into /var/lib/certctl")
		}},
		{"upgrade keeps the certificate and the edited config", func(t *testing.T) {
			require.NotNil(t, node, "the node ran")
			shipped := m.readRoot(t, confPath)
			edited := strings.Replace(shipped, "# /etc/certctl/certctl.yaml: the configuration of this certctl node.",
				"# /etc/certctl/certctl.yaml: the configuration of node pkg-test, edited by its operator.", 1)
			require.NotEqual(t, shipped, edited, "the first comment line of the config changed")
			m.writeRoot(t, confPath, edited)

			// As an unattended upgrade runs: a changed conffile keeps the operator's copy.
			out := m.root(t, "dpkg", "--force-confdef", "--force-confold", "-i", m.debFile(m.newDist, "certctl", newVersion))
			assert.NotContains(t, out, "systemctl enable --now", "an upgrade is not a first install")
			assertInstalled(t, m, newVersion)
			assert.Equal(t, edited, m.readRoot(t, confPath), "the upgrade kept the operator's config")
			leftovers, _ := filepath.Glob("/etc/certctl/*.dpkg-*")
			assert.Empty(t, leftovers, "no .dpkg-dist or .dpkg-new beside the config")

			n := startNode(t, m, node)
			api := &apiClient{base: "https://" + node.apiAddr, key: node.adminKey, cfg: node}
			status, body := api.do(t, http.MethodGet, "/api/v1/certificates/mc-pkg-1", "")
			require.Equal(t, http.StatusOK, status, "the certificate survived the upgrade: %s", body)
			var cert struct {
				ID         string `json:"id"`
				CommonName string `json:"common_name"`
			}
			require.NoError(t, json.Unmarshal(body, &cert))
			assert.Equal(t, "pkg.example.com", cert.CommonName)
			// The installed CLI reads it too.
			cli, err := exec.Command("/usr/bin/certctl", "--server", api.base, "--ca-file", node.caFile, "--api-key", node.adminKey, "cert", "get", "mc-pkg-1", "-o", "json").CombinedOutput()
			require.NoError(t, err, "certctl cert get: %s", cli)
			assert.Contains(t, string(cli), `"common_name": "pkg.example.com"`)
			n.stop(t)
		}},
		{"remove keeps data and config", func(t *testing.T) {
			m.root(t, "dpkg", "-r", "certctl")
			assertStatus(t, "certctl", "rc")
			assert.NoFileExists(t, "/usr/bin/certctl")
			assert.NoFileExists(t, "/usr/lib/systemd/system/certctl.service")
			assert.FileExists(t, confPath, "dpkg -r keeps the config")
			assertMode(t, m, "/var/lib/certctl", "700 certctl certctl")
			assert.NotEmpty(t, strings.TrimSpace(m.root(t, "find", "/var/lib/certctl", "-mindepth", "1")), "dpkg -r keeps the data")
			_, err := exec.Command("getent", "passwd", "certctl").Output()
			assert.NoError(t, err, "the certctl user stays")
		}},
		{"purge deletes data and config", func(t *testing.T) {
			m.root(t, "dpkg", "--purge", "certctl")
			assertStatus(t, "certctl", "un")
			assert.NoDirExists(t, "/var/lib/certctl")
			assert.NoFileExists(t, confPath)
		}},
	}
	for _, s := range steps {
		if !t.Run(s.name, s.run) {
			return // each step builds on the one before
		}
	}
}

// assertInstalled checks what an install or an upgrade to version leaves.
func assertInstalled(t *testing.T, m *machine, version string) {
	t.Helper()
	assertStatus(t, "certctl", "ii")
	got, err := exec.Command("dpkg-query", "-W", "-f=${Version}", "certctl").Output()
	require.NoError(t, err)
	assert.Equal(t, version+"-1", string(got))
	out, err := exec.Command("/usr/bin/certctl", "--version").CombinedOutput()
	require.NoError(t, err, "certctl --version: %s", out)
	assert.Equal(t, "certctl version "+version+"\n", string(out))

	passwd, err := exec.Command("getent", "passwd", "certctl").Output()
	require.NoError(t, err, "the install made the certctl user")
	f := strings.Split(strings.TrimSpace(string(passwd)), ":")
	require.Len(t, f, 7)
	assert.Equal(t, "/var/lib/certctl", f[5], "home of certctl")
	assert.Equal(t, "/usr/sbin/nologin", f[6], "shell of certctl")
	assertMode(t, m, "/var/lib/certctl", "700 certctl certctl")
	assertMode(t, m, "/etc/certctl", "755 root root")
	assertMode(t, m, confPath, "640 root certctl")
	assertMode(t, m, "/usr/bin/certctl", "755 root root")
	assertMode(t, m, "/usr/lib/systemd/system/certctl.service", "644 root root")
	assertMode(t, m, "/usr/lib/systemd/system/certctl-export.service", "644 root root")
	assert.NoFileExists(t, "/etc/systemd/system/multi-user.target.wants/certctl-export.service", "the export service is not enabled by the package")

	conffiles, err := exec.Command("dpkg-query", "-W", "-f=${Conffiles}", "certctl").Output()
	require.NoError(t, err)
	assert.Contains(t, string(conffiles), confPath, "the config is a conffile")

	complete, err := exec.Command("bash", "-c", "source /usr/share/bash-completion/completions/certctl && complete -p certctl").CombinedOutput()
	require.NoError(t, err, "the bash completion loads: %s", complete)
	assert.Contains(t, string(complete), "certctl")
}

// assertStatus checks dpkg's abbreviated status of pkg: ii installed, rc
// removed with its config kept, un not installed.
func assertStatus(t *testing.T, pkg, want string) {
	t.Helper()
	out, _ := exec.Command("dpkg-query", "-W", "-f=${db:Status-Abbrev}", pkg).Output()
	got := strings.TrimSpace(string(out))
	if want == "un" && got == "" {
		return // dpkg forgot the package altogether
	}
	assert.Equal(t, want, got, "dpkg status of %s", pkg)
}

// assertMode checks a path's octal mode, owner and group.
func assertMode(t *testing.T, m *machine, path, want string) {
	t.Helper()
	got := strings.TrimSpace(m.root(t, "stat", "-c", "%a %U %G", path))
	assert.Equal(t, want, got, "mode, owner and group of %s", path)
}

// serverKeys are the keys of certctl server's config file, from its flags.
func serverKeys(t *testing.T) []string {
	t.Helper()
	help, err := exec.Command("/usr/bin/certctl", "server", "--help").Output()
	require.NoError(t, err)
	own, _, _ := strings.Cut(string(help), "Global Flags:") // not --server, --api-key, ...
	var keys []string
	for _, m := range regexp.MustCompile(`(?m)^\s+--([a-z-]+)`).FindAllStringSubmatch(own, -1) {
		if m[1] != "config" && m[1] != "help" {
			keys = append(keys, strings.ReplaceAll(m[1], "-", "_"))
		}
	}
	sort.Strings(keys)
	return keys
}

// configLine is a commented key with its default in the shipped config.
var configLine = regexp.MustCompile(`(?m)^#([a-z_]+): (.*)$`)

// assertConfigComplete checks that the shipped config lists every key of
// the installed certctl server, each with the server's default.
func assertConfigComplete(t *testing.T, m *machine) {
	shipped := m.readRoot(t, confPath)
	defaults := map[string]string{}
	for _, l := range configLine.FindAllStringSubmatch(shipped, -1) {
		_, dup := defaults[l[1]]
		assert.False(t, dup, "key %s is listed once", l[1])
		defaults[l[1]] = l[2]
	}
	var listed []string
	for k := range defaults {
		listed = append(listed, k)
	}
	sort.Strings(listed)
	assert.Equal(t, serverKeys(t), listed, "the keys of %s are the flags of certctl server", confPath)
	for k, v := range map[string]string{
		"data_dir": "/var/lib/certctl", "api_addr": "127.0.0.1:8443", "raft_addr": "127.0.0.1:8300",
		"advertise_addr": `""`, "bootstrap": "false", "join": "[]", "join_token": `""`, "join_token_file": `""`, "admin_key_file": `""`,
		"tls_cert_file": `""`, "tls_key_file": `""`, "tls_sans": "[]", "kek_file": `""`,
		"rate_limit": "100", "pprof_addr": `""`, "log_level": "info", "log_format": "text", "dev": "false",
	} {
		assert.Equal(t, v, defaults[k], "default of %s", k)
	}
}

// nodeConfig is a copy of the installed config, every key uncommented with
// its default but those a one-node cluster on loopback sets.
type nodeConfig struct {
	path     string
	apiAddr  string
	adminKey string
	// caFile is a copy of the cluster CA the node made, for the test's
	// clients (the node's own is in its 0700 data dir).
	caFile string
}

func newNodeConfig(t *testing.T, m *machine) *nodeConfig {
	t.Helper()
	dir := filepath.Join(m.work, "node")
	require.NoError(t, os.MkdirAll(dir, 0o755))
	n := &nodeConfig{path: filepath.Join(dir, "certctl.yaml"), apiAddr: freeAddr(t)}
	var key [24]byte
	_, err := rand.Read(key[:])
	require.NoError(t, err)
	n.adminKey = hex.EncodeToString(key[:])
	keyFile := filepath.Join(dir, "admin.key")
	require.NoError(t, os.WriteFile(keyFile, []byte(n.adminKey+"\n"), 0o644))
	var kek [32]byte
	_, err = rand.Read(kek[:])
	require.NoError(t, err)
	kekFile := filepath.Join(dir, "kek")
	require.NoError(t, os.WriteFile(kekFile, []byte(hex.EncodeToString(kek[:])+"\n"), 0o600))
	m.root(t, "chown", "certctl:certctl", kekFile)
	// A new cluster, a new CA: never the copy of an earlier test's.
	n.caFile = filepath.Join(dir, "cluster-ca.pem")
	require.NoError(t, os.RemoveAll(n.caFile))

	set := map[string]string{
		"node_id":        "pkg-test",
		"api_addr":       n.apiAddr,
		"raft_addr":      freeAddr(t),
		"bootstrap":      "true",
		"admin_key_file": keyFile,
		"kek_file":       kekFile,
	}
	cfg := configLine.ReplaceAllStringFunc(m.readRoot(t, confPath), func(line string) string {
		kv := configLine.FindStringSubmatch(line)
		if v, ok := set[kv[1]]; ok {
			delete(set, kv[1])
			return kv[1] + ": " + v
		}
		return kv[1] + ": " + kv[2]
	})
	require.Empty(t, set, "keys missing from the shipped config")
	require.NoError(t, os.WriteFile(n.path, []byte(cfg), 0o644))
	return n
}

// freeAddr is a loopback address with a port nothing listens on.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	return ln.Addr().String()
}

// runningNode is the installed certctl server, run as the certctl user.
type runningNode struct {
	cmd     *exec.Cmd
	log     *bytes.Buffer
	done    chan error
	stopped bool
}

// startNode runs /usr/bin/certctl server --config cfg as the certctl user,
// as certctl.service does, and waits until /ready answers 200.
func startNode(t *testing.T, m *machine, cfg *nodeConfig) *runningNode {
	t.Helper()
	// setpriv execs the server in place, so the signal that stops it reaches
	// the server itself (runuser would stay in between and kill it after 2 s).
	n := &runningNode{log: &bytes.Buffer{}, done: make(chan error, 1)}
	n.cmd = m.rootCmd("setpriv", "--reuid=certctl", "--regid=certctl", "--init-groups", "--",
		"/usr/bin/certctl", "server", "--config", cfg.path)
	n.cmd.Dir = "/"
	n.cmd.Stdout, n.cmd.Stderr = n.log, n.log
	require.NoError(t, n.cmd.Start())
	go func() { n.done <- n.cmd.Wait() }()
	t.Cleanup(func() {
		if !n.stopped {
			// SIGTERM first: under sudo, only a signal sudo can relay
			// reaches the server.
			_ = n.cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-n.done:
			case <-time.After(30 * time.Second):
				_ = n.cmd.Process.Kill()
				<-n.done
			}
		}
		if t.Failed() {
			t.Logf("certctl server output:\n%s", n.log.String())
		}
	})

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		if _, err := os.Stat(cfg.caFile); err != nil {
			if ca, err := m.rootCmd("cat", "/var/lib/certctl/tls/ca.crt").Output(); err == nil && len(ca) > 0 {
				require.NoError(t, os.WriteFile(cfg.caFile, ca, 0o644))
			}
		}
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "https://"+cfg.apiAddr+"/ready", nil)
		if resp, err := cfg.httpClient(t).Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return n
			}
		}
		select {
		case err := <-n.done:
			n.done <- err
			require.FailNow(t, "certctl server exited before it was ready", "%v\n%s", err, n.log.String())
		case <-ctx.Done():
			require.FailNow(t, "certctl server was not ready within 60 s", n.log.String())
		case <-tick.C:
		}
	}
}

// stop sends SIGTERM, as systemd does, and waits for a clean exit.
func (n *runningNode) stop(t *testing.T) {
	t.Helper()
	require.NoError(t, n.cmd.Process.Signal(syscall.SIGTERM))
	select {
	case err := <-n.done:
		n.stopped = true
		require.NoError(t, err, "certctl server exits cleanly on SIGTERM:\n%s", n.log.String())
	case <-time.After(60 * time.Second):
		require.FailNow(t, "certctl server did not stop within 60 s of SIGTERM", n.log.String())
	}
}

// httpClient trusts the cluster CA the node made, once it made it.
func (cfg *nodeConfig) httpClient(t *testing.T) *http.Client {
	pool := x509.NewCertPool()
	if ca, err := os.ReadFile(cfg.caFile); err == nil {
		pool.AppendCertsFromPEM(ca)
	}
	return &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}}
}

// apiClient calls the REST API with a Bearer key, over HTTPS trusting the
// cluster CA.
type apiClient struct {
	base, key string
	cfg       *nodeConfig
}

func (c *apiClient) do(t *testing.T, method, path, body string) (int, []byte) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+c.key)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.cfg.httpClient(t).Do(req)
	require.NoError(t, err, fmt.Sprintf("%s %s", method, path))
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, b
}
