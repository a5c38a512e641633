package main

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/certctl/certctl/api/client"
)

// exportState is what export writes of the cluster at url, as decoded
// objects by "Kind/id".
func exportState(t *testing.T, url string) (string, map[string]map[string]any) {
	t.Helper()
	out := cli(t, url, "export", "-o", "yaml")
	docs := map[string]map[string]any{}
	for _, d := range strings.Split(out, "\n---\n")[1:] {
		v := decodeYAML(t, d)
		docs[v["kind"].(string)+"/"+v["id"].(string)] = v
	}
	return out, docs
}

// registerAgentsOf registers in the cluster at to the agents of the
// cluster at from, with the same ids: targets name them, and agents are
// registered, not applied.
func registerAgentsOf(t *testing.T, from, to string) {
	t.Helper()
	src, err := client.New(client.Config{Servers: []string{from}})
	require.NoError(t, err)
	l, err := src.ListAgents(context.Background(), client.ListOptions{PerPage: 500})
	require.NoError(t, err)
	for _, a := range l.Data {
		registerAgent(t, to, a.ID, a.Name, a.Hostname)
	}
}

func TestCLI_ExportDemoAppliedToAnEmptyCluster(t *testing.T) {
	demo := resourceNode(t, true)
	empty := resourceNode(t, false)
	text, want := exportState(t, demo)
	require.NotEmpty(t, want)
	for _, kind := range []string{"Team", "Owner", "Issuer", "RenewalPolicy", "PolicyRule", "Target", "Certificate"} {
		found := false
		for key := range want {
			found = found || strings.HasPrefix(key, kind+"/")
		}
		assert.True(t, found, "export holds %s documents", kind)
	}
	for _, server := range []string{"created_at", "updated_at", "status", "expires_at", "last_renewal_at"} {
		assert.NotContains(t, text, "\n"+server+":", "export leaves out the server's %s", server)
	}
	file := writeFile(t, t.TempDir(), "inventory.yaml", text)

	registerAgentsOf(t, demo, empty)
	out := cli(t, empty, "apply", "-f", file)
	assert.Contains(t, out, "created team t-platform")
	assert.Regexp(t, `(?m)^\d+ changed, 0 unchanged$`, out)

	_, got := exportState(t, empty)
	assert.Equal(t, want, got, "the empty cluster now holds the demo's objects")

	// A second apply changes nothing, and says so; diff agrees (exit 0).
	out = cli(t, empty, "apply", "-f", file)
	assert.Equal(t, "no change: the cluster matches the inventory ("+strconv.Itoa(len(want))+" resources)\n", out)
	out = cli(t, empty, "diff", "-f", file)
	assert.Empty(t, out)
	// And the demo cluster matches its own export.
	assert.Equal(t, "no change: the cluster matches the inventory ("+strconv.Itoa(len(want))+" resources)\n", cli(t, demo, "apply", "-f", file))
}

const inventory = `kind: Team
id: t-web
name: Web
description: front ends
---
kind: Owner
id: o-ann
name: Ann
email: ann@example.com
team_id: t-web
---
kind: RenewalPolicy
id: rp-web
name: Web renewals
renewal_window_days: 30
alert_thresholds_days: [14, 7]
---
kind: Issuer
id: iss-ca
name: Web CA
type: GenericCA
enabled: true
config:
  ca_common_name: Web Test CA
  validity_days: 90
---
kind: PolicyRule
id: pr-life
name: Lifetime
type: CertificateLifetime
severity: Warning
enabled: true
config:
  max_days: 397
---
kind: Certificate
id: mc-www
common_name: www.example.com
sans: [www.example.com]
environment: production
owner_id: o-ann
team_id: t-web
issuer_id: iss-ca
renewal_policy_id: rp-web
tags:
  service: www
---
kind: Certificate
id: mc-old
common_name: old.example.com
owner_id: o-ann
team_id: t-web
issuer_id: iss-ca
`

