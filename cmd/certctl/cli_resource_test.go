package main

import (
	"context"
	"encoding/json"
	"log/slog"
	"net"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"

	"github.com/certctl/certctl/api"
	"github.com/certctl/certctl/api/client"
	"github.com/certctl/certctl/connectors/keywrap"
	"github.com/certctl/certctl/fsm"
	"github.com/certctl/certctl/node"
	"github.com/certctl/certctl/node/nodetest"
)

// devNode starts a one-node cluster serving the API in --dev mode (plain
// HTTP on loopback, no keys) with cfg's connectors, and returns the API's
// URL and the node; both stop when the test ends.
func devNode(t *testing.T, cfg api.Config) (string, *node.Node) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	ncfg := nodetest.Config(t, "n1")
	ncfg.Bootstrap = true
	ncfg.APIAddr = ln.Addr().String()
	n, err := node.New(ncfg)
	require.NoError(t, err)
	cfg.Dev, cfg.Logger, cfg.RateLimit = true, ncfg.Logger, -1
	a := api.New(cfg, n.FSM(), n)
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
	return srv.URL, n
}

// resourceNode is a devNode with the server's issuer and target
// connectors, so configs are checked and secrets sealed and redacted as in
// production; with demo set it holds the demo data of 'certctl server
// --dev'.
func resourceNode(t *testing.T, demo bool) string {
	t.Helper()
	url, _ := resourceNodeOf(t, demo)
	return url
}

// resourceNodeOf is resourceNode, with the node.
func resourceNodeOf(t *testing.T, demo bool) (string, *node.Node) {
	t.Helper()
	kek := make([]byte, keywrap.KEKSize)
	copy(kek, "cli-resource-test")
	box, err := keywrap.NewBox(kek)
	require.NoError(t, err)
	issuers, err := declaredIssuers(kek)
	require.NoError(t, err)
	url, n := devNode(t, api.Config{Secrets: box, TargetSecrets: targetSecrets(), IssuerTypes: issuers})
	if demo {
		ctx, cancel := context.WithTimeout(context.Background(), nodetest.WaitTimeout)
		defer cancel()
		require.NoError(t, loadDemoData(ctx, n, slog.New(slog.DiscardHandler)))
	}
	return url, n
}

