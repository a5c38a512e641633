package api_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/certctl/certctl/api"
	"github.com/certctl/certctl/connectors/issuer"
	"github.com/certctl/certctl/connectors/issuer/acme"
	"github.com/certctl/certctl/connectors/issuer/localca"
	"github.com/certctl/certctl/connectors/keywrap"
	"github.com/certctl/certctl/connectors/target"
	"github.com/certctl/certctl/connectors/target/f5"
	"github.com/certctl/certctl/connectors/target/iis"
	"github.com/certctl/certctl/fsm"
)

const (
	f5Password  = "s3cret-f5!"
	iisPassword = "p@ss'word-iis"
)

// secretsEnv is a node whose API seals target secrets with a fresh KEK,
// with refs, an agent (and its key) and a second agent.
type secretsEnv struct {
	*env
	box                    *keywrap.Box
	ref                    refs
	agentID, agentKey      string
	otherID, otherAgentKey string
}

func newSecretsEnv(t *testing.T) *secretsEnv {
	t.Helper()
	kek, err := keywrap.NewKEK(nil)
	require.NoError(t, err)
	box, err := keywrap.NewBox(kek)
	require.NoError(t, err)
	e := newEnv(t, api.Config{RateLimit: -1, Secrets: box, TargetSecrets: targetSecrets(), IssuerTypes: issuerTypes(t)})
	s := &secretsEnv{env: e, box: box, ref: e.refs(t, e.admin)}
	s.agentID, s.agentKey = e.agent(t, e.admin)
	s.otherID, s.otherAgentKey = e.agent(t, e.admin)
	return s
}

// targetSecrets and issuerSecrets are the connectors' declarations, as
// cmd wires them.
func targetSecrets() *target.SecretTable {
	return target.NewSecretTable(map[string]target.Secrets{"F5": f5.Secrets(), "IIS": iis.Secrets()})
}

func issuerTypes(t *testing.T) *issuer.Registry {
	t.Helper()
	reg, err := issuer.NewRegistry(append([]issuer.Connector{localca.Connector(nil), acme.Connector(nil, nil, acme.Options{})}, issuer.Planned()...)...)
	require.NoError(t, err)
	return reg
}

func f5Config(password any) map[string]any {
	return map[string]any{"host": "bigip.example.net", "username": "admin", "password": password, "ssl_profile": "clientssl-www"}
}

// createTarget creates a target of typ with config as admin and returns
// its id and the answer.
func (s *secretsEnv) createTarget(t *testing.T, typ string, config map[string]any) (string, answer) {
	t.Helper()
	id := s.id("tgt-")
	a := s.must(t, 201, "POST", "/api/v1/targets", map[string]any{"id": id, "name": id, "type": typ, "agent_id": s.agentID,
		"config": config, "enabled": true})
	return id, a
}

// stored is the config of target id as the state machine holds it.
func (s *secretsEnv) stored(t *testing.T, id string) map[string]any {
	t.Helper()
	tgt, err := s.node.FSM().Target(id)
	require.NoError(t, err)
	var m map[string]any
	require.NoError(t, json.Unmarshal(tgt.Config, &m))
	return m
}

// work queues a Deployment job for target id (through a certificate
// mapped to it) and returns the target config the agent's work hands it,
// asked for with key.
func (s *secretsEnv) work(t *testing.T, key, targetID string) map[string]any {
	t.Helper()
	certID := s.cert(t, s.admin, s.ref, map[string]any{"target_ids": []string{targetID}})
	s.propose(t, &fsm.CreateJobs{Jobs: []fsm.Job{{ID: s.id("job-"), Type: fsm.JobDeployment, CertificateID: certID,
		TargetID: targetID, AgentID: s.agentID}}})
	return s.workConfig(t, key, targetID)
}

func (s *secretsEnv) workConfig(t *testing.T, key, targetID string) map[string]any {
	t.Helper()
	a := s.mustAs(t, key, 200, "GET", "/api/v1/agents/"+s.agentID+"/work", nil)
	var w struct {
		Jobs []struct {
			TargetID     string         `json:"target_id"`
			TargetConfig map[string]any `json:"target_config"`
		} `json:"jobs"`
	}
	require.NoError(t, json.Unmarshal(a.raw, &w))
	for _, j := range w.Jobs {
		if j.TargetID == targetID {
			return j.TargetConfig
		}
	}
	require.Failf(t, "no work item", "for target %s: %s", targetID, a.raw)
	return nil
}

