package webserver_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/certctl/certctl/connectors/target"
	"github.com/certctl/certctl/connectors/target/webserver"
)

// server is a real NGINX, Apache or HAProxy started by a test, on
// 127.0.0.1, as the test's user, serving p.boot until a deployment.
type server struct {
	name string
	dir  string
	conn *webserver.Connector
	// impatient is conn with a short TLS wait, for checks expected to
	// see another certificate than the one asked for.
	impatient *webserver.Connector
	endpoint  string
	// config deploys to the files the server reads, with its own validate
	// and reload commands.
	config map[string]string
	// leafFile holds the served leaf first; keyFile the key.
	leafFile, keyFile string
	// brokenValidate is a validate_command the server refuses, with
	// refusal in its output.
	brokenValidate, refusal string
}

// servers start each kind of server.
var servers = []struct {
	name  string
	start func(t *testing.T, p *pki) *server
}{
	{"nginx", startNGINX},
	{"apache", startApache},
	{"haproxy", startHAProxy},
}

// probeWait bounds every TLS check of these tests.
const probeWait = 15 * time.Second

func hostOptions() target.HostOptions {
	return target.HostOptions{Runner: &target.Runner{Timeout: 30 * time.Second}, ProbeWait: probeWait}
}

func requireBinary(t *testing.T, path, pkg string) {
	t.Helper()
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("%s is missing (%v): these tests need the real server, install it with: apt-get install %s", path, err, pkg)
	}
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// serverDir is the server's directory. t.TempDir's name comes from the
// test's, which may hold characters a command refuses.
func serverDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "certctl-webserver-")
	require.NoError(t, err)
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	require.NoError(t, os.Chmod(dir, 0o755))
	require.NoError(t, os.Mkdir(filepath.Join(dir, "ssl"), 0o755))
	return dir
}

func writeFile(t *testing.T, path, content string, mode os.FileMode) {
	t.Helper()
	require.NoError(t, os.WriteFile(path, []byte(content), mode))
}

func readKey(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	return string(data)
}

// run starts argv in its own process group, logging to dir/stdout.log, and
// stops it (and every process of its group) when the test ends.
func run(t *testing.T, dir string, argv ...string) *exec.Cmd {
	t.Helper()
	log, err := os.Create(filepath.Join(dir, "stdout.log"))
	require.NoError(t, err)
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	require.NoError(t, cmd.Start())
	done := make(chan error, 1)
	go func() { done <- cmd.Wait(); _ = log.Close() }()
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-done
		}
		// Workers may outlive their master by a moment; the group goes.
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	})
	return cmd
}

// waitServing waits until the server serves want, or fails with its logs.
func (s *server) waitServing(t *testing.T, want leaf) {
	t.Helper()
	res, err := target.Probe{Endpoint: s.endpoint, Want: want.fp, Wait: probeWait}.Run(context.Background())
	if err != nil || !res.Valid {
		logs, _ := filepath.Glob(filepath.Join(s.dir, "*.log"))
		var b strings.Builder
		for _, l := range logs {
			data, _ := os.ReadFile(l)
			fmt.Fprintf(&b, "--- %s\n%s\n", l, data)
		}
		t.Fatalf("%s does not serve %s: %v %+v\n%s", s.name, want.fp, err, res, b.String())
	}
}

// bootstrap writes the files the server starts with: p.boot.
func bootstrap(t *testing.T, p *pki, certPath, keyPath string) {
	t.Helper()
	writeFile(t, certPath, p.boot.pem+p.chainPEM, 0o644)
	if keyPath != "" {
		writeFile(t, keyPath, readKey(t, p.keyAPath), 0o600)
	}
}

func asRoot() bool { return os.Geteuid() == 0 }

func startNGINX(t *testing.T, p *pki) *server {
	t.Helper()
	const bin = "/usr/sbin/nginx"
	requireBinary(t, bin, "nginx")
	dir := serverDir(t)
	port := freePort(t)
	for _, d := range []string{"tmp", "logs"} {
		require.NoError(t, os.Mkdir(filepath.Join(dir, d), 0o755))
	}
	user := ""
	if asRoot() {
		user = "user nobody nogroup;"
	}
	conf := fmt.Sprintf(`daemon off;
master_process on;
worker_processes 1;
%[3]s
pid %[1]s/nginx.pid;
error_log %[1]s/error.log notice;
events { worker_connections 64; }
http {
	access_log off;
	client_body_temp_path %[1]s/tmp/body;
	proxy_temp_path %[1]s/tmp/proxy;
	fastcgi_temp_path %[1]s/tmp/fastcgi;
	uwsgi_temp_path %[1]s/tmp/uwsgi;
	scgi_temp_path %[1]s/tmp/scgi;
	server {
		listen 127.0.0.1:%[2]d ssl;
		ssl_certificate %[1]s/ssl/cert.pem;
		ssl_certificate_key %[1]s/ssl/key.pem;
		location / { return 200 "ok\n"; }
	}
}
`, dir, port, user)
	writeFile(t, filepath.Join(dir, "nginx.conf"), conf, 0o644)
	writeFile(t, filepath.Join(dir, "broken.conf"), strings.Replace(conf, "worker_processes 1;", "worker_processes 1;\ncertctl_bogus on;", 1), 0o644)
	s := &server{name: "nginx", dir: dir, conn: webserver.NewNGINX(hostOptions()), impatient: webserver.NewNGINX(target.HostOptions{ProbeWait: time.Second}),
		endpoint: fmt.Sprintf("127.0.0.1:%d", port),
		leafFile: filepath.Join(dir, "ssl", "cert.pem"), keyFile: filepath.Join(dir, "ssl", "key.pem"),
		brokenValidate: fmt.Sprintf("%s -p %s/ -e %s/error.log -c %s/broken.conf -t", bin, dir, dir, dir),
		refusal:        `unknown directive "certctl_bogus"`,
	}
	nginx := fmt.Sprintf("%s -p %s/ -e %s/error.log -c %s/nginx.conf", bin, dir, dir, dir)
	s.config = map[string]string{"cert_path": s.leafFile, "key_path": s.keyFile, "chain_path": filepath.Join(dir, "ssl", "chain.pem"),
		"validate_command": nginx + " -t", "reload_command": nginx + " -s reload", "endpoint": s.endpoint}
	bootstrap(t, p, s.leafFile, s.keyFile)
	run(t, dir, strings.Fields(nginx)...)
	s.waitServing(t, p.boot)
	return s
}