func TestCLI_DiffShowsTheOneFieldEdited(t *testing.T) {
	url := resourceNode(t, false)
	dir := t.TempDir()
	file := writeFile(t, dir, "inventory.yaml", inventory)
	cli(t, url, "apply", "-f", file)

	edited := strings.Replace(inventory, "email: ann@example.com", "email: ann@example.org", 1)
	writeFile(t, dir, "inventory.yaml", edited)
	out, errOut, err := runCLI(t, nil, "--server", url, "diff", "-f", file)
	require.Error(t, err)
	assert.False(t, isUsage(err), "a difference is exit status 1, not 2")
	assert.ErrorIs(t, err, errDiffers)
	assert.Equal(t, "~ owner o-ann\n    email: \"ann@example.com\" -> \"ann@example.org\"\n", out, errOut)

	// Dry run changes nothing; apply changes that field only.
	out = cli(t, url, "apply", "-f", file, "--dry-run")
	assert.Equal(t, "would update owner o-ann (email)\ndry run: nothing was changed\n", out)
	assert.Equal(t, "ann@example.com", decodeJSON(t, cli(t, url, "owner", "get", "o-ann", "-o", "json"))["email"])
	out = cli(t, url, "apply", "-f", file)
	assert.Equal(t, "updated owner o-ann (email)\n1 changed, 6 unchanged\n", out)
	assert.Equal(t, "ann@example.org", decodeJSON(t, cli(t, url, "owner", "get", "o-ann", "-o", "json"))["email"])

	// A nested field is named by its path.
	writeFile(t, dir, "inventory.yaml", strings.Replace(edited, "max_days: 397", "max_days: 200", 1))
	out, _, err = runCLI(t, nil, "--server", url, "diff", "-f", file)
	assert.ErrorIs(t, err, errDiffers)
	assert.Equal(t, "~ policy pr-life\n    config.max_days: 397 -> 200\n", out)

	// An error is exit status 2.
	_, _, err = runCLI(t, nil, "--server", url, "diff", "-f", filepath.Join(dir, "missing.yaml"))
	assert.True(t, isUsage(err), "%v", err)
}

func TestCLI_PruneArchivesARemovedCertificateOnly(t *testing.T) {
	url := resourceNode(t, false)
	dir := t.TempDir()
	cli(t, url, "apply", "-f", writeFile(t, dir, "inventory.yaml", inventory))
	cli(t, url, "team", "create", "--id", "t-other", "--name", "Other")

	// The file without mc-old and without teams at all.
	i := strings.Index(inventory, "---\nkind: Certificate\nid: mc-old")
	certsOnly := inventory[strings.Index(inventory, "kind: Certificate"):i]
	file := writeFile(t, dir, "certs.yaml", certsOnly)
	out, _, err := runCLI(t, nil, "--server", url, "diff", "-f", file, "--prune")
	assert.ErrorIs(t, err, errDiffers)
	assert.Equal(t, "- certificate mc-old (archive)\n", out)
	out = cli(t, url, "apply", "-f", file, "--prune")
	assert.Equal(t, "archived certificate mc-old\n1 changed, 1 unchanged\n", out)

	assert.Equal(t, "Archived", decodeJSON(t, cli(t, url, "cert", "get", "mc-old", "-o", "json"))["status"])
	assert.NotEqual(t, "Archived", decodeJSON(t, cli(t, url, "cert", "get", "mc-www", "-o", "json"))["status"])
	// No other kind was touched: both teams, the owner, the rule are there.
	for _, args := range [][]string{{"team", "get", "t-other"}, {"team", "get", "t-web"}, {"owner", "get", "o-ann"}, {"policy", "get", "pr-life"}, {"issuer", "get", "iss-ca"}} {
		cli(t, url, args...)
	}
	// Pruning again: the archived certificate is gone from the plan.
	assert.Equal(t, "no change: the cluster matches the inventory (1 resource)\n", cli(t, url, "apply", "-f", file, "--prune"))
}

