package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/certctl/certctl/api/wire"
)

// cliRun is the outcome of one CLI invocation.
type cliRun struct {
	args           []string
	stdout, stderr string
	code           int
}

// runCLI runs the certctl binary with args, without any CERTCTL_* variable
// of the test's environment, and returns its output and exit code. It fails
// the test if the process cannot be run or outlives 30 s.
func runCLI(t *testing.T, args ...string) cliRun {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, certctlBin, args...)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "CERTCTL_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	r := cliRun{args: args, stdout: out.String(), stderr: errOut.String()}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee) && ctx.Err() == nil:
		r.code = ee.ExitCode()
	default:
		t.Fatalf("certctl %s: %v\nstderr: %s", strings.Join(args, " "), err, r.stderr)
	}
	return r
}

// requireCode requires the exit code and returns r for chaining.
func (r cliRun) requireCode(t *testing.T, code int) cliRun {
	t.Helper()
	require.Equal(t, code, r.code, "certctl %s\nstdout: %s\nstderr: %s", strings.Join(r.args, " "), r.stdout, r.stderr)
	return r
}

// decode decodes stdout (-o json) into v.
func (r cliRun) decode(t *testing.T, v any) {
	t.Helper()
	require.NoError(t, json.Unmarshal([]byte(r.stdout), v), "certctl %s: stdout is not JSON: %s", strings.Join(r.args, " "), r.stdout)
}

