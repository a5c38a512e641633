package webserver_test

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/certctl/certctl/connectors/target"
	"github.com/certctl/certctl/connectors/target/webserver"
	"github.com/certctl/certctl/connectors/target/webserver/webservertest"
)

// server is a real NGINX, Apache or HAProxy that webservertest started, on
// 127.0.0.1, as the test's user, serving p.boot until a deployment; with
// the connector that deploys to it.
type server struct {
	*webservertest.Server
	conn *webserver.Connector
	// impatient is conn with a short TLS wait, for checks expected to
	// see another certificate than the one asked for.
	impatient *webserver.Connector
}

// serverKind starts one kind of server and makes its connector.
type serverKind struct {
	name         string
	start        func(testing.TB, webservertest.Bootstrap) *webservertest.Server
	newConnector func(target.HostOptions) *webserver.Connector
}

// servers are the kinds of server the tests run against.
var servers = []serverKind{
	{"nginx", webservertest.StartNGINX, webserver.NewNGINX},
	{"apache", webservertest.StartApache, webserver.NewApache},
	{"haproxy", webservertest.StartHAProxy, webserver.NewHAProxy},
}

// run starts the server serving p.boot.
func (k serverKind) run(t *testing.T, p *pki) *server {
	t.Helper()
	s := k.start(t, p.bootstrap(t))
	impatient := allowedFor(s)
	impatient.ProbeWait = time.Second
	return &server{Server: s, conn: k.newConnector(allowedFor(s)), impatient: k.newConnector(impatient)}
}

// allowedFor are the options of an agent whose operator allowed what the
// server's target config needs: its ssl directory, and its validate and
// reload commands (and the validation the server refuses), whole.
func allowedFor(s *webservertest.Server) target.HostOptions {
	return target.HostOptions{
		AllowedDirs: []string{filepath.Join(s.Dir, "ssl")},
		Runner: &target.Runner{Timeout: 30 * time.Second,
			Allowed: []string{s.Config["validate_command"], s.Config["reload_command"], s.BrokenValidate}},
		ProbeWait: probeWait,
	}
}

// bootstrap is what the servers start with: p.boot followed by the chain,
// and A's key (Boot's).
func (p *pki) bootstrap(t *testing.T) webservertest.Bootstrap {
	t.Helper()
	return webservertest.Bootstrap{CertPEM: p.boot.pem + p.chainPEM, KeyPEM: readKey(t, p.keyAPath), FingerprintSHA256: p.boot.fp}
}

// probeWait bounds every TLS check of these tests.
const probeWait = webservertest.ServeWait

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
