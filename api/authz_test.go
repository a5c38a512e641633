package api_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/certctl/certctl/api"
)

// Who calls in the authorization matrix.
const (
	asAdmin      = "admin"
	asOperator   = "operator"
	asViewer     = "viewer"
	asAuditor    = "auditor"
	asAgentOwn   = "agent-own"   // the agent named in the path, with its key
	asAgentOther = "agent-other" // another agent's key
	asNoKey      = "no key"
	asRevoked    = "revoked key"
	asJoinToken  = "join token" // a valid join token, not an API key
	asNodeCert   = "node"       // a node certificate of the cluster, no key
)

var principals = []string{asAdmin, asOperator, asViewer, asAuditor, asAgentOwn, asAgentOther, asNoKey, asRevoked, asJoinToken, asNodeCert}

// allowed is the answer class "neither 401 nor 403".
const allowed = 0

// expectedAccess is what a principal gets on a route of the given access
// level, as auth.go documents the levels:
//
//	public    anyone, no key
//	any key   any valid key
//	viewer    viewer, operator, admin
//	operator  operator, admin
//	admin     admin
//	auditor   auditor, viewer, operator, admin
//	agent     the agent named by :id with its own key, or operator, admin
//	cluster   a node certificate of the cluster, or viewer and above
//	internal  a node certificate of the cluster only
//	join      a join token only (checked by the node's handler)
//
// A request without a valid key is 401; a valid key without the right is 403.
// A join token opens nothing but the join; a node certificate nothing but
// the node-to-node routes.
func expectedAccess(level, who string) int {
	switch level {
	case "public":
		return allowed
	case "internal":
		if who == asNodeCert {
			return allowed
		}
		return http.StatusUnauthorized
	case "join":
		if who == asJoinToken {
			return allowed
		}
		return http.StatusUnauthorized
	}
	if who == asNodeCert && level == "cluster" {
		return allowed
	}
	if who == asNoKey || who == asRevoked || who == asJoinToken || who == asNodeCert {
		return http.StatusUnauthorized
	}
	may := map[string][]string{
		"any key":  {asAdmin, asOperator, asViewer, asAuditor, asAgentOwn, asAgentOther},
		"viewer":   {asAdmin, asOperator, asViewer},
		"operator": {asAdmin, asOperator},
		"admin":    {asAdmin},
		"auditor":  {asAdmin, asOperator, asViewer, asAuditor},
		"agent":    {asAdmin, asOperator, asAgentOwn},
		"cluster":  {asAdmin, asOperator, asViewer},
	}[level]
	for _, p := range may {
		if p == who {
			return allowed
		}
	}
	return http.StatusForbidden
}

// TestAPI_AuthorizationMatrix calls every route as every principal and checks
// allowed / 401 / 403 against the route's access level. Path ids name no
// record (so writes that get through change nothing) except an agent route's
// :id, which names the agent whose key is "agent-own".
func TestAPI_AuthorizationMatrix(t *testing.T) {
	w := newWorld(t, api.Config{RateLimit: -1, AuthFailureRate: -1, HeartbeatFlush: 10 * time.Millisecond})
	revoked := w.must(t, 201, "POST", "/api/v1/auth/keys", map[string]any{"name": "soon-revoked", "role": "admin"})
	w.must(t, 204, "DELETE", "/api/v1/auth/keys/"+str(revoked, "id"), nil)
	keyOf := map[string]string{
		asAdmin: w.admin, asOperator: w.operator, asViewer: w.viewer, asAuditor: w.auditor,
		asAgentOwn: w.agentKey, asAgentOther: w.otherAgentKey, asNoKey: "", asRevoked: str(revoked, "api_key"),
		asJoinToken: w.joinToken(t), asNodeCert: asNode,
	}
	levels := map[string]bool{}
	for _, r := range api.RoutesOf(w.api) {
		levels[r.Access] = true
		t.Run(r.Method+" "+r.Path, func(t *testing.T) {
			id := "x-none"
			if r.Access == "agent" {
				id = w.agentID
			}
			path := strings.NewReplacer(":id", id, ":cert_id", "x-none", ":job_id", "x-none").Replace(r.Path)
			var body any
			if r.Method == "POST" || r.Method == "PUT" {
				body = "{}"
			}
			for _, who := range principals {
				want := expectedAccess(r.Access, who)
				a := w.as(t, keyOf[who], r.Method, path, body)
				switch want {
				case allowed:
					assert.NotContains(t, []int{401, 403}, a.status, "%s (access %s) must be allowed: %s", who, r.Access, a.raw)
					assert.Less(t, a.status, 500, "%s: %s", who, a.raw)
				case http.StatusUnauthorized:
					assert.Equal(t, 401, a.status, "%s (access %s): %s", who, r.Access, a.raw)
					if r.Access != "internal" && r.Access != "join" {
						assert.Equal(t, `Bearer realm="certctl"`, a.header.Get("WWW-Authenticate"), who)
						assert.Equal(t, "unauthorized", a.body["code"], who)
					}
				case http.StatusForbidden:
					assert.Equal(t, 403, a.status, "%s (access %s): %s", who, r.Access, a.raw)
					assert.Equal(t, "forbidden", a.body["code"], who)
					assert.NotEmpty(t, a.body["message"], who)
				}
			}
		})
	}
	for _, l := range []string{"public", "any key", "viewer", "operator", "admin", "auditor", "agent", "cluster", "internal", "join"} {
		assert.True(t, levels[l], "no route has access level %q: the matrix does not exercise it", l)
	}
}

// TestAPI_AgentKeyScope: an agent's key works on its own agent's endpoints
// only; the same endpoint of another agent is 403 whichever it names.
func TestAPI_AgentKeyScope(t *testing.T) {
	w := newWorld(t, api.Config{RateLimit: -1, HeartbeatFlush: 10 * time.Millisecond})
	own := "/api/v1/agents/" + w.agentID
	other := "/api/v1/agents/" + w.otherAgentID
	for _, c := range []struct{ method, suffix string }{
		{"POST", "/heartbeat"}, {"GET", "/work"}, {"POST", "/csr"},
		{"GET", "/certificates/mc-x"}, {"POST", "/jobs/job-x/status"},
	} {
		var body any
		if c.method == "POST" {
			body = "{}"
		}
		a := w.as(t, w.agentKey, c.method, own+c.suffix, body)
		assert.NotContains(t, []int{401, 403}, a.status, "own %s: %s", c.suffix, a.raw)
		b := w.as(t, w.agentKey, c.method, other+c.suffix, body)
		requireError(t, b, 403, "")
		assert.Contains(t, b.body["message"], w.agentID, "the message says which endpoints the key may use")
	}
	requireError(t, w.as(t, w.agentKey, "GET", own, nil), 403, "")
	requireError(t, w.as(t, w.agentKey, "DELETE", own, nil), 403, "")
	assert.Equal(t, 200, w.as(t, w.agentKey, "GET", "/api/v1/auth/check", nil).status)
}