func startApache(t *testing.T, p *pki) *server {
	t.Helper()
	const bin = "/usr/sbin/apache2"
	requireBinary(t, bin, "apache2")
	dir := serverDir(t)
	port := freePort(t)
	require.NoError(t, os.Mkdir(filepath.Join(dir, "run"), 0o755))
	user := ""
	if asRoot() {
		user = "User nobody\nGroup nogroup"
	}
	var modules strings.Builder
	for _, m := range []string{"mpm_event", "authz_core", "socache_shmcb", "ssl"} {
		fmt.Fprintf(&modules, "LoadModule %s_module /usr/lib/apache2/modules/mod_%s.so\n", m, m)
	}
	conf := fmt.Sprintf(`ServerRoot %[1]s
ServerName localhost
%[3]s%[4]s
Listen 127.0.0.1:%[2]d
PidFile %[1]s/run/httpd.pid
DefaultRuntimeDir %[1]s/run
ErrorLog %[1]s/error.log
LogLevel warn
Mutex posixsem
StartServers 1
ServerLimit 4
ThreadsPerChild 8
MaxRequestWorkers 32
MinSpareThreads 1
MaxSpareThreads 16
SSLSessionCache shmcb:%[1]s/run/ssl_scache(512000)
<VirtualHost 127.0.0.1:%[2]d>
	SSLEngine on
	SSLCertificateFile %[1]s/ssl/cert.pem
	SSLCertificateKeyFile %[1]s/ssl/key.pem
</VirtualHost>
`, dir, port, modules.String(), user)
	writeFile(t, filepath.Join(dir, "httpd.conf"), conf, 0o644)
	writeFile(t, filepath.Join(dir, "broken.conf"), conf+"CertctlBogus on\n", 0o644)
	s := &server{name: "apache", dir: dir, conn: webserver.NewApache(hostOptions()), impatient: webserver.NewApache(target.HostOptions{ProbeWait: time.Second}),
		endpoint: fmt.Sprintf("127.0.0.1:%d", port),
		leafFile: filepath.Join(dir, "ssl", "cert.pem"), keyFile: filepath.Join(dir, "ssl", "key.pem"),
		brokenValidate: fmt.Sprintf("%s -d %s -f %s/broken.conf -t", bin, dir, dir),
		refusal:        "CertctlBogus",
	}
	apache := fmt.Sprintf("%s -d %s -f %s/httpd.conf", bin, dir, dir)
	s.config = map[string]string{"cert_path": s.leafFile, "key_path": s.keyFile,
		"validate_command": apache + " -t", "reload_command": apache + " -k graceful", "endpoint": s.endpoint}
	bootstrap(t, p, s.leafFile, s.keyFile)
	run(t, dir, append(strings.Fields(apache), "-DFOREGROUND")...)
	s.waitServing(t, p.boot)
	return s
}

func startHAProxy(t *testing.T, p *pki) *server {
	t.Helper()
	const bin = "/usr/sbin/haproxy"
	requireBinary(t, bin, "haproxy")
	dir := serverDir(t)
	port := freePort(t)
	conf := fmt.Sprintf(`global
	maxconn 100
defaults
	mode http
	timeout connect 5s
	timeout client 5s
	timeout server 5s
frontend www
	bind 127.0.0.1:%[2]d ssl crt %[1]s/ssl/site.pem
	http-request return status 200 content-type text/plain string ok
`, dir, port)
	writeFile(t, filepath.Join(dir, "haproxy.cfg"), conf, 0o644)
	writeFile(t, filepath.Join(dir, "broken.cfg"), conf+"\tcertctl-bogus on\n", 0o644)
	pem := filepath.Join(dir, "ssl", "site.pem")
	writeFile(t, pem, p.boot.pem+p.chainPEM+readKey(t, p.keyAPath), 0o600)
	// Master-worker in the foreground: the master reloads on SIGUSR2.
	cmd := run(t, dir, bin, "-W", "-f", filepath.Join(dir, "haproxy.cfg"), "-p", filepath.Join(dir, "haproxy.pid"))
	s := &server{name: "haproxy", dir: dir, conn: webserver.NewHAProxy(hostOptions()), impatient: webserver.NewHAProxy(target.HostOptions{ProbeWait: time.Second}),
		endpoint: fmt.Sprintf("127.0.0.1:%d", port), leafFile: pem, keyFile: pem,
		brokenValidate: fmt.Sprintf("%s -c -f %s/broken.cfg", bin, dir),
		refusal:        "certctl-bogus",
	}
	s.config = map[string]string{"pem_path": pem,
		"validate_command": fmt.Sprintf("%s -c -f %s/haproxy.cfg", bin, dir),
		"reload_command":   "kill -USR2 " + strconv.Itoa(cmd.Process.Pid), "endpoint": s.endpoint}
	s.waitServing(t, p.boot)
	return s
}