func configOf(t *testing.T, a answer) map[string]any {
	t.Helper()
	cfg, ok := a.body["config"].(map[string]any)
	require.True(t, ok, "config in %s", a.raw)
	return cfg
}

func requireSealed(t *testing.T, v any) string {
	t.Helper()
	s, _ := v.(string)
	require.True(t, strings.HasPrefix(s, keywrap.FieldPrefix), "stored sealed, not %q", v)
	return s
}

// TestAPI_TargetSecretsSealedAndRedacted: an F5 password and an IIS WinRM
// password are sealed before they are proposed (the state machine, its
// audit and every answer to people hold neither the password nor the
// sealed blob; answers show "********"), and type and field names are
// matched without regard to case.
func TestAPI_TargetSecretsSealedAndRedacted(t *testing.T) {
	s := newSecretsEnv(t)
	f5ID, created := s.createTarget(t, "F5", f5Config(f5Password))
	assert.Equal(t, "********", configOf(t, created)["password"], "the create answer shows the placeholder")
	assert.Equal(t, "bigip.example.net", configOf(t, created)["host"], "other fields are shown")
	requireSealed(t, s.stored(t, f5ID)["password"])

	iisID, _ := s.createTarget(t, "iis", map[string]any{"hostname": "web01", "WinRM_Password": iisPassword})
	iisStored := s.stored(t, iisID)
	requireSealed(t, iisStored["winrm_password"])
	assert.NotContains(t, iisStored, "WinRM_Password", "stored under the field's own name")

	for _, path := range []string{"/api/v1/targets", "/api/v1/targets?type=F5", "/api/v1/targets/" + f5ID, "/api/v1/targets/" + iisID,
		"/api/v1/audit?per_page=500", "/api/v1/jobs"} {
		a := s.must(t, 200, "GET", path, nil)
		for _, secret := range []string{f5Password, iisPassword, "sealed:"} {
			assert.NotContains(t, string(a.raw), secret, path)
		}
	}
	assert.Equal(t, "********", configOf(t, s.must(t, 200, "GET", "/api/v1/targets/"+iisID, nil))["winrm_password"])
	list := s.must(t, 200, "GET", "/api/v1/targets?type=IIS", nil)
	assert.Contains(t, string(list.raw), `"winrm_password":"********"`)

	// The sealed value is bound to its target, field and agent.
	sealed, ok, err := keywrap.ParseField(requireSealed(t, s.stored(t, f5ID)["password"]))
	require.True(t, ok)
	require.NoError(t, err)
	plain, err := s.box.Open(sealed, keywrap.FieldAAD("target", f5ID, "password", s.agentID))
	require.NoError(t, err)
	assert.Equal(t, f5Password, string(plain))
	_, err = s.box.Open(sealed, keywrap.FieldAAD("target", iisID, "password", s.agentID))
	assert.ErrorIs(t, err, keywrap.ErrOpen, "not for another target")
	_, err = s.box.Open(sealed, keywrap.FieldAAD("target", f5ID, "password", s.otherID))
	assert.ErrorIs(t, err, keywrap.ErrOpen, "not for another agent")

	// A target type without secrets is stored as given.
	ngx := s.target(t, s.admin, s.agentID)
	assert.Equal(t, "/etc/nginx/"+ngx+".crt", s.stored(t, ngx)["cert_path"])
}

