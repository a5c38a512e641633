package api_test

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/certctl/certctl/api"
	"github.com/certctl/certctl/fsm"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

// referenceFields are the wire names of the original certctl for each
// resource (its wire reference): our answers carry every one of them, under
// the same name. Ours may add fields, never rename or drop one.
var referenceFields = map[string][]string{
	"certificate": {"id", "name", "common_name", "sans", "environment", "owner_id", "team_id", "issuer_id", "target_ids",
		"renewal_policy_id", "status", "expires_at", "tags", "last_renewal_at", "last_deployment_at", "created_at", "updated_at"},
	"certificate_version": {"id", "certificate_id", "serial_number", "not_before", "not_after", "fingerprint_sha256", "pem_chain", "csr_pem", "created_at"},
	"team":                {"id", "name", "description", "created_at", "updated_at"},
	"owner":               {"id", "name", "email", "team_id", "created_at", "updated_at"},
	"issuer":              {"id", "name", "type", "config", "enabled", "created_at", "updated_at"},
	"target":              {"id", "name", "type", "agent_id", "config", "enabled", "created_at", "updated_at"},
	"agent":               {"id", "name", "hostname", "status", "last_heartbeat_at", "registered_at"},
	"job": {"id", "type", "certificate_id", "target_id", "agent_id", "status", "attempts", "max_attempts", "last_error",
		"deployment_result", "scheduled_at", "started_at", "completed_at", "created_at"},
	"policy_rule":      {"id", "name", "type", "config", "enabled", "created_at", "updated_at"},
	"policy_violation": {"id", "certificate_id", "rule_id", "message", "severity", "created_at"},
	"renewal_policy": {"id", "name", "renewal_window_days", "auto_renew", "max_retries", "retry_interval_minutes",
		"alert_thresholds_days", "created_at", "updated_at"},
	"audit_event":  {"id", "actor", "actor_type", "action", "resource_type", "resource_id", "details", "timestamp"},
	"notification": {"id", "type", "certificate_id", "channel", "recipient", "message", "sent_at", "status", "error", "created_at"},
	"api_key":      {"id", "name", "role", "agent_id", "prefix", "created_at", "revoked_at"},
	"list":         {"data", "total", "page", "per_page"},
	"error":        {"error", "message", "request_id"},
}

// neverServed are names that must never appear in an answer: secrets and
// the hashes of keys. (An audit event's "hash" is its link in the chain.)
func neverServed(resource string) []string {
	names := []string{"api_key_hash", "key_hash", "secret", "private_key"}
	if resource == "api_key" || resource == "agent" {
		names = append(names, "hash")
	}
	return names
}

