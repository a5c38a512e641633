package api_test

import (
	"bytes"
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/certctl/certctl/api"
)

// importBatch is an import request body holding records.
func importBatch(dryRun bool, records map[string]any) map[string]any {
	return map[string]any{"source": "postgres://db.example.com/certctl", "dry_run": dryRun, "records": records}
}

// tableCount reads the counts of table from an import answer.
func tableCount(t *testing.T, a answer, table string) map[string]any {
	t.Helper()
	tables, ok := a.body["tables"].(map[string]any)
	require.True(t, ok, "%s", a.raw)
	n, ok := tables[table].(map[string]any)
	require.True(t, ok, "no counts for %s: %s", table, a.raw)
	return n
}

func importCases() map[string]routeCase {
	return map[string]routeCase{
		"POST /api/v1/import": func(t *testing.T, w *world) {
			id := w.id("t-imported-")
			body := importBatch(false, map[string]any{"teams": []map[string]any{{"id": id, "name": id, "description": "from the original"}}})
			// An import writes records of every kind, agent keys among
			// them: an operator, a viewer or an agent may not.
			for _, key := range []string{w.operator, w.viewer, w.auditor, w.agentKey} {
				requireError(t, w.as(t, key, "POST", "/api/v1/import", body), 403, "")
			}
			requireError(t, w.as(t, w.admin, "GET", "/api/v1/teams/"+id, nil), 404, "")

			dry := w.must(t, 200, "POST", "/api/v1/import", importBatch(true, body["records"].(map[string]any)))
			assert.Equal(t, true, dry.body["dry_run"])
			assert.EqualValues(t, 1, tableCount(t, dry, "teams")["new"])
			requireError(t, w.as(t, w.admin, "GET", "/api/v1/teams/"+id, nil), 404, "") // a dry run writes nothing

			a := w.must(t, 200, "POST", "/api/v1/import", body)
			assert.EqualValues(t, 1, tableCount(t, a, "teams")["new"])
			got := w.must(t, 200, "GET", "/api/v1/teams/"+id, nil)
			assert.Equal(t, "from the original", got.body["description"])

			again := w.must(t, 200, "POST", "/api/v1/import", body)
			assert.EqualValues(t, 0, tableCount(t, again, "teams")["new"])
			assert.EqualValues(t, 1, tableCount(t, again, "teams")["same"], "the same row again is skipped")

			// A batch may be larger than other bodies, up to its own limit.
			requireError(t, w.as(t, w.admin, "POST", "/api/v1/import", bytes.Repeat([]byte(" "), api.MaxBodyBytes+1)), 400, "")
			requireError(t, w.as(t, w.admin, "POST", "/api/v1/import", bytes.Repeat([]byte(" "), api.MaxImportBody+1)), http.StatusRequestEntityTooLarge, "")
			requireError(t, w.as(t, w.admin, "POST", "/api/v1/import", map[string]any{"source": "x", "records": map[string]any{}}), 400, "records")
		},
	}
}

// TestAPI_ImportKeepsAgentKeysAndSealsSecrets: an agent imported with the
// hash of its original key heartbeats with that key (and only on its own
// routes), and a target's password from the original is sealed before it
// is proposed, as a create seals it.
func TestAPI_ImportKeepsAgentKeysAndSealsSecrets(t *testing.T) {
	s := newSecretsEnv(t)
	const originalKey = "Zm9vYmFyLW9yaWdpbmFsLWFnZW50LWtleS0wMDAwMDA" // the original's key format: 43 base64url characters
	a := s.must(t, 200, "POST", "/api/v1/import", importBatch(false, map[string]any{
		"agents": []map[string]any{{"id": "ag-orig", "name": "orig-agent", "hostname": "web-01.internal", "status": "Online",
			"registered_at": "2025-01-01T00:00:00Z", "api_key_hash": api.HashKey(originalKey)}},
	}))
	assert.Equal(t, []any{"ag-orig"}, a.body["agent_keys"])
	s.must(t, 200, "POST", "/api/v1/import", importBatch(false, map[string]any{
		"deployment_targets": []map[string]any{{"id": "tgt-f5-orig", "name": "F5", "type": "F5", "agent_id": "ag-orig", "enabled": true,
			"config": f5Config(f5Password)}},
	}))

	hb := s.as(t, originalKey, "POST", "/api/v1/agents/ag-orig/heartbeat", map[string]any{"version": "1.0.0", "hostname": "web-01.internal"})
	require.Equal(t, 200, hb.status, "%s", hb.raw)
	requireError(t, s.as(t, originalKey, "POST", "/api/v1/agents/"+s.agentID+"/heartbeat", map[string]any{"version": "1.0.0"}), 403, "")
	requireError(t, s.as(t, originalKey, "GET", "/api/v1/teams", nil), 403, "")

	requireSealed(t, s.stored(t, "tgt-f5-orig")["password"])
	got := s.must(t, 200, "GET", "/api/v1/targets/tgt-f5-orig", nil)
	assert.NotContains(t, string(got.raw), f5Password)
	audit := s.must(t, 200, "GET", "/api/v1/audit?per_page=500", nil)
	assert.NotContains(t, string(audit.raw), f5Password)
}

// TestAPI_ImportCannotTakeOverAKey: an imported agent whose key hash is an
// existing key's (the admin's, here) is refused by name; the admin key stays
// the admin's and the agent is not created.
func TestAPI_ImportCannotTakeOverAKey(t *testing.T) {
	w := newWorld(t, api.Config{RateLimit: -1, AuthFailureRate: -1})
	a := w.must(t, 200, "POST", "/api/v1/import", importBatch(false, map[string]any{
		"agents": []map[string]any{{"id": "ag-thief", "name": "thief", "hostname": "evil.example.net", "api_key_hash": api.HashKey(w.admin)}},
	}))
	refused, ok := a.body["refused"].([]any)
	require.True(t, ok, "%s", a.raw)
	require.Len(t, refused, 1)
	assert.Equal(t, map[string]any{"table": "agents", "id": "ag-thief", "field": "api_key_hash",
		"reason": "api_key_hash is already the hash of another API key in the cluster or the import"}, refused[0])
	requireError(t, w.as(t, w.admin, "GET", "/api/v1/agents/ag-thief", nil), 404, "")
	w.must(t, 200, "GET", "/api/v1/auth/keys", nil) // the admin key still opens admin routes
}
