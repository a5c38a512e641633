package api_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/certctl/certctl/fsm"
)

// publishForAgent publishes an agent-served HTTP-01 answer for certID, as
// an ACME order of the certificate's issuer does.
func (w *world) publishForAgent(t testing.TB, certID, token string) {
	t.Helper()
	c := w.as(t, w.viewer, "GET", "/api/v1/certificates/"+certID, nil)
	require.Equal(t, 200, c.status, "%s", c.raw)
	w.propose(t, &fsm.PutACMEChallenge{Challenge: fsm.ACMEChallenge{Token: token, KeyAuthorization: token + ".thumb",
		IssuerID: str(c, "issuer_id"), ExpiresAt: time.Now().Add(10 * time.Minute), Responder: fsm.ACMEResponderAgent, CertificateID: certID}})
}

func acmeAgentCases() map[string]routeCase {
	return map[string]routeCase{
		// An agent is handed the answers of its own certificates' orders
		// and none of another agent's.
		"GET /api/v1/agents/:id/acme-challenges": func(t *testing.T, w *world) {
			id, key := w.agent(t, w.admin)
			path := "/api/v1/agents/" + id + "/acme-challenges"
			empty := w.as(t, key, "GET", path, nil)
			require.Equal(t, 200, empty.status, "%s", empty.raw)
			assert.Equal(t, map[string]any{"challenges": []any{}, "count": float64(0)}, empty.body)
			mine, _, _ := w.servedCert(t, id)
			theirs, _, _ := w.servedCert(t, w.otherAgentID)
			w.publishForAgent(t, mine, "tokMine_0123456789")
			w.publishForAgent(t, theirs, "tokTheirs_0123456789")
			a := w.as(t, key, "GET", path, nil)
			require.Equal(t, 200, a.status, "%s", a.raw)
			assert.EqualValues(t, 1, a.body["count"])
			ch := a.body["challenges"].([]any)[0].(map[string]any)
			assert.Equal(t, "tokMine_0123456789", ch["token"])
			assert.Equal(t, "tokMine_0123456789.thumb", ch["key_authorization"])
			assert.Equal(t, mine, ch["certificate_id"])
			assert.Equal(t, false, ch["confirmed"])
			assert.NotContains(t, string(a.raw), "tokTheirs", "not another agent's")
			assert.Equal(t, "no-store", a.header.Get("Cache-Control"))
			requireError(t, w.as(t, key, "GET", "/api/v1/agents/"+w.otherAgentID+"/acme-challenges", nil), 403, "")
			retired, _ := w.retiredAgent(t)
			requireError(t, w.as(t, w.admin, "GET", "/api/v1/agents/"+retired+"/acme-challenges", nil), 410, "")
		},
		// An agent confirms its own answers only; a token of another
		// agent's order is as unknown to it as one that does not exist.
		"POST /api/v1/agents/:id/acme-challenges/:token/served": func(t *testing.T, w *world) {
			id, key := w.agent(t, w.admin)
			path := "/api/v1/agents/" + id + "/acme-challenges/"
			mine, _, _ := w.servedCert(t, id)
			theirs, _, _ := w.servedCert(t, w.otherAgentID)
			w.publishForAgent(t, mine, "tokMine_served_01")
			w.publishForAgent(t, theirs, "tokTheirs_served_01")
			requireError(t, w.as(t, key, "POST", path+"tokTheirs_served_01/served", nil), 404, "")
			requireError(t, w.as(t, key, "POST", path+"tokNone_served_01/served", nil), 404, "")
			requireError(t, w.as(t, key, "POST", path+"bad.token/served", nil), 400, "token")
			a := w.as(t, key, "POST", path+"tokMine_served_01/served", nil)
			require.Equal(t, 200, a.status, "%s", a.raw)
			assert.Equal(t, map[string]any{"status": "acme_challenge_served"}, a.body)
			assert.Equal(t, 200, w.as(t, key, "POST", path+"tokMine_served_01/served", nil).status, "a retry")
			l := w.as(t, key, "GET", "/api/v1/agents/"+id+"/acme-challenges", nil)
			assert.Equal(t, true, l.body["challenges"].([]any)[0].(map[string]any)["confirmed"])
			requireError(t, w.as(t, key, "POST", "/api/v1/agents/"+w.otherAgentID+"/acme-challenges/tokTheirs_served_01/served", nil), 403, "")
		},
	}
}
