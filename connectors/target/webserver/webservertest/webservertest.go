// Package webservertest starts the real web servers the host connectors
// deploy to (Debian's nginx, Apache httpd and HAProxy) for tests: each in a
// directory of its own, on a free port of 127.0.0.1, as the test's user,
// serving a bootstrap certificate until something deploys another, and
// stopped with its whole process group when the test ends. A missing server
// fails the test with the package to install; it never skips.
package webservertest

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"math/big"
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
)

// ServeWait bounds the wait for a server to serve after it starts.
const ServeWait = 15 * time.Second

// Bootstrap is the certificate and key a server starts with.
type Bootstrap struct {
	CertPEM, KeyPEM string
	// FingerprintSHA256 is the certificate's, in hex.
	FingerprintSHA256 string
}

// NewBootstrap makes a self-signed ECDSA certificate for localhost.
func NewBootstrap(t testing.TB) Bootstrap {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: "bootstrap.localhost"},
		DNSNames: []string{"localhost"}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	require.NoError(t, err)
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	require.NoError(t, err)
	sum := sha256.Sum256(der)
	return Bootstrap{CertPEM: string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})),
		KeyPEM: string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})), FingerprintSHA256: hex.EncodeToString(sum[:])}
}

// Server is a running web server.
type Server struct {
	Name     string
	Dir      string
	Endpoint string // 127.0.0.1:port
	// Config is the target config (the connector's field names) that
	// deploys to the files this server reads, with its own validate and
	// reload commands and the endpoint to validate against.
	Config map[string]string
	// LeafFile holds the served leaf first; KeyFile the key (the same file
	// for HAProxy).
	LeafFile, KeyFile string
	// BrokenValidate is a validate_command the server refuses, Refusal
	// words of its refusal.
	BrokenValidate, Refusal string
}

func requireBinary(t testing.TB, path, pkg string) {
	t.Helper()
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("%s is missing (%v): this test needs the real server, install it with: apt-get install %s", path, err, pkg)
	}
}

func freePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// serverDir is the server's directory. Not t.TempDir: its name comes from
// the test's, which may hold characters a command line refuses.
func serverDir(t testing.TB) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "certctl-webserver-")
	require.NoError(t, err)
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	require.NoError(t, os.Chmod(dir, 0o755))
	require.NoError(t, os.Mkdir(filepath.Join(dir, "ssl"), 0o755))
	return dir
}

func writeFile(t testing.TB, path, content string, mode os.FileMode) {
	t.Helper()
	require.NoError(t, os.WriteFile(path, []byte(content), mode))
}

// run starts argv in its own process group, logging to dir/stdout.log, and
// stops it (and every process of its group) when the test ends.
func run(t testing.TB, dir string, argv ...string) *exec.Cmd {
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

// WaitServing waits until s serves the certificate of fingerprint want
// (hex SHA-256), or fails the test with the server's logs.
func (s *Server) WaitServing(t testing.TB, want string) {
	t.Helper()
	res, err := target.Probe{Endpoint: s.Endpoint, Want: want, Wait: ServeWait}.Run(context.Background())
	if err != nil || !res.Valid {
		logs, _ := filepath.Glob(filepath.Join(s.Dir, "*.log"))
		var b strings.Builder
		for _, l := range logs {
			data, _ := os.ReadFile(l)
			fmt.Fprintf(&b, "--- %s\n%s\n", l, data)
		}
		t.Fatalf("%s does not serve %s: %v %+v\n%s", s.Name, want, err, res, b.String())
	}
}

func asRoot() bool { return os.Geteuid() == 0 }

// StartNGINX starts nginx serving b.
func StartNGINX(t testing.TB, b Bootstrap) *Server {
	t.Helper()
	const bin = "/usr/sbin/nginx"
	requireBinary(t, bin, "nginx-light")
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
	s := &Server{Name: "nginx", Dir: dir, Endpoint: fmt.Sprintf("127.0.0.1:%d", port),
		LeafFile: filepath.Join(dir, "ssl", "cert.pem"), KeyFile: filepath.Join(dir, "ssl", "key.pem"),
		BrokenValidate: fmt.Sprintf("%s -p %s/ -e %s/error.log -c %s/broken.conf -t", bin, dir, dir, dir),
		Refusal:        `unknown directive "certctl_bogus"`,
	}
	nginx := fmt.Sprintf("%s -p %s/ -e %s/error.log -c %s/nginx.conf", bin, dir, dir, dir)
	s.Config = map[string]string{"cert_path": s.LeafFile, "key_path": s.KeyFile, "chain_path": filepath.Join(dir, "ssl", "chain.pem"),
		"validate_command": nginx + " -t", "reload_command": nginx + " -s reload", "endpoint": s.Endpoint}
	writeFile(t, s.LeafFile, b.CertPEM, 0o644)
	writeFile(t, s.KeyFile, b.KeyPEM, 0o600)
	run(t, dir, strings.Fields(nginx)...)
	s.WaitServing(t, b.FingerprintSHA256)
	return s
}

// StartApache starts Apache httpd (the apache2 binary, with a config of
// its own) serving b.
func StartApache(t testing.TB, b Bootstrap) *Server {
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
	s := &Server{Name: "apache", Dir: dir, Endpoint: fmt.Sprintf("127.0.0.1:%d", port),
		LeafFile: filepath.Join(dir, "ssl", "cert.pem"), KeyFile: filepath.Join(dir, "ssl", "key.pem"),
		BrokenValidate: fmt.Sprintf("%s -d %s -f %s/broken.conf -t", bin, dir, dir),
		Refusal:        "CertctlBogus",
	}
	apache := fmt.Sprintf("%s -d %s -f %s/httpd.conf", bin, dir, dir)
	s.Config = map[string]string{"cert_path": s.LeafFile, "key_path": s.KeyFile,
		"validate_command": apache + " -t", "reload_command": apache + " -k graceful", "endpoint": s.Endpoint}
	writeFile(t, s.LeafFile, b.CertPEM, 0o644)
	writeFile(t, s.KeyFile, b.KeyPEM, 0o600)
	run(t, dir, append(strings.Fields(apache), "-DFOREGROUND")...)
	s.WaitServing(t, b.FingerprintSHA256)
	return s
}

// StartHAProxy starts HAProxy in master-worker mode (reloaded by SIGUSR2 to
// the master) serving b.
func StartHAProxy(t testing.TB, b Bootstrap) *Server {
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
	site := filepath.Join(dir, "ssl", "site.pem")
	writeFile(t, site, b.CertPEM+b.KeyPEM, 0o600)
	cmd := run(t, dir, bin, "-W", "-f", filepath.Join(dir, "haproxy.cfg"), "-p", filepath.Join(dir, "haproxy.pid"))
	s := &Server{Name: "haproxy", Dir: dir, Endpoint: fmt.Sprintf("127.0.0.1:%d", port), LeafFile: site, KeyFile: site,
		BrokenValidate: fmt.Sprintf("%s -c -f %s/broken.cfg", bin, dir),
		Refusal:        "certctl-bogus",
	}
	s.Config = map[string]string{"pem_path": site,
		"validate_command": fmt.Sprintf("%s -c -f %s/haproxy.cfg", bin, dir),
		"reload_command":   "kill -USR2 " + strconv.Itoa(cmd.Process.Pid), "endpoint": s.Endpoint}
	s.WaitServing(t, b.FingerprintSHA256)
	return s
}