// TestCLI_AgainstCluster runs the operator CLI as a subprocess against a
// three-node cluster, with --server naming a dead address first and then two
// members, so every call also exercises the fallback to the next server.
func TestCLI_AgainstCluster(t *testing.T) {
	skipShort(t)
	c := NewCluster(t, certctlBin)
	c.Start(3)
	leader := c.WaitLeader()
	fx := c.Seed(leader)
	dead, err := FreeAddr() // nothing listens there
	require.NoError(t, err)
	fs := c.Followers(leader)
	server := strings.Join([]string{"https://" + dead, fs[0].URL(), fs[1].URL()}, ",")
	as := func(key string, args ...string) []string {
		return append([]string{"--server", server, "--ca-file", c.CAFile(), "--api-key", key}, args...)
	}

	// An operator key, made with the admin key.
	var key wire.APIKeyCreated
	runCLI(t, as(AdminKey, "key", "create", "--name", "cli-operator", "--role", "operator", "-o", "json")...).requireCode(t, 0).decode(t, &key)
	require.NotEmpty(t, key.APIKey)
	assert.Equal(t, "operator", key.Role)
	assert.Equal(t, "cli-operator", key.Name)
	r := runCLI(t, as(AdminKey, "key", "create", "--name", "cli-viewer", "--role", "viewer")...).requireCode(t, 0)
	assert.Contains(t, r.stdout, "cli-viewer")
	assert.Contains(t, r.stderr, "not shown again", "the table output warns that the secret is shown once")
	op := key.APIKey

	// Certificates, as the operator.
	var created wire.Certificate
	runCLI(t, as(op, "cert", "create", "--id", "mc-cli-1", "--name", "cli one", "--common-name", "one.cli.example.com",
		"--san", "one.cli.example.com", "--san", "uno.cli.example.com", "--owner", fx.OwnerID, "--team", fx.TeamID,
		"--issuer", fx.IssuerID, "--environment", "production", "--tag", "tier=1", "-o", "json")...).requireCode(t, 0).decode(t, &created)
	assert.Equal(t, "mc-cli-1", created.ID)
	assert.Equal(t, "cli one", created.Name)
	assert.Equal(t, []string{"one.cli.example.com", "uno.cli.example.com"}, created.SANs)
	assert.Equal(t, map[string]string{"tier": "1"}, created.Tags)
	r = runCLI(t, as(op, "cert", "create", "--id", "mc-cli-2", "--common-name", "two.cli.example.com",
		"--owner", fx.OwnerID, "--team", fx.TeamID, "--issuer", fx.IssuerID)...).requireCode(t, 0)
	assert.Contains(t, r.stdout, "mc-cli-2")
	assert.Contains(t, r.stdout, "two.cli.example.com")
	r = runCLI(t, as(op, "cert", "create", "--id", "mc-cli-1", "--common-name", "again.cli.example.com",
		"--owner", fx.OwnerID, "--team", fx.TeamID, "--issuer", fx.IssuerID)...).requireCode(t, 1)
	assert.Contains(t, r.stderr, "Conflict")
	runCLI(t, as(op, "cert", "create")...).requireCode(t, 2) // no fields: a usage error

	var list wire.List[wire.Certificate]
	runCLI(t, as(op, "cert", "list", "-o", "json")...).requireCode(t, 0).decode(t, &list)
	assert.Equal(t, 2, list.Total)
	var ids []string
	for _, ct := range list.Data {
		ids = append(ids, ct.ID)
	}
	assert.ElementsMatch(t, []string{"mc-cli-1", "mc-cli-2"}, ids)
	r = runCLI(t, as(op, "cert", "list")...).requireCode(t, 0)
	assert.Contains(t, r.stdout, "mc-cli-1")
	assert.Contains(t, r.stdout, "mc-cli-2")

	r = runCLI(t, as(op, "cert", "revoke", "mc-cli-1", "--reason", "keyCompromise")...).requireCode(t, 0)
	assert.Contains(t, r.stdout, "revoked mc-cli-1 (keyCompromise)")
	var got wire.Certificate
	runCLI(t, as(op, "cert", "get", "mc-cli-1", "-o", "json")...).requireCode(t, 0).decode(t, &got)
	assert.Equal(t, "Revoked", string(got.Status))
	r = runCLI(t, as(op, "cert", "revoke", "mc-cli-1", "--reason", "keyCompromise")...).requireCode(t, 1)
	assert.Contains(t, r.stderr, "already revoked")
	runCLI(t, as(op, "cert", "revoke", "mc-cli-2", "--reason", "tired")...).requireCode(t, 2)
	runCLI(t, as(op, "cert", "revoke")...).requireCode(t, 2)
	r = runCLI(t, as(op, "cert", "get", "mc-cli-none")...).requireCode(t, 1)
	assert.Contains(t, r.stderr, "Not Found")

	// The audit trail: intact, and the operator's actions carry its name.
	r = runCLI(t, as(AdminKey, "audit", "verify")...).requireCode(t, 0)
	assert.Contains(t, r.stdout, "audit chain intact")
	var events wire.List[wire.AuditEvent]
	runCLI(t, as(AdminKey, "audit", "list", "--actor", "cli-operator", "--per-page", "500", "-o", "json")...).requireCode(t, 0).decode(t, &events)
	actions := map[string][]string{}
	for _, e := range events.Data {
		assert.Equal(t, "cli-operator", e.Actor)
		assert.Equal(t, "User", string(e.ActorType))
		actions[e.Action] = append(actions[e.Action], e.ResourceID)
	}
	assert.ElementsMatch(t, []string{"mc-cli-1", "mc-cli-2"}, actions["certificate_created"], "actions: %v", actions)
	assert.Equal(t, []string{"mc-cli-1"}, actions["certificate_revoked"], "actions: %v", actions)
	var all wire.List[wire.AuditEvent]
	runCLI(t, as(AdminKey, "audit", "list", "--action", "api_key_created", "-o", "json")...).requireCode(t, 0).decode(t, &all)
	var made []string
	for _, e := range all.Data {
		made = append(made, e.ResourceID)
		assert.NotContains(t, string(e.Details), key.APIKey, "a key's secret is never in the audit trail")
		if e.ResourceID == key.ID {
			assert.Equal(t, "admin", e.ActorRole, "the operator key was made by an admin")
		}
	}
	assert.Contains(t, made, key.ID)
	r = runCLI(t, as(op, "audit", "verify")...).requireCode(t, 0) // operators may read the audit trail

	// Keys: listed without secrets, revoked, refused afterwards.
	var keys wire.List[wire.APIKey]
	r = runCLI(t, as(AdminKey, "key", "list", "-o", "json")...).requireCode(t, 0)
	r.decode(t, &keys)
	assert.NotContains(t, r.stdout, key.APIKey)
	byName := map[string]wire.APIKey{}
	for _, k := range keys.Data {
		byName[k.Name] = k
	}
	require.Contains(t, byName, "cli-operator")
	assert.Equal(t, key.ID, byName["cli-operator"].ID)
	assert.Nil(t, byName["cli-operator"].RevokedAt)
	r = runCLI(t, as(op, "key", "list")...).requireCode(t, 1)
	assert.Contains(t, r.stderr, "role does not allow it")
	r = runCLI(t, as(AdminKey, "key", "revoke", key.ID)...).requireCode(t, 0)
	assert.Contains(t, r.stdout, key.ID)
	r = runCLI(t, as(op, "cert", "list")...).requireCode(t, 1)
	assert.Contains(t, r.stderr, "was revoked")
	assert.Contains(t, r.stderr, "--api-key")
	runCLI(t, as(AdminKey, "key", "list", "-o", "json")...).requireCode(t, 0).decode(t, &keys)
	for _, k := range keys.Data {
		if k.ID == key.ID {
			assert.NotNil(t, k.RevokedAt, "revoked_at of the revoked key")
		}
	}

	// No key at all; no server reachable.
	r = runCLI(t, "--server", server, "--ca-file", c.CAFile(), "cert", "list").requireCode(t, 1)
	assert.Contains(t, r.stderr, "--api-key")
	r = runCLI(t, "--server", "https://"+dead, "--ca-file", c.CAFile(), "--api-key", AdminKey, "status").requireCode(t, 1)
	assert.Contains(t, r.stderr, "is certctl running there?")

	// Status: every member, the leader marked.
	r = runCLI(t, as(AdminKey, "status")...).requireCode(t, 0)
	assert.Contains(t, r.stdout, leader.ID+"*")
	for _, n := range c.Nodes() {
		assert.Contains(t, r.stdout, n.APIAddr)
	}
	var st wire.ClusterStatus
	runCLI(t, as(AdminKey, "status", "-o", "json")...).requireCode(t, 0).decode(t, &st)
	require.NotNil(t, st.Leader)
	assert.Equal(t, leader.ID, st.Leader.NodeID)
	assert.Len(t, st.Members, 3)
	for _, m := range st.Members {
		assert.True(t, m.Healthy, "member %s healthy: %+v", m.NodeID, m)
	}
	assert.Contains(t, []string{fs[0].ID, fs[1].ID}, st.NodeID, "answered by the first live server given")
}
