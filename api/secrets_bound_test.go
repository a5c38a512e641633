package api_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/certctl/certctl/api"
	"github.com/certctl/certctl/connectors/keywrap"
	"github.com/certctl/certctl/connectors/target"
	"github.com/certctl/certctl/connectors/target/f5"
	"github.com/certctl/certctl/fsm"
)

// workFor queues a Deployment job of target targetID for agentID and
// returns the target config the agent's work hands it, asked for with key.
func (s *secretsEnv) workFor(t *testing.T, agentID, key, targetID string) map[string]any {
	t.Helper()
	certID := s.cert(t, s.admin, s.ref, map[string]any{"target_ids": []string{targetID}})
	s.propose(t, &fsm.CreateJobs{Jobs: []fsm.Job{{ID: s.id("job-"), Type: fsm.JobDeployment, CertificateID: certID,
		TargetID: targetID, AgentID: agentID}}})
	return s.workConfigOf(t, agentID, key, targetID)
}

func (s *secretsEnv) workConfigOf(t *testing.T, agentID, key, targetID string) map[string]any {
	t.Helper()
	a := s.mustAs(t, key, 200, "GET", "/api/v1/agents/"+agentID+"/work", nil)
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

// putTarget updates F5 target id to agentID and config as admin.
func (s *secretsEnv) putTarget(t *testing.T, id, agentID string, config map[string]any) answer {
	t.Helper()
	return s.must(t, 200, "PUT", "/api/v1/targets/"+id, map[string]any{"name": id, "type": "F5", "agent_id": agentID,
		"config": config, "enabled": true})
}

// f5Refuses says whether the F5 connector, given config as an agent is,
// refuses it for want of a password.
func f5Refuses(t *testing.T, config map[string]any) bool {
	t.Helper()
	raw, err := json.Marshal(config)
	require.NoError(t, err)
	_, err = f5.ParseConfig(raw)
	var ce *target.ConfigError
	return err != nil && assert.ErrorAs(t, err, &ce) && ce.Field == "password"
}

// TestAPI_TargetMovedToAnotherAgentLosesItsSecrets: a target moved to
// another agent, or pointed at another device (host, port, the roots that
// authenticate it), while its password is kept as "********" loses the
// password: the answer and the audit say so, the new agent's work carries
// none (its connector refuses the job asking for the password), and the
// old agent, whose job was queued before the move, gets none either. A
// password given again with the move is sealed for the new agent. Fields
// that do not say where the password goes keep it.
func TestAPI_TargetMovedToAnotherAgentLosesItsSecrets(t *testing.T) {
	s := newSecretsEnv(t)
	id, created := s.createTarget(t, "F5", f5Config(f5Password))
	assert.Equal(t, f5Password, s.workFor(t, s.agentID, s.agentKey, id)["password"])
	shown := configOf(t, created)

	a := s.putTarget(t, id, s.otherID, shown)
	assert.Equal(t, []any{"password"}, a.body["secrets_cleared"], "the answer says the password was cleared: %s", a.raw)
	assert.Equal(t, "", configOf(t, a)["password"])
	assert.Equal(t, "", s.stored(t, id)["password"], "never re-bound to the new agent")
	audit := s.must(t, 200, "GET", "/api/v1/audit?resource_type=target&resource_id="+id+"&per_page=500", nil)
	assert.Contains(t, string(audit.raw), `"target_secrets_cleared"`)

	moved := s.workFor(t, s.otherID, s.otherAgentKey, id)
	assert.NotEqual(t, f5Password, moved["password"])
	assert.True(t, f5Refuses(t, moved), "the new agent's job fails asking for the password: %v", moved)
	old := s.workConfigOf(t, s.agentID, s.agentKey, id)
	assert.Empty(t, old["password"], "the old agent's queued job carries the password no more")

	// Given again with the move, it is the new agent's.
	a = s.putTarget(t, id, s.otherID, f5Config("f5-for-the-new-agent"))
	assert.NotContains(t, a.body, "secrets_cleared")
	assert.Equal(t, "f5-for-the-new-agent", s.workConfigOf(t, s.otherID, s.otherAgentKey, id)["password"])
	assert.NotContains(t, s.workConfigOf(t, s.agentID, s.agentKey, id), "password", "nor the one sealed for the new agent")

	// Where the password goes: each destination field clears it; the
	// others keep it.
	for _, change := range []struct {
		field string
		value any
		clear bool
	}{
		{"ssl_profile", "clientssl-api", false},
		{"username", "deployer", false},
		{"endpoint", "www.example.net:443", false},
		{"host", "bigip-2.example.net", true},
		{"port", 8443, true},
		{"insecure_skip_verify", true, true},
		{"ca_file", "/etc/certctl/other-ca.pem", true},
	} {
		s.putTarget(t, id, s.otherID, f5Config("f5-again"))
		cfg := configOf(t, s.must(t, 200, "GET", "/api/v1/targets/"+id, nil))
		cfg[change.field] = change.value
		a := s.putTarget(t, id, s.otherID, cfg)
		if change.clear {
			assert.Equal(t, []any{"password"}, a.body["secrets_cleared"], change.field)
			assert.Equal(t, "", s.stored(t, id)["password"], change.field)
		} else {
			assert.NotContains(t, a.body, "secrets_cleared", change.field)
			assert.Equal(t, "f5-again", s.workConfigOf(t, s.otherID, s.otherAgentKey, id)["password"], change.field)
		}
	}
}

// TestAPI_SealedTargetSecretBoundToTargetAndAgent: below the API (a command
// proposed directly, as a bug or a forged write would), a sealed password
// kept while its target moves to another agent, or copied into another
// target's config, does not open there: the work carries none.
func TestAPI_SealedTargetSecretBoundToTargetAndAgent(t *testing.T) {
	s := newSecretsEnv(t)
	id, _ := s.createTarget(t, "F5", f5Config(f5Password))
	tgt, err := s.node.FSM().Target(id)
	require.NoError(t, err)

	copied := s.id("tgt-")
	s.propose(t, &fsm.CreateTarget{Target: fsm.Target{ID: copied, Name: copied, Type: "F5", AgentID: s.agentID, Config: tgt.Config, Enabled: true}})
	cfg := s.workFor(t, s.agentID, s.agentKey, copied)
	assert.NotContains(t, cfg, "password", "a sealed value moved to another target does not open")

	moved := *tgt
	moved.AgentID = s.otherID
	s.propose(t, &fsm.UpdateTarget{Target: moved})
	requireSealed(t, s.stored(t, id)["password"])
	cfg = s.workFor(t, s.otherID, s.otherAgentKey, id)
	assert.NotContains(t, cfg, "password", "a value sealed for one agent does not open for another")
	assert.Equal(t, "bigip.example.net", cfg["host"])
}

// TestAPI_LegacySealedTargetSecret: a password sealed before secrets were
// bound to agents ("sealed:v1:") still reaches the target's own agent, is
// sealed for that agent by the first update that keeps it, and is cleared
// by one that moves the target.
func TestAPI_LegacySealedTargetSecret(t *testing.T) {
	s := newSecretsEnv(t)
	legacy := func(id string) json.RawMessage {
		sealed, err := s.box.Seal([]byte(f5Password), []byte("certctl/target-secret/"+id+"/password"))
		require.NoError(t, err)
		raw, err := json.Marshal(f5Config("sealed:v1:" + base64.StdEncoding.EncodeToString(sealed)))
		require.NoError(t, err)
		return raw
	}
	id := s.id("tgt-")
	s.propose(t, &fsm.CreateTarget{Target: fsm.Target{ID: id, Name: id, Type: "F5", AgentID: s.agentID, Config: legacy(id), Enabled: true}})
	shown := configOf(t, s.must(t, 200, "GET", "/api/v1/targets/"+id, nil))
	assert.Equal(t, "********", shown["password"])
	assert.Equal(t, f5Password, s.workFor(t, s.agentID, s.agentKey, id)["password"])
	s.putTarget(t, id, s.agentID, shown)
	requireSealed(t, s.stored(t, id)["password"])
	assert.Equal(t, f5Password, s.workConfigOf(t, s.agentID, s.agentKey, id)["password"])

	other := s.id("tgt-")
	s.propose(t, &fsm.CreateTarget{Target: fsm.Target{ID: other, Name: other, Type: "F5", AgentID: s.agentID, Config: legacy(other), Enabled: true}})
	a := s.putTarget(t, other, s.otherID, configOf(t, s.must(t, 200, "GET", "/api/v1/targets/"+other, nil)))
	assert.Equal(t, []any{"password"}, a.body["secrets_cleared"])
	assert.Equal(t, "", s.stored(t, other)["password"])
}

// TestAPI_IssuerSecretsSealedAndNeverAnswered: an issuer's secrets (an ACME
// EAB key, a Vault token) are stored only sealed, bound to their issuer and
// field; no answer to a viewer, an operator or an admin holds them or their
// sealed form, nor does any file of the node; a PUT that sends back the
// placeholder keeps the stored value; one that points the issuer at another
// CA without them clears them, and says so.
func TestAPI_IssuerSecretsSealedAndNeverAnswered(t *testing.T) {
	s := newSecretsEnv(t)
	const eab, token = "ZWFiLWhtYWMtczNjcmV0LXZhbHVl", "hvs.vault-t0ken-value"
	acme := s.id("iss-")
	acmeConfig := map[string]any{"directory_url": "https://acme.internal/directory", "eab_kid": "kid-1", "eab_hmac_key": eab, "email": "pki@example.net"}
	created := s.must(t, 201, "POST", "/api/v1/issuers", map[string]any{"id": acme, "name": acme, "type": "acme", "config": acmeConfig, "enabled": true})
	assert.Equal(t, "********", configOf(t, created)["eab_hmac_key"])
	assert.Equal(t, "kid-1", configOf(t, created)["eab_kid"], "other fields are shown")
	vault := s.id("iss-")
	s.must(t, 201, "POST", "/api/v1/issuers", map[string]any{"id": vault, "name": vault, "type": "VaultPKI",
		"config": map[string]any{"addr": "https://vault.internal:8200", "token": token, "mount": "pki", "role": "web"}, "enabled": true})

	storedIssuer := func(id string) map[string]any {
		rec, err := s.node.FSM().Issuer(id)
		require.NoError(t, err)
		var m map[string]any
		require.NoError(t, json.Unmarshal(rec.Config, &m))
		return m
	}
	first := requireSealed(t, storedIssuer(acme)["eab_hmac_key"])
	requireSealed(t, storedIssuer(vault)["token"])
	sealed, _, err := keywrap.ParseField(first)
	require.NoError(t, err)
	plain, err := s.box.Open(sealed, keywrap.FieldAAD("issuer", acme, "eab_hmac_key", ""))
	require.NoError(t, err)
	assert.Equal(t, eab, string(plain))
	_, err = s.box.Open(sealed, keywrap.FieldAAD("issuer", vault, "eab_hmac_key", ""))
	assert.ErrorIs(t, err, keywrap.ErrOpen, "bound to its issuer")

	viewer := s.bootstrapKey(t, "viewer", fsm.RoleViewer, "")
	operator := s.bootstrapKey(t, "operator", fsm.RoleOperator, "")
	for _, key := range []string{viewer, operator, s.admin} {
		for _, path := range []string{"/api/v1/issuers", "/api/v1/issuers/" + acme, "/api/v1/issuers/" + vault, "/api/v1/audit?per_page=500"} {
			a := s.mustAs(t, key, 200, "GET", path, nil)
			for _, secret := range []string{eab, token, "sealed:"} {
				assert.NotContains(t, string(a.raw), secret, path)
			}
		}
	}
	assert.Equal(t, "********", configOf(t, s.mustAs(t, viewer, 200, "GET", "/api/v1/issuers/"+vault, nil))["token"])

	// Sent back as shown, the stored value is kept as it is.
	shown := configOf(t, s.must(t, 200, "GET", "/api/v1/issuers/"+acme, nil))
	shown["email"] = "certs@example.net"
	put := func(config map[string]any) answer {
		return s.must(t, 200, "PUT", "/api/v1/issuers/"+acme, map[string]any{"name": acme, "type": "ACME", "config": config, "enabled": true})
	}
	a := put(shown)
	assert.Equal(t, "********", configOf(t, a)["eab_hmac_key"])
	assert.NotContains(t, a.body, "secrets_cleared")
	assert.Equal(t, first, storedIssuer(acme)["eab_hmac_key"], "******** keeps the stored value")
	assert.Equal(t, "certs@example.net", storedIssuer(acme)["email"])

	// Pointed at another CA without it: cleared, and said so.
	shown["directory_url"] = "https://acme.elsewhere.example/directory"
	a = put(shown)
	assert.Equal(t, []any{"eab_hmac_key"}, a.body["secrets_cleared"])
	assert.Equal(t, "", storedIssuer(acme)["eab_hmac_key"])
	audit := s.must(t, 200, "GET", "/api/v1/audit?resource_type=issuer&resource_id="+acme+"&per_page=500", nil)
	assert.Contains(t, string(audit.raw), `"issuer_secrets_cleared"`)

	files := 0
	require.NoError(t, filepath.WalkDir(filepath.Dir(s.node.FSM().Path()), func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		files++
		for _, secret := range []string{eab, token} {
			assert.False(t, bytes.Contains(data, []byte(secret)), "%s holds an issuer secret in the clear", p)
		}
		return nil
	}))
	assert.GreaterOrEqual(t, files, 2, "the state file and the raft log were searched")
}