func TestCLI_ApplyRefusesBadInputNamingFileDocumentAndLine(t *testing.T) {
	url := resourceNode(t, false)
	dir := t.TempDir()
	good := "kind: Team\nid: t-first\nname: First\n"
	for _, tc := range []struct {
		name, doc, want string
	}{
		{"unknown kind", "kind: Gadget\nid: g-1\n", `bad.yaml: document 2: line 5: unknown kind "Gadget": one of Team, Owner, Issuer`},
		{"unknown field", "kind: Team\nid: t-2\nname: Two\ncolour: blue\n", `bad.yaml: document 2: line 8: unknown field "colour" for Team`},
		{"missing owner", "kind: Certificate\nid: mc-1\ncommon_name: a.example.com\nteam_id: t-first\nissuer_id: iss-x\nowner_id: o-nobody\n",
			`bad.yaml: document 2: line 10: owner_id "o-nobody": no Owner o-nobody in the files or the cluster`},
		{"syntax error", "kind: Team\nid: [t-3\nname: x\n", `bad.yaml: document 2: line 6: YAML syntax:`},
		{"literal secret", "kind: Issuer\nid: iss-a\nname: A\ntype: ACME\nconfig:\n  directory_url: https://acme.example/dir\n  eab_hmac_key: c2VjcmV0\n",
			`bad.yaml: document 2: line 11: field config.eab_hmac_key: eab_hmac_key is a secret of issuer type ACME: give it as eab_hmac_key_file: PATH`},
		{"syntax error in a mapping", "kind: Team\nid: t-5\n  name: x\n", `bad.yaml: document 2: line 7: YAML syntax: mapping values are not allowed in this context`},
		{"alias bomb", "kind: Team\nid: t-lol\na: &a [x,x,x,x,x,x,x,x,x,x]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b,*b]\nd: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c,*c]\ne: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d,*d]\nf: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e,*e]\ng: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f,*f]\n", `bad.yaml: document 2: line 7: the document expands to more than 1048576 values (through aliases?)`},
		{"hostile text", "kind: Owner\nid: o-2\nname: x\nteam_id: \"t-\\e[2J\"\n", `bad.yaml: document 2: line 8: team_id "t-\x1b[2J": no Team t-\x1b[2J in the files`},
		{"wrong type", "kind: Team\nid: t-4\nname: [a, b]\n", `bad.yaml: document 2: line 7: field name must be text`},
		{"server field", "kind: Certificate\nid: mc-2\ncommon_name: b.example.com\nstatus: Active\n", `bad.yaml: document 2: line 8: field "status" of Certificate is set by the server`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			file := writeFile(t, dir, "bad.yaml", good+"---\n"+tc.doc)
			_, _, err := runCLI(t, nil, "--server", url, "apply", "-f", file)
			require.Error(t, err)
			assert.True(t, isUsage(err))
			assert.Contains(t, err.Error(), tc.want)
			assert.Contains(t, err.Error(), file)
			assert.NotContains(t, err.Error(), "\x1b", "the file's text is escaped")
			// Nothing applied: not even the good first document.
			_, err = cliErr(t, url, "team", "get", "t-first")
			require.Error(t, err, "the first document was not applied")
		})
	}
}

func TestCLI_ApplyReadsSecretsFromFiles(t *testing.T) {
	url := resourceNode(t, false)
	dir := t.TempDir()
	registerAgent(t, url, "ag-lb", "lb", "lb.example.com")
	require.NoError(t, os.WriteFile(filepath.Join(dir, "f5.pw"), []byte("hunter2-secret\n"), 0o600))
	doc := "kind: Target\nid: tgt-f5\nname: F5\ntype: F5\nagent_id: ag-lb\nenabled: true\nconfig:\n  host: lb.example.com\n  username: admin\n  password_file: f5.pw\n"
	file := writeFile(t, dir, "target.yaml", doc)

	out, _, err := runCLI(t, nil, "--server", url, "diff", "-f", file)
	assert.ErrorIs(t, err, errDiffers)
	assert.Contains(t, out, "config.password: (from file)")
	assert.NotContains(t, out, "hunter2", "diff never shows a secret")
	out = cli(t, url, "apply", "-f", file)
	assert.NotContains(t, out, "hunter2")
	got := decodeJSON(t, cli(t, url, "target", "get", "tgt-f5", "-o", "json"))
	assert.Equal(t, "********", got["config"].(map[string]any)["password"], "the secret is stored (and shown redacted)")
	assert.Equal(t, "no change: the cluster matches the inventory (1 resource)\n", cli(t, url, "apply", "-f", file))

	// Export names the stored secret in a comment, never its value, and
	// its output applies back without change.
	exported := cli(t, url, "export", "-o", "yaml", "--kind", "target")
	assert.Contains(t, exported, "# config.password is stored in the cluster and kept; to set it, give config.password_file: PATH")
	assert.NotContains(t, exported, "********")
	assert.Equal(t, "no change: the cluster matches the inventory (1 resource)\n", cli(t, url, "apply", "-f", writeFile(t, dir, "exported.yaml", exported)))

	// Moved to another host without its password, the target loses it, and
	// apply says so.
	moved := writeFile(t, dir, "moved.yaml", strings.Replace(exported, "host: lb.example.com", "host: lb2.example.com", 1))
	out, errOut, err := runCLI(t, nil, "--server", url, "apply", "-f", moved)
	require.NoError(t, err)
	assert.Equal(t, "updated target tgt-f5 (config.host)\n1 changed, 0 unchanged\n", out)
	assert.Contains(t, errOut, "warning: target tgt-f5 moved and its secrets password were cleared: give them again (config.NAME_file)")

	// A secret given as a value is refused, naming the field and the _file form.
	writeFile(t, dir, "target.yaml", strings.Replace(doc, "password_file: f5.pw", "password: hunter2", 1))
	_, _, err = runCLI(t, nil, "--server", url, "apply", "-f", file)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "target.yaml: document 1: line 10: field config.password: password is a secret of target type F5: give it as password_file: PATH")
}