// registerAgent registers agent id in the cluster at url: targets name
// agents, which register (they are not applied).
func registerAgent(t *testing.T, url, id, name, hostname string) {
	t.Helper()
	c, err := client.New(client.Config{Servers: []string{url}})
	require.NoError(t, err)
	body, err := json.Marshal(map[string]string{"id": id, "name": name, "hostname": hostname})
	require.NoError(t, err)
	_, err = c.CreateJSON(context.Background(), body, "agents")
	require.NoError(t, err)
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

// TestCLI_EveryResource runs each kind's verbs against a real node:
// create from flags, list with a filter, get, update, -o json and -o yaml
// parsing back to the same object, delete.
func TestCLI_EveryResource(t *testing.T) {
	url := resourceNode(t, false)
	cli(t, url, "team", "create", "--id", "t-a", "--name", "A")
	cli(t, url, "team", "create", "--id", "t-b", "--name", "B")
	cli(t, url, "owner", "create", "--id", "o-other", "--name", "Other", "--email", "other@example.com", "--team", "t-b")
	registerAgent(t, url, "ag-1", "web-1", "web-1.example.com")
	cli(t, url, "target", "create", "--id", "tgt-other", "--name", "Other", "--type", "NGINX", "--agent", "ag-1")
	cli(t, url, "issuer", "create", "--id", "iss-keep", "--name", "Keep", "--type", "GenericCA", "--enabled", "--config", "ca_common_name=Keep CA")
	cli(t, url, "cert", "create", "--id", "mc-other", "--common-name", "other.example.com", "--owner", "o-other", "--team", "t-b", "--issuer", "iss-keep")

	for _, tc := range []struct {
		kind, id   string
		create     []string
		filter     []string // list flags that keep id and leave out other
		other      string
		update     []string
		field      string
		want       any
		removeVerb string
	}{
		{kind: "owner", id: "o-ann", create: []string{"--name", "Ann", "--email", "ann@example.com", "--team", "t-a"},
			filter: []string{"--team", "t-a"}, other: "o-other",
			update: []string{"--email", "ann@example.org"}, field: "email", want: "ann@example.org", removeVerb: "delete"},
		{kind: "issuer", id: "iss-test", create: []string{"--name", "Test CA", "--type", "GenericCA", "--enabled", "--config", "ca_common_name=Test CA", "--config", "validity_days=30"},
			update: []string{"--name", "Test CA 2"}, field: "name", want: "Test CA 2", removeVerb: "delete"},
		{kind: "renewal-policy", id: "rp-fast", create: []string{"--name", "Fast", "--renewal-window-days", "20", "--alert-threshold", "10", "--alert-threshold", "5"},
			update: []string{"--auto-renew=false"}, field: "auto_renew", want: false, removeVerb: "delete"},
		{kind: "policy", id: "pr-dom", create: []string{"--name", "Domains", "--type", "AllowedDomains", "--severity", "Warning", "--enabled", "--config", "allowed_domains=[example.com]"},
			update: []string{"--severity", "Critical"}, field: "severity", want: "Critical", removeVerb: "delete"},
		{kind: "target", id: "tgt-web", create: []string{"--name", "Web", "--type", "NGINX", "--agent", "ag-1", "--enabled", "--config", "cert_path=/etc/ssl/web.pem"},
			filter: []string{"--agent", "ag-1", "--type", "nginx"}, other: "",
			update: []string{"--config", "cert_path=/etc/ssl/web2.pem"}, field: "config", want: map[string]any{"cert_path": "/etc/ssl/web2.pem"}, removeVerb: "delete"},
		{kind: "cert", id: "mc-www", create: []string{"--common-name", "www.example.com", "--owner", "o-other", "--team", "t-a", "--issuer", "iss-keep"},
			filter: []string{"--team", "t-a"}, other: "mc-other",
			update: []string{"--environment", "staging"}, field: "environment", want: "staging", removeVerb: "archive"},
	} {
		t.Run(tc.kind, func(t *testing.T) {
			out := cli(t, url, append([]string{tc.kind, "create", "--id", tc.id}, tc.create...)...)
			assert.Regexp(t, `(?m)^ID:\s+`+tc.id+`$`, out)

			out = cli(t, url, append([]string{tc.kind, "list"}, tc.filter...)...)
			assert.Regexp(t, `(?m)^`+tc.id+`\s`, out)
			if tc.other != "" {
				assert.NotContains(t, out, tc.other, "the filter leaves out the others")
				assert.Contains(t, cli(t, url, tc.kind, "list"), tc.other)
			}
			l := decodeJSON(t, cli(t, url, append([]string{tc.kind, "list", "-o", "json"}, tc.filter...)...))
			assert.NotEmpty(t, l["data"])

			before := checkFormats(t, url, tc.kind, tc.id)
			cli(t, url, append([]string{tc.kind, "update", tc.id}, tc.update...)...)
			after := checkFormats(t, url, tc.kind, tc.id)
			assert.Equal(t, tc.want, after[tc.field])
			for f, v := range before {
				if f != tc.field && f != "updated_at" {
					assert.Equal(t, v, after[f], "update keeps %s", f)
				}
			}

			out = cli(t, url, tc.kind, tc.removeVerb, tc.id)
			name := tc.kind
			if name == "cert" {
				name = "certificate"
			}
			assert.Equal(t, tc.removeVerb+"d "+name+" "+tc.id+"\n", out)
			if tc.removeVerb == "archive" {
				assert.Equal(t, "Archived", decodeJSON(t, cli(t, url, tc.kind, "get", tc.id, "-o", "json"))["status"])
				return
			}
			_, err := cliErr(t, url, tc.kind, "get", tc.id)
			require.Error(t, err)
		})
	}
}

func TestCLI_ResourceErrorsNameTheField(t *testing.T) {
	url := resourceNode(t, false)
	_, err := cliErr(t, url, "owner", "create", "--id", "o-x", "--email", "x@example.com", "--team", "t-none")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "Bad Request: field name: name is required")
	_, err = cliErr(t, url, "owner", "create", "--name", "Ann", "--email", "ann@example.com", "--team", "t-none")
	require.Error(t, err)
	assert.Contains(t, err.Error(), `Not Found: field team_id: team "t-none" not found`)

	// Nothing to create is a usage error naming the flags.
	_, err = cliErr(t, url, "team", "create")
	require.Error(t, err)
	assert.True(t, isUsage(err))
	assert.Contains(t, err.Error(), "--id, --name, --description")

	// A secret file flag for a type that has no such secret is refused
	// before anything is sent.
	dir := t.TempDir()
	pw := writeFile(t, dir, "pw", "s3cret\n")
	_, err = cliErr(t, url, "target", "create", "--name", "x", "--type", "NGINX", "--agent", "ag-1", "--password-file", pw)
	require.Error(t, err)
	assert.Contains(t, err.Error(), `--password-file: target type "NGINX" has no secret password`)
	// A literal secret in a body file is refused, naming the _file form.
	body := writeFile(t, dir, "t.yaml", "name: x\ntype: F5\nagent_id: ag-1\nconfig:\n  host: lb\n  password: s3cret\n")
	_, err = cliErr(t, url, "target", "create", "-f", body)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "config.password: password is a secret of target type F5: give it as password_file: PATH")
}

