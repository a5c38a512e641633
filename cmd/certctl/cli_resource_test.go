package main

import (
	"context"
	"encoding/json"
	"log/slog"
	"net"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"

	"github.com/certctl/certctl/api"
	"github.com/certctl/certctl/connectors/keywrap"
	"github.com/certctl/certctl/node"
	"github.com/certctl/certctl/node/nodetest"
)

// resourceNode starts a one-node cluster serving the API in --dev mode
// (plain HTTP on loopback, no keys) with the server's issuer and target
// connectors, so configs are checked and secrets sealed and redacted as in
// production; with demo set it holds the demo data of 'certctl server
// --dev'. It returns the API's URL.
func resourceNode(t *testing.T, demo bool) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	cfg := nodetest.Config(t, "n1")
	cfg.Bootstrap = true
	cfg.APIAddr = ln.Addr().String()
	n, err := node.New(cfg)
	require.NoError(t, err)
	kek := make([]byte, keywrap.KEKSize)
	copy(kek, "cli-resource-test")
	box, err := keywrap.NewBox(kek)
	require.NoError(t, err)
	issuers, err := issuerRegistry(kek)
	require.NoError(t, err)
	a := api.New(api.Config{Dev: true, Logger: cfg.Logger, RateLimit: -1, Secrets: box, TargetSecrets: targetSecrets(), IssuerTypes: issuers}, n.FSM(), n)
	t.Cleanup(a.Close)
	srv := httptest.NewUnstartedServer(a.Handler())
	srv.Listener.Close()
	srv.Listener = ln
	srv.Start()
	t.Cleanup(srv.Close)
	ctx, cancel := context.WithTimeout(context.Background(), nodetest.WaitTimeout)
	defer cancel()
	require.NoError(t, n.Open(ctx))
	t.Cleanup(func() { _ = n.Close() })
	nodetest.WaitFor(t, "ready with a cluster id", func() bool { id, _ := n.FSM().ClusterID(); return n.Ready() && id != "" })
	if demo {
		require.NoError(t, loadDemoData(ctx, n, slog.New(slog.DiscardHandler)))
	}
	return srv.URL
}

// cli runs certctl against url and fails the test on an error.
func cli(t *testing.T, url string, args ...string) string {
	t.Helper()
	out, errOut, err := runCLI(t, nil, append([]string{"--server", url}, args...)...)
	require.NoError(t, err, "certctl %s: %s", strings.Join(args, " "), errOut)
	return out
}

// cliErr runs certctl against url and returns its error.
func cliErr(t *testing.T, url string, args ...string) (string, error) {
	t.Helper()
	out, _, err := runCLI(t, nil, append([]string{"--server", url}, args...)...)
	return out, err
}

// decodeJSON decodes a command's -o json output.
func decodeJSON(t *testing.T, out string) map[string]any {
	t.Helper()
	var v map[string]any
	require.NoError(t, json.Unmarshal([]byte(out), &v), out)
	return v
}

// decodeYAML decodes a command's -o yaml output into the values JSON
// decoding gives (numbers as float64).
func decodeYAML(t *testing.T, out string) map[string]any {
	t.Helper()
	var v any
	require.NoError(t, yaml.Unmarshal([]byte(out), &v), out)
	raw, err := json.Marshal(v)
	require.NoError(t, err)
	return decodeJSON(t, string(raw))
}

// checkFormats gets kind id as JSON and YAML and checks both parse back to
// the same object, which it returns.
func checkFormats(t *testing.T, url, kind, id string) map[string]any {
	t.Helper()
	j := decodeJSON(t, cli(t, url, kind, "get", id, "-o", "json"))
	y := decodeYAML(t, cli(t, url, kind, "get", id, "-o", "yaml"))
	assert.Equal(t, j, y, "-o json and -o yaml give the same %s", kind)
	assert.Equal(t, id, j["id"])
	return j
}

func TestCLI_Team(t *testing.T) {
	url := resourceNode(t, false)
	out := cli(t, url, "team", "create", "--id", "t-web", "--name", "Web", "--description", "front ends")
	assert.Regexp(t, `(?m)^ID:\s+t-web$`, out)
	assert.Regexp(t, `(?m)^Description:\s+front ends$`, out)
	cli(t, url, "team", "create", "--id", "t-data", "--name", "Data")

	out = cli(t, url, "team", "list")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	require.Len(t, lines, 3, out)
	assert.Regexp(t, `^ID\s+NAME\s+DESCRIPTION$`, lines[0])
	assert.Regexp(t, `^t-data\s+Data\s+-$`, lines[1])

	// Paging: one a page, and --all gathers both.
	_, errOut, err := runCLI(t, nil, "--server", url, "team", "list", "--per-page", "1")
	require.NoError(t, err)
	assert.Contains(t, errOut, "page 1 of 2 (2 teams in all)")
	l := decodeJSON(t, cli(t, url, "team", "list", "--all", "-o", "json"))
	assert.Len(t, l["data"], 2)

	cli(t, url, "team", "update", "t-web", "--description", "web front ends")
	got := checkFormats(t, url, "team", "t-web")
	assert.Equal(t, "web front ends", got["description"])
	assert.Equal(t, "Web", got["name"], "update keeps the fields not given")

	// The whole body from a YAML file.
	f := writeFile(t, t.TempDir(), "team.yaml", "name: Web team\ndescription: replaced\n")
	cli(t, url, "team", "update", "t-web", "-f", f)
	got = checkFormats(t, url, "team", "t-web")
	assert.Equal(t, "Web team", got["name"])

	out = cli(t, url, "team", "delete", "t-data")
	assert.Equal(t, "deleted team t-data\n", out)
	_, err = cliErr(t, url, "team", "get", "t-data")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "Not Found")
}