// TestAPI_TargetSecretsUpdate: a PUT that sends the placeholder or omits
// the field keeps the stored sealed value; a new value replaces it; ""
// clears it. The agent's work follows.
func TestAPI_TargetSecretsUpdate(t *testing.T) {
	s := newSecretsEnv(t)
	id, created := s.createTarget(t, "F5", f5Config(f5Password))
	first := requireSealed(t, s.stored(t, id)["password"])
	assert.Equal(t, f5Password, s.work(t, s.agentKey, id)["password"])

	put := func(config map[string]any) answer {
		return s.must(t, 200, "PUT", "/api/v1/targets/"+id, map[string]any{"name": id, "type": "F5", "agent_id": s.agentID,
			"config": config, "enabled": true})
	}
	// What GET answered, sent back with one field changed.
	shown := configOf(t, created)
	shown["ssl_profile"] = "clientssl-api"
	a := put(shown)
	assert.Equal(t, "********", configOf(t, a)["password"])
	assert.Equal(t, first, s.stored(t, id)["password"], "the placeholder keeps the stored value")
	assert.Equal(t, "clientssl-api", s.stored(t, id)["ssl_profile"])

	omitted := f5Config(nil)
	delete(omitted, "password")
	put(omitted)
	assert.Equal(t, first, s.stored(t, id)["password"], "an omitted secret keeps the stored value")
	assert.Equal(t, f5Password, s.workConfig(t, s.agentKey, id)["password"])

	put(f5Config("n3w-s3cret"))
	replaced := requireSealed(t, s.stored(t, id)["password"])
	assert.NotEqual(t, first, replaced)
	assert.Equal(t, "n3w-s3cret", s.workConfig(t, s.agentKey, id)["password"], "a new value replaces it")

	a = put(f5Config(""))
	assert.Equal(t, "", configOf(t, a)["password"], "an empty secret is shown empty")
	assert.Equal(t, "", s.stored(t, id)["password"], "\"\" clears it")
	assert.Equal(t, "", s.workConfig(t, s.agentKey, id)["password"])

	requireError(t, s.as(t, s.admin, "PUT", "/api/v1/targets/"+id, map[string]any{"name": id, "type": "F5", "agent_id": s.agentID,
		"config": f5Config("********")}), 400, "config.password")
}

// TestAPI_TargetSecretsOnlyToTheOwnAgent: the work of an agent carries its
// target's password in the clear to the agent's own key only; an admin or
// operator calling the same route gets the placeholder, another agent's
// key is refused.
func TestAPI_TargetSecretsOnlyToTheOwnAgent(t *testing.T) {
	s := newSecretsEnv(t)
	id, _ := s.createTarget(t, "F5", f5Config(f5Password))
	own := s.work(t, s.agentKey, id)
	assert.Equal(t, f5Password, own["password"], "the agent's own key gets the password")
	assert.Equal(t, "bigip.example.net", own["host"])

	operator := s.bootstrapKey(t, "operator", fsm.RoleOperator, "")
	for _, key := range []string{s.admin, operator} {
		cfg := s.workConfig(t, key, id)
		assert.Equal(t, "********", cfg["password"], "a key calling on the agent's behalf gets the placeholder")
	}
	a := s.as(t, s.admin, "GET", "/api/v1/agents/"+s.agentID+"/work", nil)
	assert.NotContains(t, string(a.raw), f5Password)
	assert.NotContains(t, string(a.raw), "sealed:")
	requireError(t, s.as(t, s.otherAgentKey, "GET", "/api/v1/agents/"+s.agentID+"/work", nil), 403, "")
}

// TestAPI_TargetSecretThatDoesNotOpen: a password sealed under another
// cluster's KEK leaves that work item without a password; the poll still
// answers, with the other items whole.
func TestAPI_TargetSecretThatDoesNotOpen(t *testing.T) {
	s := newSecretsEnv(t)
	good, _ := s.createTarget(t, "F5", f5Config(f5Password))
	s.work(t, s.agentKey, good)

	kek, err := keywrap.NewKEK(nil)
	require.NoError(t, err)
	foreign, err := keywrap.NewBox(kek)
	require.NoError(t, err)
	bad := s.id("tgt-")
	sealed, err := foreign.Seal([]byte(f5Password), keywrap.FieldAAD("target", bad, "password", s.agentID))
	require.NoError(t, err)
	raw, err := json.Marshal(f5Config(keywrap.FormatField(sealed)))
	require.NoError(t, err)
	s.propose(t, &fsm.CreateTarget{Target: fsm.Target{ID: bad, Name: bad, Type: "F5", AgentID: s.agentID, Config: raw, Enabled: true}})

	cfg := s.work(t, s.agentKey, bad)
	assert.NotContains(t, cfg, "password", "no secret rather than a wrong one")
	assert.Equal(t, "bigip.example.net", cfg["host"])
	assert.Equal(t, f5Password, s.workConfig(t, s.agentKey, good)["password"], "the other items are whole")
}