func TestCLI_TargetPasswordFromFile(t *testing.T) {
	url := resourceNode(t, false)
	registerAgent(t, url, "ag-lb", "lb", "lb.example.com")
	pw := writeFile(t, t.TempDir(), "pw", "s3cret-value\n")
	out := cli(t, url, "target", "create", "--id", "tgt-f5", "--name", "F5", "--type", "F5", "--agent", "ag-lb",
		"--config", "host=lb.example.com", "--config", "username=admin", "--password-file", pw, "-o", "json")
	assert.NotContains(t, out, "s3cret")
	assert.Equal(t, "********", decodeJSON(t, out)["config"].(map[string]any)["password"])
	// An update of another field keeps the stored password.
	cli(t, url, "target", "update", "tgt-f5", "--name", "F5 prod")
	got := decodeJSON(t, cli(t, url, "target", "get", "tgt-f5", "-o", "json"))
	assert.Equal(t, "********", got["config"].(map[string]any)["password"])

	// An issuer's EAB key, the same way.
	key := writeFile(t, t.TempDir(), "eab", "ZXhhbXBsZS1obWFjLWtleQ\n")
	out = cli(t, url, "issuer", "create", "--id", "iss-acme", "--name", "ACME", "--type", "ACME", "--config", "directory_url=https://acme.example/dir",
		"--config", "eab_kid=kid-1", "--eab-hmac-key-file", key, "-o", "yaml")
	assert.NotContains(t, out, "ZXhhbXBsZS")
	assert.Contains(t, out, "eab_hmac_key: '********'")
}

func TestCLI_ViolationsAndNotifications(t *testing.T) {
	url, n := resourceNodeOf(t, true)
	out := cli(t, url, "violation", "list", "--rule", "pr-allowed-domains")
	assert.Regexp(t, `(?m)^\S+\s+mc-legacy-prod\s+pr-allowed-domains\s+Error\s`, out)
	assert.Equal(t, out, cli(t, url, "policy", "violations", "pr-allowed-domains"))
	l := decodeJSON(t, cli(t, url, "violation", "list", "--certificate", "mc-legacy-prod", "-o", "json"))
	assert.Len(t, l["data"], 1)
	_, err := cliErr(t, url, "violation", "list")
	assert.True(t, isUsage(err), "violation list needs --rule or --certificate")

	out = cli(t, url, "notification", "list", "--status", "sent")
	assert.Regexp(t, `(?m)^ne-demo-3\s`, out)
	assert.NotContains(t, out, "ne-demo-1")
	note := checkFormats(t, url, "notification", "ne-demo-1")
	assert.Equal(t, "mc-auth-prod", note["certificate_id"])
	assert.Equal(t, "notification ne-demo-1: marked_as_read\n", cli(t, url, "notification", "read", "ne-demo-1"))
	assert.Equal(t, "read", strings.ToLower(decodeJSON(t, cli(t, url, "notification", "get", "ne-demo-1", "-o", "json"))["status"].(string)))

	// retry: refused for a pending one (the API's conflict), done for a dead one.
	_, err = cliErr(t, url, "notification", "retry", "ne-demo-2")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "Conflict")
	cmd, err := fsm.NewCommand(fsm.Meta{Time: time.Now().UTC(), Actor: "test", ActorType: fsm.ActorSystem},
		&fsm.MarkNotificationFailed{ID: "ne-demo-2", Error: "smtp refused", Dead: true})
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), nodetest.WaitTimeout)
	defer cancel()
	_, err = n.Propose(ctx, cmd)
	require.NoError(t, err)
	assert.Contains(t, cli(t, url, "notification", "list", "--status", "dead"), "ne-demo-2")
	assert.Equal(t, "notification ne-demo-2: requeued\n", cli(t, url, "notification", "retry", "ne-demo-2"))
	assert.Equal(t, "pending", decodeJSON(t, cli(t, url, "notification", "get", "ne-demo-2", "-o", "json"))["status"])
}

func TestCLI_CompletesIDsFromTheAPI(t *testing.T) {
	url := resourceNode(t, true)
	out := cli(t, url, "__complete", "owner", "get", "o-")
	assert.Contains(t, out, "o-alice\tAlice Johnson")
	assert.Contains(t, out, "o-bob\tBob Smith")
	out = cli(t, url, "__complete", "owner", "list", "--team", "t-p")
	assert.Contains(t, out, "t-platform\tPlatform")
	assert.Contains(t, out, "t-payments\tPayments")
	assert.NotContains(t, out, "t-data")
	out = cli(t, url, "__complete", "owner", "get", "o-alice", "")
	assert.NotContains(t, out, "o-bob", "one ID only")
}