// TestAPI_GoldenShapes builds a fully populated answer of every resource
// (every optional field set; where two states exclude each other, such as a
// job's lease and its completion, the union of both answers) and compares its
// sorted keys with testdata/golden/<resource>.json. Run with -update to
// rewrite the files after a deliberate change of the wire format.
func TestAPI_GoldenShapes(t *testing.T) {
	w := newWorld(t, api.Config{RateLimit: -1, HeartbeatFlush: 10 * time.Millisecond})
	got := map[string][]string{}
	union := func(resource string, answers ...map[string]any) {
		set := map[string]bool{}
		for _, a := range got[resource] {
			set[a] = true
		}
		for _, a := range answers {
			require.NotNil(t, a, resource)
			for k := range a {
				set[k] = true
			}
		}
		got[resource] = nil
		for k := range set {
			got[resource] = append(got[resource], k)
		}
		slices.Sort(got[resource])
	}
	first := func(l answer) map[string]any {
		require.Equal(t, 200, l.status, "%s", l.raw)
		data := l.body["data"].([]any)
		require.NotEmpty(t, data, "%s", l.raw)
		return data[0].(map[string]any)
	}

	// Renewal policy, target and the agent serving it.
	rp := w.must(t, 201, "POST", "/api/v1/renewal-policies", map[string]any{"name": "golden", "renewal_window_days": 21,
		"auto_renew": true, "max_retries": 2, "retry_interval_minutes": 15, "alert_thresholds_days": []int{21, 7}})
	union("renewal_policy", w.as(t, w.viewer, "GET", "/api/v1/renewal-policies/"+str(rp, "id"), nil).body)
	agentID, agentKey := w.agent(t, w.admin)
	tgt := w.target(t, w.admin, agentID)
	union("target", w.as(t, w.viewer, "GET", "/api/v1/targets/"+tgt, nil).body)
	union("team", w.as(t, w.viewer, "GET", "/api/v1/teams/"+w.ref.team, nil).body)
	union("owner", w.as(t, w.viewer, "GET", "/api/v1/owners/"+w.ref.owner, nil).body)
	union("issuer", w.as(t, w.viewer, "GET", "/api/v1/issuers/"+w.ref.issuer, nil).body)

	// A certificate issued, deployed, then revoked.
	certID := w.cert(t, w.operator, w.ref, map[string]any{"target_ids": []string{tgt}, "renewal_policy_id": str(rp, "id"),
		"expires_at": time.Now().Add(24 * time.Hour).UTC().Format(time.RFC3339), "key_generation": "server"})
	w.issue(t, certID, certID+".example.com", 30*24*time.Hour)
	union("certificate_version", first(w.as(t, w.viewer, "GET", "/api/v1/certificates/"+certID+"/versions", nil)))
	dep := w.must(t, 202, "POST", "/api/v1/certificates/"+certID+"/deploy", nil)
	jobID := dep.body["job_ids"].([]any)[0].(string)

	// The job: claimed, failed with a retry, claimed again (leased), completed.
	lease := time.Now().Add(time.Hour).UTC()
	w.propose(t, &fsm.ClaimJob{JobID: jobID, Holder: "n1", LeaseUntil: lease})
	retry := time.Now().Add(-time.Second).UTC()
	w.propose(t, &fsm.FailJob{JobID: jobID, Holder: "n1", Error: "connection refused", RetryAt: &retry, DeploymentResult: json.RawMessage(`{"step":"reload"}`)})
	w.propose(t, &fsm.ClaimJob{JobID: jobID, Holder: "n1", LeaseUntil: lease})
	union("job", w.as(t, w.viewer, "GET", "/api/v1/jobs/"+jobID, nil).body)
	w.propose(t, &fsm.ReleaseLease{JobID: jobID, Holder: "n1"})
	w.mustAs(t, agentKey, 200, "POST", "/api/v1/agents/"+agentID+"/jobs/"+jobID+"/status", map[string]any{"status": "Completed", "deployment_result": map[string]any{"step": "done"}})
	union("job", w.as(t, w.viewer, "GET", "/api/v1/jobs/"+jobID, nil).body)
	w.must(t, 200, "POST", "/api/v1/certificates/"+certID+"/revoke", map[string]any{"reason": "superseded"})
	union("certificate", w.as(t, w.viewer, "GET", "/api/v1/certificates/"+certID, nil).body)

	// A rule with a severity and its violation.
	rule := w.must(t, 201, "POST", "/api/v1/policies", map[string]any{"name": "golden rule", "type": "RequiredMetadata",
		"config": map[string]any{"required_keys": []string{"owner"}}, "enabled": true, "severity": "Critical"})
	union("policy_rule", w.as(t, w.viewer, "GET", "/api/v1/policies/"+str(rule, "id"), nil).body)
	w.propose(t, &fsm.RecordViolations{CertificateID: certID, Violations: []fsm.PolicyViolation{{ID: w.id("pv-"),
		CertificateID: certID, RuleID: str(rule, "id"), Message: "tag owner is missing", Severity: "Critical"}}})
	union("policy_violation", first(w.as(t, w.viewer, "GET", "/api/v1/policies/"+str(rule, "id")+"/violations", nil)))

	// A notification that failed once (error, next attempt), then was sent.
	ne := w.id("ne-")
	w.propose(t, &fsm.CreateNotifications{Notifications: []fsm.Notification{{ID: ne, Type: "RenewalFailure", CertificateID: certID,
		Channel: "Webhook", Recipient: "https://hooks.example/x", Message: "renewal failed", DedupKey: certID + "/renewal"}}})
	next := time.Now().Add(time.Minute).UTC()
	w.propose(t, &fsm.MarkNotificationFailed{ID: ne, Error: "503 from the hook", RetryAt: &next})
	union("notification", w.as(t, w.viewer, "GET", "/api/v1/notifications/"+ne, nil).body)
	w.propose(t, &fsm.MarkNotificationSent{ID: ne})
	union("notification", w.as(t, w.viewer, "GET", "/api/v1/notifications/"+ne, nil).body)

	// The agent after a heartbeat, then retired; its key is revoked with it.
	w.mustAs(t, agentKey, 200, "POST", "/api/v1/agents/"+agentID+"/heartbeat", map[string]any{"version": "2.0.0", "hostname": "golden.example.net"})
	w.must(t, 204, "DELETE", "/api/v1/agents/"+agentID, nil)
	union("agent", w.as(t, w.viewer, "GET", "/api/v1/agents/"+agentID, nil).body)
	keys := w.as(t, w.admin, "GET", "/api/v1/auth/keys?per_page=500", nil)
	for _, k := range keys.body["data"].([]any) {
		if m := k.(map[string]any); m["agent_id"] == agentID {
			union("api_key", m)
		}
	}

	audit := w.as(t, w.auditor, "GET", "/api/v1/audit?resource_id="+certID+"&action=certificate_created", nil)
	union("audit_event", first(audit))
	union("list", audit.body)
	union("error", w.as(t, w.admin, "POST", "/api/v1/teams", map[string]any{"name": ""}).body)

	require.ElementsMatch(t, mapKeys(referenceFields), mapKeys(got), "a golden answer for every resource")
	for resource, fields := range got {
		t.Run(resource, func(t *testing.T) {
			for _, name := range referenceFields[resource] {
				assert.Contains(t, fields, name, "the original's field %q is served under its name", name)
			}
			for _, name := range neverServed(resource) {
				assert.NotContains(t, fields, name, "a secret or its hash is never served")
			}
			file := filepath.Join("testdata", "golden", resource+".json")
			if *update {
				raw, err := json.MarshalIndent(fields, "", "  ")
				require.NoError(t, err)
				require.NoError(t, os.WriteFile(file, append(raw, '\n'), 0o644))
			}
			raw, err := os.ReadFile(file)
			require.NoError(t, err, "missing golden file; run go test ./api/ -run TestAPI_GoldenShapes -update")
			var want []string
			require.NoError(t, json.Unmarshal(raw, &want))
			assert.Equal(t, want, fields, "the keys of a %s changed; if deliberate, run with -update", resource)
		})
	}
}

func mapKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}