// TestCLI_ExampleInventoryApplies applies docs/examples/inventory to a new
// cluster (with its agent registered and its secret file written), then
// again without a change.
func TestCLI_ExampleInventoryApplies(t *testing.T) {
	url := resourceNode(t, false)
	dir := t.TempDir()
	examples := filepath.Join("..", "..", "docs", "examples", "inventory")
	entries, err := os.ReadDir(examples)
	require.NoError(t, err)
	for _, e := range entries {
		raw, err := os.ReadFile(filepath.Join(examples, e.Name()))
		require.NoError(t, err)
		writeFile(t, dir, e.Name(), string(raw))
	}
	require.NoError(t, os.Mkdir(filepath.Join(dir, "secrets"), 0o700))
	writeFile(t, filepath.Join(dir, "secrets"), "acme-eab.key", "ZXhhbXBsZS1obWFjLWtleQ\n")
	registerAgent(t, url, "ag-web-1", "web-1", "web-1.example.com")

	out := cli(t, url, "apply", "-f", dir)
	assert.Contains(t, out, "created certificate mc-www")
	assert.Contains(t, out, "created policy pr-domains")
	assert.Equal(t, "no change: the cluster matches the inventory (11 resources)\n", cli(t, url, "apply", "-f", dir))
	iss := decodeJSON(t, cli(t, url, "issuer", "get", "iss-acme", "-o", "json"))
	assert.Equal(t, "********", iss["config"].(map[string]any)["eab_hmac_key"])
}

// TestCLI_ApplySecretFilesStayInTheInventory: an inventory cannot name a
// secret file outside its directories (a change to it could otherwise read
// any file of the machine that applies it and send it to a target's host),
// even through a symbolic link; --secrets-dir allows another directory.
func TestCLI_ApplySecretFilesStayInTheInventory(t *testing.T) {
	url := resourceNode(t, false)
	registerAgent(t, url, "ag-lb", "lb", "lb.example.com")
	outside := t.TempDir()
	writeFile(t, outside, "id_rsa", "not for the F5\n")
	dir := t.TempDir()
	doc := "kind: Target\nid: tgt-f5\nname: F5\ntype: F5\nagent_id: ag-lb\nconfig:\n  host: attacker.example\n  password_file: %s\n"
	for _, ref := range []string{filepath.Join(outside, "id_rsa"), "../" + filepath.Base(outside) + "/id_rsa", "link"} {
		if ref == "link" {
			require.NoError(t, os.Symlink(filepath.Join(outside, "id_rsa"), filepath.Join(dir, "link")))
		}
		file := writeFile(t, dir, "t.yaml", strings.Replace(doc, "%s", ref, 1))
		_, _, err := runCLI(t, nil, "--server", url, "apply", "-f", file)
		require.Error(t, err, ref)
		assert.Contains(t, err.Error(), "t.yaml: document 1: line 8: field config.password_file:")
		assert.Contains(t, err.Error(), "is outside the inventory's directories")
		_, err = cliErr(t, url, "target", "get", "tgt-f5")
		require.Error(t, err, "nothing applied")
	}
	out := cli(t, url, "apply", "-f", filepath.Join(dir, "t.yaml"), "--secrets-dir", outside)
	assert.Equal(t, "created target tgt-f5\n1 changed, 0 unchanged\n", out)
}

// TestCLI_ApplyStopsAtARefusedWrite: a write the API refuses (a rule of
// severity Error in the cluster) stops apply, naming the resource, how far
// it got and the API's field; what came before it stays.
func TestCLI_ApplyStopsAtARefusedWrite(t *testing.T) {
	url := resourceNode(t, false)
	cli(t, url, "policy", "create", "--id", "pr-dom", "--name", "Domains", "--type", "AllowedDomains", "--severity", "Error", "--enabled",
		"--config", "allowed_domains=[example.com]")
	i := strings.Index(inventory, "---\nkind: PolicyRule")
	j := strings.Index(inventory, "---\nkind: Certificate")
	file := writeFile(t, t.TempDir(), "inventory.yaml", inventory[:i]+inventory[j:]+
		"---\nkind: Certificate\nid: mc-bad\ncommon_name: www.example.org\nowner_id: o-ann\nteam_id: t-web\nissuer_id: iss-ca\n")
	out, _, err := runCLI(t, nil, "--server", url, "apply", "-f", file)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "create certificate mc-bad (after 6 of 7 changes): Unprocessable Entity: field ")
	assert.Contains(t, err.Error(), "violates policy rule pr-dom")
	assert.Contains(t, out, "created certificate mc-old\n")
	cli(t, url, "cert", "get", "mc-www")
}