// TestAPI_TargetSecretsRefused: a sealed-looking value from a client (one
// copied from another target included), the placeholder on a create, a
// secret that is not a string and a secret named twice are refused; a node
// without a KEK refuses a password and names --kek-file.
func TestAPI_TargetSecretsRefused(t *testing.T) {
	s := newSecretsEnv(t)
	id, _ := s.createTarget(t, "F5", f5Config(f5Password))
	stolen := requireSealed(t, s.stored(t, id)["password"])
	post := func(typ string, config map[string]any) answer {
		nid := s.id("tgt-")
		return s.as(t, s.admin, "POST", "/api/v1/targets", map[string]any{"id": nid, "name": nid, "type": typ, "agent_id": s.agentID, "config": config})
	}
	requireError(t, post("F5", f5Config(stolen)), 400, "config.password")
	requireError(t, post("F5", f5Config("sealed:v1:AAAA")), 400, "config.password")
	requireError(t, post("IIS", map[string]any{"winrm_password": stolen}), 400, "config.winrm_password")
	requireError(t, s.as(t, s.admin, "PUT", "/api/v1/targets/"+id, map[string]any{"name": id, "type": "F5", "agent_id": s.agentID,
		"config": f5Config(stolen)}), 400, "config.password")
	requireError(t, post("F5", f5Config("********")), 400, "config.password")
	requireError(t, post("F5", f5Config(42)), 400, "config.password")
	requireError(t, post("F5", map[string]any{"password": "a", "PASSWORD": "b"}), 400, "config.password")

	bare := newEnv(t, api.Config{RateLimit: -1, TargetSecrets: targetSecrets()})
	agentID, _ := bare.agent(t, bare.admin)
	a := bare.as(t, bare.admin, "POST", "/api/v1/targets", map[string]any{"id": "tgt-f5", "name": "f5", "type": "F5", "agent_id": agentID,
		"config": f5Config(f5Password)})
	requireError(t, a, 501, "config.password")
	assert.Contains(t, a.body["message"], "--kek-file")
	_, err := bare.node.FSM().Target("tgt-f5")
	assert.Equal(t, fsm.CodeNotFound, fsm.CodeOf(err), "nothing was proposed")
	bare.must(t, 201, "POST", "/api/v1/targets", map[string]any{"id": "tgt-f5", "name": "f5", "type": "F5", "agent_id": agentID,
		"config": f5Config("")})
	bare.target(t, bare.admin, agentID) // types without secrets need no KEK
}

// TestAPI_TargetSecretStoredInTheClear: a password stored before secrets
// were sealed is shown as the placeholder, handed to the agent as it is,
// and sealed by the first update that keeps it.
func TestAPI_TargetSecretStoredInTheClear(t *testing.T) {
	s := newSecretsEnv(t)
	id := s.id("tgt-")
	raw, err := json.Marshal(f5Config(f5Password))
	require.NoError(t, err)
	s.propose(t, &fsm.CreateTarget{Target: fsm.Target{ID: id, Name: id, Type: "F5", AgentID: s.agentID, Config: raw, Enabled: true}})

	a := s.must(t, 200, "GET", "/api/v1/targets/"+id, nil)
	assert.Equal(t, "********", configOf(t, a)["password"])
	assert.Equal(t, f5Password, s.work(t, s.agentKey, id)["password"])

	s.must(t, 200, "PUT", "/api/v1/targets/"+id, map[string]any{"name": id, "type": "F5", "agent_id": s.agentID, "config": configOf(t, a)})
	requireSealed(t, s.stored(t, id)["password"])
	assert.Equal(t, f5Password, s.workConfig(t, s.agentKey, id)["password"])
}

// TestAPI_DevNodeKnowsItsAgents: on a --dev node (no authentication) an
// agent's own key on its own routes is still that agent, so a target's
// password reaches an agent run against `make run`; without the key, or
// with it on another agent's routes, the caller is the dev admin and gets
// the placeholder.
func TestAPI_DevNodeKnowsItsAgents(t *testing.T) {
	kek, err := keywrap.NewKEK(nil)
	require.NoError(t, err)
	box, err := keywrap.NewBox(kek)
	require.NoError(t, err)
	e := newEnv(t, api.Config{Dev: true, RateLimit: -1, Secrets: box, TargetSecrets: targetSecrets()})
	s := &secretsEnv{env: e, box: box, ref: e.refs(t, e.admin)}
	s.agentID, s.agentKey = e.agent(t, e.admin)
	s.otherID, s.otherAgentKey = e.agent(t, e.admin)
	id, _ := s.createTarget(t, "F5", f5Config(f5Password))
	assert.Equal(t, f5Password, s.work(t, s.agentKey, id)["password"])
	assert.Equal(t, "********", s.workConfig(t, "", id)["password"])
	assert.Equal(t, "********", s.workConfig(t, s.otherAgentKey, id)["password"], "another agent's key is no one in particular here")
}
