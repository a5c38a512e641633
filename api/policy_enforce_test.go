package api_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/certctl/certctl/api"
	"github.com/certctl/certctl/fsm"
)

// TestAPI_ErrorRuleRefusesCreateUpdateAndRenew: with a rule of severity
// Error, a certificate that breaks it (the issue's *.com, www.google.com and
// IP:10.0.0.1 under AllowedDomains example.com) is refused at create with
// 422 policy_violation naming the rule, and nothing is written; an update
// that would break it is refused too. A certificate created before the rule
// is reported by the sweep that follows the rule, and its renewal is refused naming
// the rule; as a Warning the rule only reports.
func TestAPI_ErrorRuleRefusesCreateUpdateAndRenew(t *testing.T) {
	w := newWorld(t, api.Config{RateLimit: -1, HeartbeatFlush: 10 * time.Millisecond})
	before := w.cert(t, w.admin, w.ref, map[string]any{"sans": []string{"www.google.com"}})

	rule := map[string]any{"id": "pr-domains", "name": "Site domains only", "type": "AllowedDomains",
		"config": map[string]any{"allowed_domains": []string{"example.com"}}, "enabled": true, "severity": "Error"}
	w.must(t, 201, "POST", "/api/v1/policies", rule)
	w.sweepPolicies(t)

	// Create: refused, naming the rule and what to fix; nothing written.
	body := w.certJSON(w.ref, map[string]any{"common_name": "www.example.com",
		"sans": []string{"www.example.com", "*.com", "www.google.com", "10.0.0.1"}})
	a := w.as(t, w.operator, "POST", "/api/v1/certificates", body)
	requireError(t, a, 422, "sans")
	assert.Equal(t, "policy_violation", a.body["code"])
	msg, _ := a.body["message"].(string)
	for _, s := range []string{"pr-domains", `"Site domains only"`, "type AllowedDomains", "severity Error",
		"names *.com, www.google.com are not within the allowed domains", "example.com and their subdomains",
		"remove or change the names"} {
		assert.Contains(t, msg, s)
	}
	assert.NotContains(t, msg, "10.0.0.1", "IP addresses are not DNS names; AllowedDomains leaves them to the CA")
	requireError(t, w.as(t, w.viewer, "GET", "/api/v1/certificates/"+body["id"].(string), nil), 404, "")

	// Within the rule: created.
	ok := w.cert(t, w.operator, w.ref, nil)

	// Update that would break it: refused, the certificate unchanged.
	upd := w.certJSON(w.ref, map[string]any{"id": ok, "name": ok, "common_name": ok + ".example.com",
		"sans": []string{ok + ".example.com", "www.google.com"}})
	requireError(t, w.as(t, w.operator, "PUT", "/api/v1/certificates/"+ok, upd), 422, "sans")
	got := w.as(t, w.viewer, "GET", "/api/v1/certificates/"+ok, nil)
	assert.Equal(t, []any{ok + ".example.com"}, got.body["sans"])

	// The certificate from before the rule: reported, its renewal refused.
	v := w.as(t, w.viewer, "GET", "/api/v1/certificates/"+before+"/violations", nil)
	require.Equal(t, 200, v.status, "%s", v.raw)
	assert.EqualValues(t, 1, v.body["total"], "the sweep after the rule evaluated the existing certificate")
	renew := w.as(t, w.operator, "POST", "/api/v1/certificates/"+before+"/renew", nil)
	requireError(t, renew, 422, "sans")
	assert.Contains(t, renew.body["message"], "pr-domains")
	jobs, err := w.node.FSM().Jobs(fsm.JobFilter{CertificateID: before}, fsm.Page{})
	require.NoError(t, err)
	assert.Zero(t, jobs.Total, "no renewal job was queued")

	// As a Warning it only reports: created, and renewable.
	rule["severity"] = "Warning"
	w.must(t, 200, "PUT", "/api/v1/policies/pr-domains", rule)
	w.mustAs(t, w.operator, 201, "POST", "/api/v1/certificates", body)
	w.mustAs(t, w.operator, 202, "POST", "/api/v1/certificates/"+before+"/renew", nil)
	v = w.as(t, w.viewer, "GET", "/api/v1/certificates/"+body["id"].(string)+"/violations", nil)
	assert.EqualValues(t, 1, v.body["total"])
}

// sweepPolicies proposes the batches of the policy sweep under way until it
// ends, as the leader's scheduler does after a rule change.
func (e *env) sweepPolicies(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for {
		b, err := e.node.FSM().NextPolicyBatch(fsm.MaxBatch)
		require.NoError(t, err)
		if b == nil {
			return
		}
		cmd, err := fsm.NewCommand(fsm.Meta{Time: time.Now(), Actor: "scheduler/test", ActorType: fsm.ActorSystem}, b)
		require.NoError(t, err)
		_, err = e.node.Propose(ctx, cmd)
		require.NoError(t, err)
	}
}