// TestAPI_SecretFieldsAreTheConnectors: the API seals exactly what the
// connectors' declarations it is given name, and keeps no list of its own:
// without a declaration an F5 password is stored as given; with one that
// names a field of another type, that field is sealed and redacted.
func TestAPI_SecretFieldsAreTheConnectors(t *testing.T) {
	kek, err := keywrap.NewKEK(nil)
	require.NoError(t, err)
	box, err := keywrap.NewBox(kek)
	require.NoError(t, err)
	decl := target.NewSecretTable(map[string]target.Secrets{"Files": {Secret: []string{"token"}}})
	e := newEnv(t, api.Config{RateLimit: -1, Secrets: box, TargetSecrets: decl})
	agentID, _ := e.agent(t, e.admin)
	post := func(typ string, config map[string]any) (string, answer) {
		id := e.id("tgt-")
		return id, e.must(t, 201, "POST", "/api/v1/targets", map[string]any{"id": id, "name": id, "type": typ, "agent_id": agentID, "config": config})
	}
	storedField := func(id, field string) any {
		tgt, err := e.node.FSM().Target(id)
		require.NoError(t, err)
		var m map[string]any
		require.NoError(t, json.Unmarshal(tgt.Config, &m))
		return m[field]
	}

	id, a := post("F5", f5Config(f5Password))
	assert.Equal(t, f5Password, configOf(t, a)["password"], "not declared: stored and shown as given")
	assert.Equal(t, f5Password, storedField(id, "password"))
	id, a = post("files", map[string]any{"token": "files-t0ken", "dir": "/srv/certs"})
	assert.Equal(t, "********", configOf(t, a)["token"])
	requireSealed(t, storedField(id, "token"))
}

