package webserver_test

import (
	"os"
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
	return &server{Server: k.start(t, p.bootstrap(t)), conn: k.newConnector(hostOptions()),
		impatient: k.newConnector(target.HostOptions{ProbeWait: time.Second})}
}

// bootstrap is what the servers start with: p.boot followed by the chain,
// and A's key (Boot's).
func (p *pki) bootstrap(t *testing.T) webservertest.Bootstrap {
	t.Helper()
	return webservertest.Bootstrap{CertPEM: p.boot.pem + p.chainPEM, KeyPEM: readKey(t, p.keyAPath), FingerprintSHA256: p.boot.fp}
}

// probeWait bounds every TLS check of these tests.
const probeWait = webservertest.ServeWait

func hostOptions() target.HostOptions {
	return target.HostOptions{Runner: &target.Runner{Timeout: 30 * time.Second}, ProbeWait: probeWait}
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