// TestAPI_ServerKeyNotCarriedToANewAgent: the server-made key of a
// certificate whose target moves to another agent is not handed to that
// agent (409, naming the renewal it needs) nor any more to the first; a
// renewal makes a key for the new agent alone.
func TestAPI_ServerKeyNotCarriedToANewAgent(t *testing.T) {
	w, svc, _ := issuanceWorld(t, true)
	targetID := w.target(t, w.admin, w.agentID)
	certID := w.cert(t, w.admin, w.ref, map[string]any{"target_ids": []string{targetID}, "key_generation": "server"})
	other, otherKey := w.agent(t, w.admin)
	renewThroughScheduler(t, w, svc, certID, fsm.JobCompleted)
	pickup := func(agentID, key string) answer {
		return w.as(t, key, "GET", "/api/v1/agents/"+agentID+"/certificates/"+certID, nil)
	}
	first := pickup(w.agentID, w.agentKey)
	require.Equal(t, 200, first.status, "%s", first.raw)
	require.NotEmpty(t, first.body["private_key_pem"])

	tgt := w.must(t, 200, "GET", "/api/v1/targets/"+targetID, nil)
	tgt.body["agent_id"] = other
	w.must(t, 200, "PUT", "/api/v1/targets/"+targetID, tgt.body)

	moved := pickup(other, otherKey)
	requireError(t, moved, 409, "")
	assert.Contains(t, moved.body["message"], "renew")
	assert.NotContains(t, string(moved.raw), "PRIVATE KEY")
	requireError(t, pickup(w.agentID, w.agentKey), 403, "")

	renewThroughScheduler(t, w, svc, certID, fsm.JobCompleted)
	renewed := pickup(other, otherKey)
	require.Equal(t, 200, renewed.status, "%s", renewed.raw)
	assert.NotEmpty(t, renewed.body["private_key_pem"], "a renewal makes a key for the new agent")
	assert.NotEqual(t, first.body["private_key_pem"], renewed.body["private_key_pem"])
}
