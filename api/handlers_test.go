package api_test

import (
	"bytes"
	"encoding/pem"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/certctl/certctl/api"
	"github.com/certctl/certctl/fsm"
	"github.com/certctl/certctl/node"
	"github.com/certctl/certctl/node/clusterca"
)

// world is a server with authentication on, an admin key, a key of every
// other role, references for certificates and two agents with their keys.
type world struct {
	*env
	ref                         refs
	viewer, operator, auditor   string
	agentID, agentKey           string
	otherAgentID, otherAgentKey string
}

func newWorld(t *testing.T, cfg api.Config) *world {
	t.Helper()
	e := newEnv(t, cfg)
	w := &world{env: e}
	w.ref = e.refs(t, e.admin)
	w.viewer = w.newKey(t, fsm.RoleViewer, "")
	w.operator = w.newKey(t, fsm.RoleOperator, "")
	w.auditor = w.newKey(t, fsm.RoleAuditor, "")
	w.agentID, w.agentKey = e.agent(t, e.admin)
	w.otherAgentID, w.otherAgentKey = e.agent(t, e.admin)
	return w
}

// joinBody is a well-formed join request for nodeID.
func joinBody(t testing.TB, nodeID string) map[string]any {
	key, err := clusterca.NewNodeKey()
	require.NoError(t, err)
	der, err := clusterca.NodeCSR(key, nodeID)
	require.NoError(t, err)
	return map[string]any{"node_id": nodeID, "raft_addr": "127.0.0.1:1", "api_addr": "127.0.0.1:2",
		"csr": string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}))}
}

// joinToken creates a join token through the API and returns it.
func (w *world) joinToken(t testing.TB) string {
	t.Helper()
	a := w.must(t, 201, "POST", "/api/v1/cluster/join-tokens", map[string]any{"ttl": "1h", "uses": 1})
	return str(a, "token")
}

// newKey creates a key through POST /api/v1/auth/keys and returns its secret.
func (w *world) newKey(t testing.TB, role, agentID string) string {
	t.Helper()
	body := map[string]any{"name": w.id("key-" + role + "-"), "role": role}
	if agentID != "" {
		body["agent_id"] = agentID
	}
	a := w.must(t, 201, "POST", "/api/v1/auth/keys", body)
	require.True(t, strings.HasPrefix(str(a, "api_key"), "cck_"), "the secret is shown once: %s", a.raw)
	return str(a, "api_key")
}

// servedCert creates a certificate mapped to a new target of agentID.
func (w *world) servedCert(t testing.TB, agentID string) (certID, targetID, cn string) {
	t.Helper()
	targetID = w.target(t, w.admin, agentID)
	certID = w.cert(t, w.admin, w.ref, map[string]any{"target_ids": []string{targetID}})
	return certID, targetID, certID + ".example.com"
}

// deployJob creates an issued certificate served by agentID, deploys it and
// returns the certificate and the Deployment job.
func (w *world) deployJob(t testing.TB, agentID string) (certID, jobID string) {
	t.Helper()
	certID, _, cn := w.servedCert(t, agentID)
	w.issue(t, certID, cn, 90*24*time.Hour)
	a := w.must(t, 202, "POST", "/api/v1/certificates/"+certID+"/deploy", nil)
	ids := a.body["job_ids"].([]any)
	require.Len(t, ids, 1)
	return certID, ids[0].(string)
}

// awaitingCSRJob creates an Issuance job of agentID waiting for a CSR.
func (w *world) awaitingCSRJob(t testing.TB, agentID, certID string) string {
	t.Helper()
	id := w.id("job-")
	w.propose(t, &fsm.CreateJobs{Jobs: []fsm.Job{{ID: id, Type: fsm.JobIssuance, CertificateID: certID, AgentID: agentID, Status: fsm.JobAwaitingCSR}}})
	return id
}

// retiredAgent registers and retires an agent and returns its id and key.
func (w *world) retiredAgent(t testing.TB) (string, string) {
	t.Helper()
	id, key := w.agent(t, w.admin)
	w.must(t, 204, "DELETE", "/api/v1/agents/"+id, nil)
	return id, key
}

// notification queues a notification for a new certificate.
func (w *world) notification(t testing.TB) string {
	t.Helper()
	certID := w.cert(t, w.admin, w.ref, nil)
	id := w.id("ne-")
	w.propose(t, &fsm.CreateNotifications{Notifications: []fsm.Notification{{ID: id, Type: "ExpirationWarning", CertificateID: certID,
		Channel: "Email", Recipient: "alice@example.com", Message: "expires in 14 days"}}})
	return id
}

// routeCase tests one route: its success status and shape and the error
// classes that apply to it. 401 and 413 are checked for every route by
// TestAPI_EveryRoute itself; 403 by the authorization matrix.
type routeCase func(t *testing.T, w *world)

// TestAPI_EveryRoute runs a case for every route of the routes table and
// fails for a route without one (or a case without a route).
func TestAPI_EveryRoute(t *testing.T) {
	w := newWorld(t, api.Config{RateLimit: -1, AuthFailureRate: -1, HeartbeatFlush: 10 * time.Millisecond, Issuers: fakeIssuers{}})
	cases := routeCases()
	seen := map[string]bool{}
	for _, r := range api.RoutesOf(w.api) {
		name := r.Method + " " + r.Path
		seen[name] = true
		t.Run(name, func(t *testing.T) {
			c, ok := cases[name]
			if !ok {
				t.Fatalf("route %s (access %s) has no test case in routeCases", name, r.Access)
			}
			c(t, w)
			path := strings.NewReplacer(":id", "x-none", ":cert_id", "x-none", ":job_id", "x-none").Replace(r.Path)
			if r.Access != "public" && r.Access != "internal" && r.Access != "join" {
				for _, key := range []string{"", "cck_not-a-key"} {
					a := w.as(t, key, r.Method, path, nil)
					requireError(t, a, http.StatusUnauthorized, "")
					assert.Equal(t, `Bearer realm="certctl"`, a.header.Get("WWW-Authenticate"))
				}
			}
			// A snapshot restore streams a whole file: no body limit; an
			// import batch has its own (its case checks it).
			if (r.Method == "POST" || r.Method == "PUT") && !strings.HasPrefix(r.Path, "/internal/") && r.Path != "/api/v1/cluster/snapshot/restore" && r.Path != "/api/v1/import" {
				big := bytes.Repeat([]byte(" "), api.MaxBodyBytes+1)
				requireError(t, w.as(t, w.admin, r.Method, path, big), http.StatusRequestEntityTooLarge, "")
			}
		})
	}
	for name := range cases {
		assert.True(t, seen[name], "test case %s names no route of the routes table", name)
	}
}

// crudResource describes a resource served by the generic CRUD routes.
type crudResource struct {
	path   string
	prefix string
	// body is a valid create body with id and name.
	body func(w *world, t testing.TB, id, name string) map[string]any
	// inUse makes id referenced, so that its delete is refused (nil: never).
	inUse func(w *world, t testing.TB, id string)
	// sharedNames: names need not be unique (owners, as in the original).
	sharedNames bool
}

func crudResources() map[string]crudResource {
	return map[string]crudResource{
		"teams": {path: "/api/v1/teams", prefix: "t-",
			body: func(_ *world, _ testing.TB, id, name string) map[string]any {
				return map[string]any{"id": id, "name": name, "description": "the " + name + " team"}
			},
			inUse: func(w *world, t testing.TB, id string) {
				w.must(t, 201, "POST", "/api/v1/owners", map[string]any{"id": w.id("o-"), "name": w.id("owner-"), "team_id": id})
			}},
		"owners": {path: "/api/v1/owners", prefix: "o-", sharedNames: true,
			body: func(w *world, _ testing.TB, id, name string) map[string]any {
				return map[string]any{"id": id, "name": name, "email": "owner@example.com", "team_id": w.ref.team}
			},
			inUse: func(w *world, t testing.TB, id string) {
				r := w.ref
				r.owner = id
				w.cert(t, w.admin, r, nil)
			}},
		"issuers": {path: "/api/v1/issuers", prefix: "iss-",
			body: func(_ *world, _ testing.TB, id, name string) map[string]any {
				return map[string]any{"id": id, "name": name, "type": "acme", "config": map[string]any{"directory_url": "https://acme.example/dir"}, "enabled": true}
			},
			inUse: func(w *world, t testing.TB, id string) {
				r := w.ref
				r.issuer = id
				w.cert(t, w.admin, r, nil)
			}},
		"targets": {path: "/api/v1/targets", prefix: "tgt-",
			body: func(w *world, _ testing.TB, id, name string) map[string]any {
				return map[string]any{"id": id, "name": name, "type": "nginx", "agent_id": w.agentID, "config": map[string]any{"cert_path": "/etc/x.crt"}, "enabled": true}
			},
			inUse: func(w *world, t testing.TB, id string) {
				w.cert(t, w.admin, w.ref, map[string]any{"target_ids": []string{id}})
			}},
		"policies": {path: "/api/v1/policies", prefix: "pr-",
			body: func(_ *world, _ testing.TB, id, name string) map[string]any {
				return map[string]any{"id": id, "name": name, "type": "AllowedDomains", "config": map[string]any{"allowed_domains": []string{"example.com"}}, "enabled": true, "severity": "Error"}
			}},
		"renewal-policies": {path: "/api/v1/renewal-policies", prefix: "rp-",
			body: func(_ *world, _ testing.TB, id, name string) map[string]any {
				return map[string]any{"id": id, "name": name, "renewal_window_days": 30, "max_retries": 5}
			},
			inUse: func(w *world, t testing.TB, id string) {
				w.cert(t, w.admin, w.ref, map[string]any{"renewal_policy_id": id})
			}},
	}
}

// crudCases returns the five cases of a CRUD resource.
func crudCases(res crudResource) map[string]routeCase {
	create := func(t *testing.T, w *world) (string, answer) {
		id := w.id(res.prefix)
		a := w.must(t, 201, "POST", res.path, res.body(w, t, id, "name "+id))
		return id, a
	}
	return map[string]routeCase{
		"GET " + res.path: func(t *testing.T, w *world) {
			id, _ := create(t, w)
			l := w.as(t, w.viewer, "GET", res.path+"?per_page=500", nil)
			require.Equal(t, 200, l.status, "%s", l.raw)
			assert.Equal(t, []string{"data", "page", "per_page", "total"}, keys(l.body))
			assert.EqualValues(t, 1, l.body["page"])
			assert.EqualValues(t, 500, l.body["per_page"])
			assert.Contains(t, string(l.raw), `"id":"`+id+`"`)
			requireError(t, w.as(t, w.viewer, "GET", res.path+"?page=0", nil), 400, "page")
			requireError(t, w.as(t, w.viewer, "GET", res.path+"?per_page=many", nil), 400, "per_page")
			requireError(t, w.as(t, w.viewer, "GET", res.path+"?consistency=eventual", nil), 400, "consistency")
			assert.Equal(t, 200, w.as(t, w.viewer, "GET", res.path+"?consistency=strong", nil).status)
		},
		"POST " + res.path: func(t *testing.T, w *world) {
			id, a := create(t, w)
			assert.Equal(t, id, str(a, "id"))
			assert.Equal(t, "name "+id, str(a, "name"))
			_, err := time.Parse(time.RFC3339, str(a, "created_at"))
			assert.NoError(t, err, "timestamps are RFC 3339")
			gen := res.body(w, t, "", "generated "+w.id(""))
			delete(gen, "id")
			g := w.must(t, 201, "POST", res.path, gen)
			assert.True(t, strings.HasPrefix(str(g, "id"), res.prefix), "a generated id has the %s prefix: %s", res.prefix, g.raw)

			requireError(t, w.as(t, w.admin, "POST", res.path, res.body(w, t, w.id(res.prefix), "")), 400, "name")
			requireError(t, w.as(t, w.admin, "POST", res.path, res.body(w, t, w.id(res.prefix), strings.Repeat("n", 300))), 400, "name")
			requireError(t, w.as(t, w.admin, "POST", res.path, res.body(w, t, "bad id!", "x")), 400, "id")
			requireError(t, w.as(t, w.admin, "POST", res.path, `{"name": 7}`), 400, "name")
			requireError(t, w.as(t, w.admin, "POST", res.path, `{"nmae": "x"}`), 400, "nmae")
			dupID := w.as(t, w.admin, "POST", res.path, res.body(w, t, id, "other "+id))
			requireError(t, dupID, 409, "")
			assert.Equal(t, "conflict", dupID.body["code"])
			sameName := w.as(t, w.admin, "POST", res.path, res.body(w, t, w.id(res.prefix), "name "+id))
			if res.sharedNames {
				assert.Equal(t, 201, sameName.status, "%s", sameName.raw)
			} else {
				requireError(t, sameName, 409, "")
			}
			requireError(t, w.as(t, w.viewer, "POST", res.path, res.body(w, t, w.id(res.prefix), "v")), 403, "")
		},
		"GET " + res.path + "/:id": func(t *testing.T, w *world) {
			id, created := create(t, w)
			g := w.as(t, w.viewer, "GET", res.path+"/"+id, nil)
			require.Equal(t, 200, g.status)
			assert.Equal(t, created.body, g.body)
			nf := w.as(t, w.viewer, "GET", res.path+"/"+res.prefix+"missing", nil)
			requireError(t, nf, 404, "")
			assert.Equal(t, "not_found", nf.body["code"])
		},
		"PUT " + res.path + "/:id": func(t *testing.T, w *world) {
			id, created := create(t, w)
			u := w.must(t, 200, "PUT", res.path+"/"+id, res.body(w, t, "", "renamed "+id))
			assert.Equal(t, "renamed "+id, str(u, "name"))
			assert.Equal(t, str(created, "created_at"), str(u, "created_at"), "created_at is kept")
			requireError(t, w.as(t, w.admin, "PUT", res.path+"/"+id, res.body(w, t, "other-id", "x")), 400, "id")
			requireError(t, w.as(t, w.admin, "PUT", res.path+"/"+id, res.body(w, t, id, "")), 400, "name")
			requireError(t, w.as(t, w.admin, "PUT", res.path+"/"+id, "{"), 400, "")
			requireError(t, w.as(t, w.admin, "PUT", res.path+"/"+res.prefix+"missing", res.body(w, t, "", "x "+id)), 404, "")
			if !res.sharedNames {
				other, _ := create(t, w)
				requireError(t, w.as(t, w.admin, "PUT", res.path+"/"+other, res.body(w, t, "", "renamed "+id)), 409, "")
			}
		},
		"DELETE " + res.path + "/:id": func(t *testing.T, w *world) {
			id, _ := create(t, w)
			d := w.must(t, 204, "DELETE", res.path+"/"+id, nil)
			assert.Empty(t, d.raw)
			requireError(t, w.as(t, w.viewer, "GET", res.path+"/"+id, nil), 404, "")
			requireError(t, w.as(t, w.admin, "DELETE", res.path+"/"+id, nil), 404, "")
			requireError(t, w.as(t, w.admin, "DELETE", res.path+"/a..b", nil), 400, "id")
			if res.inUse != nil {
				used, _ := create(t, w)
				res.inUse(w, t, used)
				requireError(t, w.as(t, w.admin, "DELETE", res.path+"/"+used, nil), 409, "")
			}
		},
	}
}

func routeCases() map[string]routeCase {
	cases := map[string]routeCase{}
	for _, res := range crudResources() {
		for k, v := range crudCases(res) {
			cases[k] = v
		}
	}
	add := func(m map[string]routeCase) {
		for k, v := range m {
			cases[k] = v
		}
	}
	add(healthCases())
	add(certificateCases())
	add(agentCases())
	add(acmeAgentCases())
	add(jobAuditNotificationCases())
	add(authClusterCases())
	add(restoreCases())
	add(statsCases())
	add(importCases())
	return cases
}

func healthCases() map[string]routeCase {
	return map[string]routeCase{
		"GET /health": func(t *testing.T, w *world) {
			a := w.as(t, "", "GET", "/health", nil)
			require.Equal(t, 200, a.status)
			assert.Equal(t, map[string]any{"status": "healthy"}, a.body)
		},
		"GET /.well-known/pki/crl/:issuer_id": func(t *testing.T, w *world) {
			a := w.as(t, "", "GET", "/.well-known/pki/crl/"+w.ref.issuer, nil)
			require.Equal(t, 200, a.status, "%s", a.raw)
			assert.Equal(t, "application/pkix-crl", a.header.Get("Content-Type"))
			assert.Equal(t, []byte{0x30, 0x00}, a.raw)
			requireError(t, w.as(t, "", "GET", "/.well-known/pki/crl/iss-none", nil), 404, "")
			requireError(t, w.as(t, "", "GET", "/.well-known/pki/crl/iss-unknown", nil), 404, "")
		},
		"GET /.well-known/pki/ca/:issuer_id": func(t *testing.T, w *world) {
			a := w.as(t, "", "GET", "/.well-known/pki/ca/"+w.ref.issuer, nil)
			require.Equal(t, 200, a.status, "%s", a.raw)
			assert.Equal(t, "application/x-pem-file", a.header.Get("Content-Type"))
			assert.Contains(t, string(a.raw), "BEGIN CERTIFICATE")
			requireError(t, w.as(t, "", "GET", "/.well-known/pki/ca/iss-none", nil), 404, "")
		},
		"GET /.well-known/pki/crl/:issuer_id/root": func(t *testing.T, w *world) {
			a := w.as(t, "", "GET", "/.well-known/pki/crl/"+w.ref.issuer+"/root", nil)
			require.Equal(t, 200, a.status, "%s", a.raw)
			assert.Equal(t, "application/pkix-crl", a.header.Get("Content-Type"))
			assert.Equal(t, fakeRootCRL, a.raw)
			requireError(t, w.as(t, "", "GET", "/.well-known/pki/crl/iss-none/root", nil), 404, "")
			requireError(t, w.as(t, "", "GET", "/.well-known/pki/crl/iss-unknown/root", nil), 404, "")
		},
		"GET /.well-known/pki/ca/:issuer_id/intermediate": func(t *testing.T, w *world) {
			a := w.as(t, "", "GET", "/.well-known/pki/ca/"+w.ref.issuer+"/intermediate", nil)
			require.Equal(t, 200, a.status, "%s", a.raw)
			assert.Equal(t, "application/pkix-cert", a.header.Get("Content-Type"))
			assert.Equal(t, fakeCACert["intermediate"], a.raw)
			requireError(t, w.as(t, "", "GET", "/.well-known/pki/ca/iss-none/intermediate", nil), 404, "")
			requireError(t, w.as(t, "", "GET", "/.well-known/pki/ca/iss-unknown/intermediate", nil), 404, "")
			requireError(t, w.as(t, "", "GET", "/.well-known/pki/ca/"+w.ref.issuer+"/leaf", nil), 404, "")
		},
		"GET /.well-known/pki/ca/:issuer_id/root": func(t *testing.T, w *world) {
			a := w.as(t, "", "GET", "/.well-known/pki/ca/"+w.ref.issuer+"/root", nil)
			require.Equal(t, 200, a.status, "%s", a.raw)
			assert.Equal(t, "application/pkix-cert", a.header.Get("Content-Type"))
			assert.Equal(t, fakeCACert["root"], a.raw)
			requireError(t, w.as(t, "", "GET", "/.well-known/pki/ca/iss-none/root", nil), 404, "")
		},
		"GET /ready": func(t *testing.T, w *world) {
			a := w.as(t, "", "GET", "/ready", nil)
			require.Equal(t, 200, a.status)
			assert.Equal(t, map[string]any{"status": "ready"}, a.body)
		},
		"GET /metrics": func(t *testing.T, w *world) {
			a := w.as(t, w.viewer, "GET", "/metrics", nil)
			require.Equal(t, 200, a.status)
			assert.Contains(t, string(a.raw), "certctl_http_requests_total")
			requireError(t, w.as(t, w.auditor, "GET", "/metrics", nil), 403, "")
		},
		"GET /api/v1/openapi.json": func(t *testing.T, w *world) {
			a := w.as(t, "", "GET", "/api/v1/openapi.json", nil)
			require.Equal(t, 200, a.status)
			assert.Contains(t, a.header.Get("Content-Type"), "application/json")
			assert.NotEmpty(t, a.body["paths"])
		},
	}
}

func certificateCases() map[string]routeCase {
	return map[string]routeCase{
		"GET /api/v1/certificates": func(t *testing.T, w *world) {
			team := w.id("t-")
			w.must(t, 201, "POST", "/api/v1/teams", map[string]any{"id": team, "name": team})
			r := w.ref
			r.team = team
			soon := time.Now().Add(5 * 24 * time.Hour).UTC().Format(time.RFC3339)
			first := w.cert(t, w.admin, r, map[string]any{"expires_at": soon, "environment": "staging"})
			w.cert(t, w.admin, r, nil)
			l := w.as(t, w.viewer, "GET", "/api/v1/certificates?team_id="+team+"&per_page=1", nil)
			require.Equal(t, 200, l.status, "%s", l.raw)
			assert.Equal(t, []string{"data", "page", "per_page", "total"}, keys(l.body))
			assert.EqualValues(t, 2, l.body["total"])
			assert.EqualValues(t, 1, l.body["per_page"])
			assert.Len(t, l.body["data"], 1)
			for q, n := range map[string]int{
				"&environment=staging": 1, "&status=pending": 2, "&status=Active": 0, "&q=" + strings.ToUpper(first): 1,
				"&expires_before=" + time.Now().Add(6*24*time.Hour).UTC().Format(time.RFC3339): 1,
				"&expires_after=" + time.Now().UTC().Format(time.RFC3339):                      1,
				"&sort=-name": 2, "&per_page=100000": 2, "&consistency=strong": 2,
			} {
				a := w.as(t, w.viewer, "GET", "/api/v1/certificates?team_id="+team+q, nil)
				require.Equal(t, 200, a.status, "%s: %s", q, a.raw)
				assert.EqualValues(t, n, a.body["total"], q)
			}
			assert.EqualValues(t, 500, w.as(t, w.viewer, "GET", "/api/v1/certificates?per_page=100000", nil).body["per_page"], "per_page is at most 500")
			for q, field := range map[string]string{
				"page=0": "page", "page=-1": "page", "per_page=x": "per_page", "page=99999999999999999999": "page",
				"status=Sleeping": "status", "expires_before=tomorrow": "expires_before", "expires_after=1": "expires_after",
				"sort=colour": "sort", "consistency=maybe": "consistency",
			} {
				requireError(t, w.as(t, w.viewer, "GET", "/api/v1/certificates?"+q, nil), 400, field)
			}
		},
		"POST /api/v1/certificates": func(t *testing.T, w *world) {
			body := w.certJSON(w.ref, map[string]any{"key_generation": "agent", "expires_at": "2031-01-02T03:04:05Z"})
			a := w.as(t, w.operator, "POST", "/api/v1/certificates", body)
			require.Equal(t, 201, a.status, "%s", a.raw)
			assert.Equal(t, body["id"], a.body["id"])
			assert.Equal(t, "Pending", a.body["status"])
			assert.Equal(t, []any{}, a.body["target_ids"])
			assert.Equal(t, "2031-01-02T03:04:05Z", a.body["expires_at"])
			for _, k := range []string{"id", "name", "common_name", "sans", "environment", "owner_id", "team_id", "issuer_id", "target_ids", "status", "tags", "created_at", "updated_at"} {
				assert.Contains(t, a.body, k)
			}
			requireError(t, w.as(t, w.admin, "POST", "/api/v1/certificates", body), 409, "")
			dupName := w.certJSON(w.ref, map[string]any{"name": body["name"]})
			requireError(t, w.as(t, w.admin, "POST", "/api/v1/certificates", dupName), 409, "")
			for field, v := range map[string]any{
				"common_name": "not a host!", "sans": []string{"under score!"}, "status": "Sleeping", "id": "../etc/passwd",
				"key_generation": "hsm", "tags": map[string]string{"": "x"}, "owner_id": "o x",
			} {
				requireError(t, w.as(t, w.admin, "POST", "/api/v1/certificates", w.certJSON(w.ref, map[string]any{field: v})), 400, field)
			}
			missing := w.certJSON(w.ref, nil)
			delete(missing, "common_name")
			requireError(t, w.as(t, w.admin, "POST", "/api/v1/certificates", missing), 400, "common_name")
			requireError(t, w.as(t, w.admin, "POST", "/api/v1/certificates", `{"sans": "a.example.com"}`), 400, "sans")
			for field, v := range map[string]any{"owner_id": "o-nobody", "team_id": "t-nobody", "issuer_id": "iss-nobody", "renewal_policy_id": "rp-nobody", "target_ids": []string{"tgt-nobody"}} {
				requireError(t, w.as(t, w.admin, "POST", "/api/v1/certificates", w.certJSON(w.ref, map[string]any{field: v})), 404, field)
			}
			chunked := w.call(t, req{method: "POST", path: "/api/v1/certificates", key: w.admin,
				body: struct{ *bytes.Reader }{bytes.NewReader(bytes.Repeat([]byte(" "), api.MaxBodyBytes+10))}})
			requireError(t, chunked, 413, "")
			requireError(t, w.as(t, w.viewer, "POST", "/api/v1/certificates", w.certJSON(w.ref, nil)), 403, "")
		},
		"GET /api/v1/certificates/:id": func(t *testing.T, w *world) {
			body := w.certJSON(w.ref, nil)
			created := w.must(t, 201, "POST", "/api/v1/certificates", body)
			g := w.as(t, w.viewer, "GET", "/api/v1/certificates/"+str(created, "id"), nil)
			require.Equal(t, 200, g.status)
			assert.Equal(t, created.body, g.body)
			assert.Equal(t, 200, w.as(t, w.viewer, "GET", "/api/v1/certificates/"+str(created, "id")+"?consistency=strong", nil).status)
			requireError(t, w.as(t, w.viewer, "GET", "/api/v1/certificates/mc-none", nil), 404, "")
		},
		"PUT /api/v1/certificates/:id": func(t *testing.T, w *world) {
			body := w.certJSON(w.ref, nil)
			id := body["id"].(string)
			w.must(t, 201, "POST", "/api/v1/certificates", body)
			tgt := w.target(t, w.admin, w.agentID)
			body["environment"], body["target_ids"] = "staging", []string{tgt}
			u := w.must(t, 200, "PUT", "/api/v1/certificates/"+id, body)
			assert.Equal(t, "staging", u.body["environment"])
			assert.Equal(t, []any{tgt}, u.body["target_ids"])
			assert.Equal(t, "Pending", u.body["status"], "the status is the lifecycle's")
			requireError(t, w.as(t, w.admin, "PUT", "/api/v1/certificates/"+id, w.certJSON(w.ref, nil)), 400, "id")
			bad := w.certJSON(w.ref, map[string]any{"common_name": "-bad-.example.com"})
			delete(bad, "id")
			requireError(t, w.as(t, w.admin, "PUT", "/api/v1/certificates/"+id, bad), 400, "common_name")
			requireError(t, w.as(t, w.admin, "PUT", "/api/v1/certificates/mc-none", w.certJSON(w.ref, map[string]any{"id": "mc-none"})), 404, "")
			other := w.cert(t, w.admin, w.ref, nil)
			clash := w.certJSON(w.ref, map[string]any{"id": id, "name": other})
			requireError(t, w.as(t, w.admin, "PUT", "/api/v1/certificates/"+id, clash), 409, "")
			w.must(t, 204, "DELETE", "/api/v1/certificates/"+id, nil)
			archived := w.as(t, w.admin, "PUT", "/api/v1/certificates/"+id, body)
			requireError(t, archived, 409, "")
			assert.Equal(t, "state", archived.body["code"])
		},
		"DELETE /api/v1/certificates/:id": func(t *testing.T, w *world) {
			id := w.cert(t, w.admin, w.ref, nil)
			assert.Empty(t, w.must(t, 204, "DELETE", "/api/v1/certificates/"+id, nil).raw)
			assert.Equal(t, "Archived", w.as(t, w.viewer, "GET", "/api/v1/certificates/"+id, nil).body["status"], "delete archives")
			w.must(t, 204, "DELETE", "/api/v1/certificates/"+id, nil)
			requireError(t, w.as(t, w.admin, "DELETE", "/api/v1/certificates/mc-none", nil), 404, "")
			requireError(t, w.as(t, w.admin, "DELETE", "/api/v1/certificates/mc%20none", nil), 400, "id")
		},
		"GET /api/v1/certificates/:id/versions": func(t *testing.T, w *world) {
			id := w.cert(t, w.admin, w.ref, nil)
			empty := w.as(t, w.viewer, "GET", "/api/v1/certificates/"+id+"/versions", nil)
			require.Equal(t, 200, empty.status)
			assert.Equal(t, []any{}, empty.body["data"])
			v := w.issue(t, id, id+".example.com", 30*24*time.Hour)
			l := w.as(t, w.viewer, "GET", "/api/v1/certificates/"+id+"/versions", nil)
			require.Equal(t, 200, l.status)
			assert.EqualValues(t, 1, l.body["total"])
			item := l.body["data"].([]any)[0].(map[string]any)
			assert.Equal(t, v.ID, item["id"])
			assert.Equal(t, v.PEMChain, item["pem_chain"])
			assert.Equal(t, v.FingerprintSHA256, item["fingerprint_sha256"])
			assert.Equal(t, "Active", w.as(t, w.viewer, "GET", "/api/v1/certificates/"+id, nil).body["status"], "a recorded version makes it Active")
			requireError(t, w.as(t, w.viewer, "GET", "/api/v1/certificates/mc-none/versions", nil), 404, "")
			requireError(t, w.as(t, w.viewer, "GET", "/api/v1/certificates/"+id+"/versions?page=x", nil), 400, "page")
		},
		"POST /api/v1/certificates/:id/renew": func(t *testing.T, w *world) {
			id := w.cert(t, w.admin, w.ref, nil)
			a := w.as(t, w.operator, "POST", "/api/v1/certificates/"+id+"/renew", nil)
			require.Equal(t, 202, a.status, "%s", a.raw)
			assert.Equal(t, "renewal_triggered", a.body["status"])
			jobs := a.body["job_ids"].([]any)
			require.Len(t, jobs, 1)
			again := w.must(t, 202, "POST", "/api/v1/certificates/"+id+"/renew", nil)
			assert.Equal(t, jobs, again.body["job_ids"], "one renewal at a time")
			j := w.as(t, w.viewer, "GET", "/api/v1/jobs/"+jobs[0].(string), nil)
			assert.Equal(t, "Renewal", j.body["type"])
			assert.Equal(t, "Pending", j.body["status"])
			requireError(t, w.as(t, w.admin, "POST", "/api/v1/certificates/mc-none/renew", nil), 404, "")
			w.must(t, 204, "DELETE", "/api/v1/certificates/"+id, nil)
			requireError(t, w.as(t, w.admin, "POST", "/api/v1/certificates/"+id+"/renew", nil), 409, "")
		},
		"POST /api/v1/certificates/:id/deploy": func(t *testing.T, w *world) {
			id, tgt, cn := w.servedCert(t, w.agentID)
			requireError(t, w.as(t, w.admin, "POST", "/api/v1/certificates/"+id+"/deploy", nil), 409, "")
			w.issue(t, id, cn, 30*24*time.Hour)
			a := w.as(t, w.operator, "POST", "/api/v1/certificates/"+id+"/deploy", map[string]any{"target_id": tgt})
			require.Equal(t, 202, a.status, "%s", a.raw)
			assert.Equal(t, "deployment_triggered", a.body["status"])
			require.Len(t, a.body["job_ids"], 1)
			j := w.as(t, w.viewer, "GET", "/api/v1/jobs/"+a.body["job_ids"].([]any)[0].(string), nil)
			assert.Equal(t, "Deployment", j.body["type"])
			assert.Equal(t, w.agentID, j.body["agent_id"])
			assert.Equal(t, tgt, j.body["target_id"])
			requireError(t, w.as(t, w.admin, "POST", "/api/v1/certificates/"+id+"/deploy", map[string]any{"target_id": "tgt-unmapped"}), 400, "target_id")
			requireError(t, w.as(t, w.admin, "POST", "/api/v1/certificates/"+id+"/deploy", `{"target_id": 1}`), 400, "target_id")
			requireError(t, w.as(t, w.admin, "POST", "/api/v1/certificates/mc-none/deploy", nil), 404, "")
			lonely := w.cert(t, w.admin, w.ref, nil)
			w.issue(t, lonely, lonely+".example.com", 30*24*time.Hour)
			requireError(t, w.as(t, w.admin, "POST", "/api/v1/certificates/"+lonely+"/deploy", nil), 409, "")
		},
		"POST /api/v1/certificates/:id/revoke": func(t *testing.T, w *world) {
			id := w.cert(t, w.admin, w.ref, nil)
			w.issue(t, id, id+".example.com", 30*24*time.Hour)
			requireError(t, w.as(t, w.admin, "POST", "/api/v1/certificates/"+id+"/revoke", map[string]any{"reason": "stolen"}), 400, "reason")
			a := w.as(t, w.operator, "POST", "/api/v1/certificates/"+id+"/revoke", map[string]any{"reason": "keyCompromise"})
			require.Equal(t, 200, a.status, "%s", a.raw)
			assert.Equal(t, map[string]any{"status": "revoked"}, a.body)
			c := w.as(t, w.viewer, "GET", "/api/v1/certificates/"+id, nil)
			assert.Equal(t, "Revoked", c.body["status"])
			assert.Equal(t, "keyCompromise", c.body["status_reason"])
			again := w.as(t, w.admin, "POST", "/api/v1/certificates/"+id+"/revoke", nil)
			requireError(t, again, 409, "")
			assert.Equal(t, "state", again.body["code"])
			requireError(t, w.as(t, w.admin, "POST", "/api/v1/certificates/"+id+"/renew", nil), 409, "")
			requireError(t, w.as(t, w.admin, "POST", "/api/v1/certificates/mc-none/revoke", nil), 404, "")
		},
		"POST /api/v1/issuers/:id/test": func(t *testing.T, w *world) {
			a := w.as(t, w.operator, "POST", "/api/v1/issuers/"+w.ref.issuer+"/test", nil)
			require.Equal(t, 200, a.status, "%s", a.raw)
			assert.Equal(t, map[string]any{"status": "connection_successful"}, a.body)
			requireError(t, w.as(t, w.admin, "POST", "/api/v1/issuers/iss-none/test", nil), 404, "")
		},
		// With material and a real CRL: TestAPI_IssuerCA.
		"GET /api/v1/issuers/:id/ca": func(t *testing.T, w *world) {
			a := w.as(t, w.viewer, "GET", "/api/v1/issuers/"+w.ref.issuer+"/ca", nil)
			require.Equal(t, 200, a.status, "%s", a.raw)
			assert.Equal(t, map[string]any{"issuer_id": w.ref.issuer, "has_material": false, "ca_not_after": nil, "root_not_after": nil,
				"crl_this_update": nil, "crl_next_update": nil, "revoked_count": nil}, a.body)
			requireError(t, w.as(t, w.viewer, "GET", "/api/v1/issuers/iss-none/ca", nil), 404, "")
		},
		"GET /api/v1/certificates/:id/violations": func(t *testing.T, w *world) {
			rule := w.id("pr-")
			ruleBody := map[string]any{"id": rule, "name": rule, "type": "RequiredMetadata", "config": map[string]any{"required_keys": []string{"cost_center"}}, "enabled": true, "severity": "Warning"}
			w.must(t, 201, "POST", "/api/v1/policies", ruleBody)
			certID := w.cert(t, w.admin, w.ref, nil)
			l := w.as(t, w.viewer, "GET", "/api/v1/certificates/"+certID+"/violations", nil)
			require.Equal(t, 200, l.status, "%s", l.raw)
			assert.EqualValues(t, 1, l.body["total"], "creating the certificate evaluated the rule")
			v := l.body["data"].([]any)[0].(map[string]any)
			assert.Equal(t, "pv-"+certID+"-"+rule, v["id"])
			assert.Equal(t, rule, v["rule_id"])
			assert.Equal(t, "Warning", v["severity"], "a Warning rule reports; an Error or Critical one would have refused the create")
			assert.Contains(t, v["message"], "cost_center")
			assert.EqualValues(t, 1, w.as(t, w.viewer, "GET", "/api/v1/certificates/"+certID+"/violations?rule_id="+rule, nil).body["total"])
			assert.EqualValues(t, 0, w.as(t, w.viewer, "GET", "/api/v1/certificates/"+certID+"/violations?rule_id=pr-other", nil).body["total"])
			// Fixing the certificate clears its violation.
			fixed := w.certJSON(w.ref, map[string]any{"id": certID, "name": certID, "common_name": certID + ".example.com",
				"sans": []string{certID + ".example.com"}, "tags": map[string]string{"service": "api", "cost_center": "42"}})
			w.must(t, 200, "PUT", "/api/v1/certificates/"+certID, fixed)
			assert.EqualValues(t, 0, w.as(t, w.viewer, "GET", "/api/v1/certificates/"+certID+"/violations", nil).body["total"])
			// The rule would apply to every later certificate of the shared world.
			ruleBody["enabled"] = false
			w.must(t, 200, "PUT", "/api/v1/policies/"+rule, ruleBody)
			requireError(t, w.as(t, w.viewer, "GET", "/api/v1/certificates/mc-none/violations", nil), 404, "")
			requireError(t, w.as(t, w.viewer, "GET", "/api/v1/certificates/"+certID+"/violations?per_page=0", nil), 400, "per_page")
		},
		"GET /api/v1/policies/:id/violations": func(t *testing.T, w *world) {
			rule := w.id("pr-")
			w.must(t, 201, "POST", "/api/v1/policies", map[string]any{"id": rule, "name": rule, "type": "AllowedEnvironments", "config": map[string]any{"allowed": []string{"production"}}, "enabled": true})
			certID := w.cert(t, w.admin, w.ref, map[string]any{"environment": "lab"})
			w.propose(t, &fsm.RecordViolations{CertificateID: certID, Violations: []fsm.PolicyViolation{{ID: w.id("pv-"), CertificateID: certID, RuleID: rule, Message: "environment lab is not allowed", Severity: "Error"}}})
			// Only this certificate: creating the rule evaluated every
			// certificate of the shared world, and some are not in production.
			l := w.as(t, w.viewer, "GET", "/api/v1/policies/"+rule+"/violations?certificate_id="+certID, nil)
			require.Equal(t, 200, l.status, "%s", l.raw)
			assert.EqualValues(t, 1, l.body["total"])
			v := l.body["data"].([]any)[0].(map[string]any)
			assert.Equal(t, certID, v["certificate_id"])
			assert.Equal(t, "Error", v["severity"])
			assert.EqualValues(t, 0, w.as(t, w.viewer, "GET", "/api/v1/policies/"+rule+"/violations?certificate_id=mc-other", nil).body["total"])
			requireError(t, w.as(t, w.viewer, "GET", "/api/v1/policies/pr-none/violations", nil), 404, "")
			requireError(t, w.as(t, w.viewer, "GET", "/api/v1/policies/"+rule+"/violations?per_page=0", nil), 400, "per_page")
		},
	}
}

func agentCases() map[string]routeCase {
	return map[string]routeCase{
		"GET /api/v1/agents": func(t *testing.T, w *world) {
			l := w.as(t, w.viewer, "GET", "/api/v1/agents?per_page=500", nil)
			require.Equal(t, 200, l.status)
			assert.GreaterOrEqual(t, l.body["total"], float64(2))
			assert.NotContains(t, string(l.raw), "api_key_hash", "an agent's key hash is never served")
			assert.NotContains(t, string(l.raw), `"hash"`)
			off := w.as(t, w.viewer, "GET", "/api/v1/agents?status=offline&per_page=500", nil)
			require.Equal(t, 200, off.status)
			for _, a := range off.body["data"].([]any) {
				assert.Equal(t, "Offline", a.(map[string]any)["status"])
			}
			requireError(t, w.as(t, w.viewer, "GET", "/api/v1/agents?status=Asleep", nil), 400, "status")
		},
		"POST /api/v1/agents": func(t *testing.T, w *world) {
			id := w.id("ag-")
			a := w.as(t, w.operator, "POST", "/api/v1/agents", map[string]any{"id": id, "name": id, "hostname": "web-1.example.net"})
			require.Equal(t, 201, a.status, "%s", a.raw)
			assert.Equal(t, []string{"api_key", "hostname", "id", "name", "registered_at", "status"}, keys(a.body))
			assert.Equal(t, "Offline", a.body["status"])
			secret := str(a, "api_key")
			require.True(t, strings.HasPrefix(secret, "cck_"))
			check := w.as(t, secret, "GET", "/api/v1/auth/check", nil)
			assert.Equal(t, "agent", check.body["role"], "the key returned is the agent's own")
			assert.Equal(t, id, check.body["agent_id"])
			requireError(t, w.as(t, w.admin, "POST", "/api/v1/agents", map[string]any{"id": id, "name": "other", "hostname": "h"}), 409, "")
			requireError(t, w.as(t, w.admin, "POST", "/api/v1/agents", map[string]any{"name": id, "hostname": "h"}), 409, "")
			requireError(t, w.as(t, w.admin, "POST", "/api/v1/agents", map[string]any{"hostname": "h"}), 400, "name")
			requireError(t, w.as(t, w.admin, "POST", "/api/v1/agents", map[string]any{"name": strings.Repeat("a", 129), "hostname": "h"}), 400, "name")
			requireError(t, w.as(t, w.admin, "POST", "/api/v1/agents", map[string]any{"name": "n-" + id}), 400, "hostname")
		},
		"GET /api/v1/agents/:id": func(t *testing.T, w *world) {
			a := w.as(t, w.viewer, "GET", "/api/v1/agents/"+w.agentID, nil)
			require.Equal(t, 200, a.status)
			assert.Equal(t, w.agentID, a.body["id"])
			assert.NotContains(t, a.body, "api_key_hash")
			assert.NotContains(t, a.body, "api_key")
			requireError(t, w.as(t, w.viewer, "GET", "/api/v1/agents/ag-none", nil), 404, "")
		},
		"DELETE /api/v1/agents/:id": func(t *testing.T, w *world) {
			id, key := w.agent(t, w.admin)
			assert.Equal(t, 200, w.as(t, key, "GET", "/api/v1/agents/"+id+"/work", nil).status)
			assert.Empty(t, w.must(t, 204, "DELETE", "/api/v1/agents/"+id, nil).raw)
			a := w.as(t, w.viewer, "GET", "/api/v1/agents/"+id, nil)
			assert.NotEmpty(t, a.body["retired_at"])
			// The original told a retired agent it was gone; its revoked key
			// still says who it is, and works nowhere else.
			requireError(t, w.as(t, key, "GET", "/api/v1/agents/"+id+"/work", nil), 410, "")
			requireError(t, w.as(t, key, "POST", "/api/v1/agents/"+id+"/heartbeat", nil), 410, "")
			requireError(t, w.as(t, key, "GET", "/api/v1/auth/check", nil), 401, "")
			requireError(t, w.as(t, w.admin, "DELETE", "/api/v1/agents/ag-none", nil), 404, "")
		},
		"POST /api/v1/agents/:id/heartbeat": func(t *testing.T, w *world) {
			id, key := w.agent(t, w.admin)
			a := w.as(t, key, "POST", "/api/v1/agents/"+id+"/heartbeat", map[string]any{"version": "1.2.3", "hostname": "web-2.example.net"})
			require.Equal(t, 200, a.status, "%s", a.raw)
			assert.Equal(t, map[string]any{"status": "heartbeat_recorded"}, a.body)
			g := w.as(t, w.viewer, "GET", "/api/v1/agents/"+id, nil)
			assert.Equal(t, "Online", g.body["status"])
			assert.Equal(t, "1.2.3", g.body["version"])
			assert.Equal(t, "web-2.example.net", g.body["hostname"])
			assert.NotEmpty(t, g.body["last_heartbeat_at"])
			assert.Equal(t, 200, w.as(t, key, "POST", "/api/v1/agents/"+id+"/heartbeat", nil).status, "the body is optional")
			later := w.as(t, key, "POST", "/api/v1/agents/"+id+"/heartbeat", map[string]any{"version": "1.4.0", "hostname": "web-2.example.net",
				"os": "linux", "architecture": "amd64", "ip_address": "192.0.2.10"})
			assert.Equal(t, 200, later.status, "the fields of the original's later agents are accepted: %s", later.raw)
			requireError(t, w.as(t, key, "POST", "/api/v1/agents/"+id+"/heartbeat", map[string]any{"version": "1\x00"}), 400, "version")
			requireError(t, w.as(t, key, "POST", "/api/v1/agents/"+id+"/heartbeat", map[string]any{"version": strings.Repeat("9", 65)}), 400, "version")
			requireError(t, w.as(t, key, "POST", "/api/v1/agents/"+id+"/heartbeat", `{"version": 1}`), 400, "version")
			requireError(t, w.as(t, w.admin, "POST", "/api/v1/agents/ag-none/heartbeat", nil), 404, "")
			retired, _ := w.retiredAgent(t)
			requireError(t, w.as(t, w.admin, "POST", "/api/v1/agents/"+retired+"/heartbeat", nil), 410, "")
			requireError(t, w.as(t, key, "POST", "/api/v1/agents/"+w.agentID+"/heartbeat", nil), 403, "")
		},
		"GET /api/v1/agents/:id/work": func(t *testing.T, w *world) {
			id, key := w.agent(t, w.admin)
			empty := w.as(t, key, "GET", "/api/v1/agents/"+id+"/work", nil)
			require.Equal(t, 200, empty.status)
			assert.Equal(t, map[string]any{"jobs": []any{}, "count": float64(0)}, empty.body)
			certID, jobID := w.deployJob(t, id)
			other, _ := w.deployJob(t, w.otherAgentID)
			csrCert, _, _ := w.servedCert(t, id)
			csrJob := w.awaitingCSRJob(t, id, csrCert)
			a := w.as(t, key, "GET", "/api/v1/agents/"+id+"/work", nil)
			require.Equal(t, 200, a.status)
			assert.EqualValues(t, 2, a.body["count"])
			byID := map[string]map[string]any{}
			var statuses []any
			for _, j := range a.body["jobs"].([]any) {
				byID[j.(map[string]any)["id"].(string)] = j.(map[string]any)
				statuses = append(statuses, j.(map[string]any)["status"])
			}
			assert.Equal(t, []any{"Pending", "AwaitingCSR"}, statuses, "by status, Pending first, whatever the ids")
			require.Contains(t, byID, jobID)
			require.Contains(t, byID, csrJob)
			dep := byID[jobID]
			assert.Equal(t, "Deployment", dep["type"])
			assert.Equal(t, certID, dep["certificate_id"])
			assert.Equal(t, certID+".example.com", dep["common_name"])
			assert.Equal(t, "NGINX", dep["target_type"])
			assert.NotEmpty(t, dep["target_config"])
			assert.Equal(t, "AwaitingCSR", byID[csrJob]["status"])
			assert.NotContains(t, string(a.raw), other, "only the agent's own jobs")
			retired, _ := w.retiredAgent(t)
			requireError(t, w.as(t, w.admin, "GET", "/api/v1/agents/"+retired+"/work", nil), 410, "")
			requireError(t, w.as(t, w.admin, "GET", "/api/v1/agents/ag-none/work", nil), 404, "")
		},
		"POST /api/v1/agents/:id/csr": func(t *testing.T, w *world) {
			id, key := w.agent(t, w.admin)
			path := "/api/v1/agents/" + id + "/csr"
			requireError(t, w.as(t, key, "POST", path, map[string]any{"csr_pem": "not a PEM"}), 400, "csr_pem")
			requireError(t, w.as(t, key, "POST", path, map[string]any{"csr_pem": "-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n"}), 400, "csr_pem")
			requireError(t, w.as(t, key, "POST", path, `{"csr_pem": ["x"]}`), 400, "csr_pem")
			certID, _, cn := w.servedCert(t, id)
			none := w.as(t, key, "POST", path, map[string]any{"csr_pem": csrPEM(t, cn)})
			requireError(t, none, 409, "")
			assert.Contains(t, none.body["message"], "no job waiting for a CSR")
			w.awaitingCSRJob(t, id, certID)
			requireError(t, w.as(t, key, "POST", path, map[string]any{"csr_pem": csrPEM(t, cn), "certificate_id": "mc-other"}), 409, "certificate_id")
			requireError(t, w.as(t, key, "POST", path, map[string]any{"csr_pem": csrPEM(t, "evil.example.org")}), 400, "csr_pem")
			ok := w.as(t, key, "POST", path, map[string]any{"csr_pem": csrPEM(t, cn), "certificate_id": certID})
			require.Equal(t, 202, ok.status, "%s", ok.raw)
			assert.Equal(t, map[string]any{"status": "csr_accepted"}, ok.body)
			retired, _ := w.retiredAgent(t)
			requireError(t, w.as(t, w.admin, "POST", "/api/v1/agents/"+retired+"/csr", map[string]any{"csr_pem": csrPEM(t, cn)}), 410, "")
		},
		"GET /api/v1/agents/:id/certificates/:cert_id": func(t *testing.T, w *world) {
			id, key := w.agent(t, w.admin)
			certID, _, cn := w.servedCert(t, id)
			path := "/api/v1/agents/" + id + "/certificates/" + certID
			requireError(t, w.as(t, key, "GET", path, nil), 404, "")
			v := w.issue(t, certID, cn, 30*24*time.Hour)
			a := w.as(t, key, "GET", path, nil)
			require.Equal(t, 200, a.status, "%s", a.raw)
			assert.Equal(t, map[string]any{"certificate_pem": v.PEMChain}, a.body)
			v2 := w.issue(t, certID, cn, 60*24*time.Hour)
			assert.Equal(t, v2.PEMChain, w.as(t, key, "GET", path, nil).body["certificate_pem"], "the latest version")
			foreign, _ := w.deployJob(t, w.otherAgentID)
			requireError(t, w.as(t, key, "GET", "/api/v1/agents/"+id+"/certificates/"+foreign, nil), 403, "")
			requireError(t, w.as(t, key, "GET", "/api/v1/agents/"+id+"/certificates/mc-none", nil), 404, "")
			retired, _ := w.retiredAgent(t)
			requireError(t, w.as(t, w.admin, "GET", "/api/v1/agents/"+retired+"/certificates/"+certID, nil), 410, "")
		},
		"POST /api/v1/agents/:id/jobs/:job_id/status": func(t *testing.T, w *world) {
			id, key := w.agent(t, w.admin)
			certID, done := w.deployJob(t, id)
			path := "/api/v1/agents/" + id + "/jobs/"
			a := w.as(t, key, "POST", path+done+"/status", map[string]any{"status": "Completed", "deployment_result": map[string]any{"reloaded": true}})
			require.Equal(t, 200, a.status, "%s", a.raw)
			assert.Equal(t, map[string]any{"status": "updated"}, a.body)
			j := w.as(t, w.viewer, "GET", "/api/v1/jobs/"+done, nil)
			assert.Equal(t, "Completed", j.body["status"])
			assert.Equal(t, map[string]any{"reloaded": true}, j.body["deployment_result"])
			assert.NotEmpty(t, w.as(t, w.viewer, "GET", "/api/v1/certificates/"+certID, nil).body["last_deployment_at"])
			again := w.as(t, key, "POST", path+done+"/status", map[string]any{"status": "Completed"})
			requireError(t, again, 409, "")
			assert.Equal(t, "state", again.body["code"])

			_, failed := w.deployJob(t, id)
			f := w.as(t, key, "POST", path+failed+"/status", map[string]any{"status": "failed", "error": "nginx -t failed"})
			require.Equal(t, 200, f.status, "%s", f.raw)
			fj := w.as(t, w.viewer, "GET", "/api/v1/jobs/"+failed, nil)
			assert.Equal(t, "Failed", fj.body["status"])
			assert.Equal(t, "nginx -t failed", fj.body["last_error"])

			// The original agent reports Running before it deploys: the job
			// starts (started_at) and is not finished; only Completed ends it.
			_, run := w.deployJob(t, id)
			r := w.as(t, key, "POST", path+run+"/status", map[string]any{"status": "Running"})
			require.Equal(t, 200, r.status, "%s", r.raw)
			assert.Equal(t, map[string]any{"status": "updated"}, r.body)
			rj := w.as(t, w.viewer, "GET", "/api/v1/jobs/"+run, nil)
			assert.Equal(t, "Running", rj.body["status"])
			assert.NotEmpty(t, rj.body["started_at"])
			assert.Nil(t, rj.body["completed_at"])
			require.Equal(t, 200, w.as(t, key, "POST", path+run+"/status", map[string]any{"status": "running"}).status, "reported again")
			require.Equal(t, 200, w.as(t, key, "POST", path+run+"/status", map[string]any{"status": "Completed"}).status)
			rj = w.as(t, w.viewer, "GET", "/api/v1/jobs/"+run, nil)
			assert.Equal(t, "Completed", rj.body["status"])
			assert.Equal(t, float64(1), rj.body["attempts"])
			requireError(t, w.as(t, key, "POST", path+run+"/status", map[string]any{"status": "Running"}), 409, "")

			_, open := w.deployJob(t, id)
			for _, st := range []string{"Pending", "", "done"} {
				requireError(t, w.as(t, key, "POST", path+open+"/status", map[string]any{"status": st}), 400, "status")
			}
			requireError(t, w.as(t, key, "POST", path+open+"/status", map[string]any{"status": "Completed", "deployment_result": []int{1}}), 400, "deployment_result")
			requireError(t, w.as(t, key, "POST", path+"job-none/status", map[string]any{"status": "Completed"}), 404, "")
			_, foreign := w.deployJob(t, w.otherAgentID)
			requireError(t, w.as(t, key, "POST", path+foreign+"/status", map[string]any{"status": "Completed"}), 409, "")
			requireError(t, w.as(t, key, "POST", "/api/v1/agents/"+w.otherAgentID+"/jobs/"+foreign+"/status", map[string]any{"status": "Completed"}), 403, "")
		},
	}
}

func jobAuditNotificationCases() map[string]routeCase {
	return map[string]routeCase{
		"GET /api/v1/jobs": func(t *testing.T, w *world) {
			certID := w.cert(t, w.admin, w.ref, nil)
			w.must(t, 202, "POST", "/api/v1/certificates/"+certID+"/renew", nil)
			l := w.as(t, w.viewer, "GET", "/api/v1/jobs?certificate_id="+certID+"&status=pending&type=RENEWAL", nil)
			require.Equal(t, 200, l.status, "%s", l.raw)
			assert.EqualValues(t, 1, l.body["total"])
			assert.EqualValues(t, 0, w.as(t, w.viewer, "GET", "/api/v1/jobs?certificate_id="+certID+"&type=Deployment", nil).body["total"])
			requireError(t, w.as(t, w.viewer, "GET", "/api/v1/jobs?status=Stuck", nil), 400, "status")
			requireError(t, w.as(t, w.viewer, "GET", "/api/v1/jobs?type=Rotate", nil), 400, "type")
		},
		"GET /api/v1/jobs/:id": func(t *testing.T, w *world) {
			_, jobID := w.deployJob(t, w.agentID)
			j := w.as(t, w.viewer, "GET", "/api/v1/jobs/"+jobID, nil)
			require.Equal(t, 200, j.status)
			for _, k := range []string{"id", "type", "certificate_id", "target_id", "agent_id", "status", "attempts", "max_attempts", "scheduled_at", "created_at"} {
				assert.Contains(t, j.body, k)
			}
			requireError(t, w.as(t, w.viewer, "GET", "/api/v1/jobs/job-none", nil), 404, "")
		},
		"POST /api/v1/jobs/:id/cancel": func(t *testing.T, w *world) {
			_, jobID := w.deployJob(t, w.agentID)
			a := w.as(t, w.operator, "POST", "/api/v1/jobs/"+jobID+"/cancel", nil)
			require.Equal(t, 200, a.status, "%s", a.raw)
			assert.Equal(t, map[string]any{"status": "job_cancelled"}, a.body)
			assert.Equal(t, "Cancelled", w.as(t, w.viewer, "GET", "/api/v1/jobs/"+jobID, nil).body["status"])
			again := w.as(t, w.admin, "POST", "/api/v1/jobs/"+jobID+"/cancel", nil)
			requireError(t, again, 409, "")
			requireError(t, w.as(t, w.admin, "POST", "/api/v1/jobs/job-none/cancel", nil), 404, "")
			requireError(t, w.as(t, w.admin, "POST", "/api/v1/jobs/job%20none/cancel", nil), 400, "job_id")
		},
		"GET /api/v1/audit": func(t *testing.T, w *world) {
			certID := w.cert(t, w.operator, w.ref, nil)
			l := w.as(t, w.auditor, "GET", "/api/v1/audit?resource_type=certificate&resource_id="+certID, nil)
			require.Equal(t, 200, l.status, "%s", l.raw)
			assert.EqualValues(t, 1, l.body["total"])
			ev := l.body["data"].([]any)[0].(map[string]any)
			assert.Equal(t, "certificate_created", ev["action"])
			assert.Equal(t, "User", ev["actor_type"])
			assert.Equal(t, "operator", ev["actor_role"])
			from := time.Now().Add(-time.Hour).UTC().Format(time.RFC3339)
			assert.EqualValues(t, 1, w.as(t, w.auditor, "GET", "/api/v1/audit?actor_type=user&from="+from+"&resource_id="+certID, nil).body["total"])
			requireError(t, w.as(t, w.auditor, "GET", "/api/v1/audit?actor_type=Robot", nil), 400, "actor_type")
			requireError(t, w.as(t, w.auditor, "GET", "/api/v1/audit?from=yesterday", nil), 400, "from")
			requireError(t, w.as(t, w.auditor, "GET", "/api/v1/audit?to=1", nil), 400, "to")
		},
		"GET /api/v1/audit/verify": func(t *testing.T, w *world) {
			a := w.as(t, w.auditor, "GET", "/api/v1/audit/verify", nil)
			require.Equal(t, 200, a.status)
			assert.Equal(t, true, a.body["valid"], "%s", a.raw)
			assert.Greater(t, a.body["events"], float64(0))
			assert.NotEmpty(t, a.body["head"])
			assert.Equal(t, true, a.body["keyed"], "the node holds the audit key: %s", a.raw)
			assert.EqualValues(t, 1, a.body["keyed_from"])
		},
		"GET /api/v1/audit/head": func(t *testing.T, w *world) {
			a := w.as(t, w.auditor, "GET", "/api/v1/audit/head", nil)
			require.Equal(t, 200, a.status, "%s", a.raw)
			applied := a.body["applied_index"].(float64)
			assert.Greater(t, applied, float64(0))
			assert.Equal(t, applied, a.body["at_index"], "no at_index: the applied index")
			assert.Greater(t, a.body["seq"], float64(0))
			assert.LessOrEqual(t, a.body["raft_index"], applied)
			at := strconv.FormatUint(uint64(applied), 10)
			again := w.as(t, w.auditor, "GET", "/api/v1/audit/head?at_index="+at, nil)
			require.Equal(t, 200, again.status, "%s", again.raw)
			for _, f := range []string{"at_index", "seq", "id", "hash", "raft_index"} {
				assert.Equal(t, a.body[f], again.body[f], "the head as of index %s does not move: %s", at, f)
			}
			first := w.as(t, w.auditor, "GET", "/api/v1/audit/head?at_index=1", nil)
			require.Equal(t, 200, first.status, "%s", first.raw)
			assert.LessOrEqual(t, first.body["raft_index"], float64(1))
			requireError(t, w.as(t, w.auditor, "GET", "/api/v1/audit/head?at_index=999999999", nil), 409, "at_index")
			requireError(t, w.as(t, w.auditor, "GET", "/api/v1/audit/head?at_index=-1", nil), 400, "at_index")
		},
		"GET /api/v1/audit/:id": func(t *testing.T, w *world) {
			l := w.as(t, w.auditor, "GET", "/api/v1/audit?per_page=1", nil)
			ev := l.body["data"].([]any)[0].(map[string]any)
			a := w.as(t, w.auditor, "GET", "/api/v1/audit/"+ev["id"].(string), nil)
			require.Equal(t, 200, a.status)
			assert.Equal(t, ev, a.body)
			requireError(t, w.as(t, w.auditor, "GET", "/api/v1/audit/audit-none", nil), 404, "")
		},
		"GET /api/v1/notifications": func(t *testing.T, w *world) {
			id := w.notification(t)
			l := w.as(t, w.viewer, "GET", "/api/v1/notifications?status=PENDING&channel=email&type=expirationwarning&per_page=500", nil)
			require.Equal(t, 200, l.status, "%s", l.raw)
			assert.Contains(t, string(l.raw), id)
			requireError(t, w.as(t, w.viewer, "GET", "/api/v1/notifications?channel=Pager", nil), 400, "channel")
			requireError(t, w.as(t, w.viewer, "GET", "/api/v1/notifications?status=lost", nil), 400, "status")
			requireError(t, w.as(t, w.viewer, "GET", "/api/v1/notifications?type=Gossip", nil), 400, "type")
		},
		"GET /api/v1/notifications/:id": func(t *testing.T, w *world) {
			id := w.notification(t)
			a := w.as(t, w.viewer, "GET", "/api/v1/notifications/"+id, nil)
			require.Equal(t, 200, a.status)
			assert.Equal(t, "pending", a.body["status"])
			assert.Equal(t, "Email", a.body["channel"])
			requireError(t, w.as(t, w.viewer, "GET", "/api/v1/notifications/ne-none", nil), 404, "")
		},
		"POST /api/v1/notifications/:id/read": func(t *testing.T, w *world) {
			id := w.notification(t)
			a := w.as(t, w.operator, "POST", "/api/v1/notifications/"+id+"/read", nil)
			require.Equal(t, 200, a.status, "%s", a.raw)
			assert.Equal(t, map[string]any{"status": "marked_as_read"}, a.body)
			assert.Equal(t, "read", w.as(t, w.viewer, "GET", "/api/v1/notifications/"+id, nil).body["status"])
			requireError(t, w.as(t, w.admin, "POST", "/api/v1/notifications/ne-none/read", nil), 404, "")
		},
	}
}

func authClusterCases() map[string]routeCase {
	return map[string]routeCase{
		"GET /api/v1/auth/info": func(t *testing.T, w *world) {
			a := w.as(t, "", "GET", "/api/v1/auth/info", nil)
			require.Equal(t, 200, a.status)
			assert.Equal(t, map[string]any{"auth_type": "api_key", "required": true}, a.body)
		},
		"GET /api/v1/auth/check": func(t *testing.T, w *world) {
			a := w.as(t, w.auditor, "GET", "/api/v1/auth/check", nil)
			require.Equal(t, 200, a.status)
			assert.Equal(t, "authenticated", a.body["status"])
			assert.Equal(t, "auditor", a.body["role"])
			lower := w.call(t, req{method: "GET", path: "/api/v1/auth/check", header: map[string]string{"Authorization": "bearer " + w.viewer}})
			assert.Equal(t, 200, lower.status, "the scheme is case-insensitive")
			basic := w.call(t, req{method: "GET", path: "/api/v1/auth/check", header: map[string]string{"Authorization": "Basic " + w.viewer}})
			requireError(t, basic, 401, "")
		},
		"GET /api/v1/auth/keys": func(t *testing.T, w *world) {
			l := w.as(t, w.admin, "GET", "/api/v1/auth/keys?per_page=500", nil)
			require.Equal(t, 200, l.status)
			assert.GreaterOrEqual(t, l.body["total"], float64(6))
			assert.NotContains(t, string(l.raw), `"hash"`, "a key's hash is never served")
			assert.NotContains(t, string(l.raw), w.viewer, "nor its secret")
			requireError(t, w.as(t, w.admin, "GET", "/api/v1/auth/keys?page=0", nil), 400, "page")
		},
		"POST /api/v1/auth/keys": func(t *testing.T, w *world) {
			name := w.id("ci-")
			a := w.as(t, w.admin, "POST", "/api/v1/auth/keys", map[string]any{"name": name, "role": "Operator"})
			require.Equal(t, 201, a.status, "%s", a.raw)
			assert.Equal(t, []string{"api_key", "created_at", "id", "name", "prefix", "role"}, keys(a.body))
			assert.Equal(t, "operator", a.body["role"], "roles are matched case-insensitively")
			assert.True(t, strings.HasPrefix(str(a, "api_key"), str(a, "prefix")))
			assert.Equal(t, 200, w.as(t, str(a, "api_key"), "GET", "/api/v1/auth/check", nil).status)
			requireError(t, w.as(t, w.admin, "POST", "/api/v1/auth/keys", map[string]any{"name": name, "role": "viewer"}), 409, "")
			requireError(t, w.as(t, w.admin, "POST", "/api/v1/auth/keys", map[string]any{"name": w.id("k-"), "role": "superuser"}), 400, "role")
			requireError(t, w.as(t, w.admin, "POST", "/api/v1/auth/keys", map[string]any{"name": w.id("k-"), "role": "agent"}), 400, "agent_id")
			requireError(t, w.as(t, w.admin, "POST", "/api/v1/auth/keys", map[string]any{"name": w.id("k-"), "role": "viewer", "agent_id": w.agentID}), 400, "agent_id")
			requireError(t, w.as(t, w.admin, "POST", "/api/v1/auth/keys", map[string]any{"name": "", "role": "viewer"}), 400, "name")
			requireError(t, w.as(t, w.admin, "POST", "/api/v1/auth/keys", map[string]any{"name": w.id("k-"), "role": "agent", "agent_id": "ag-none"}), 404, "")
			retired, _ := w.retiredAgent(t)
			requireError(t, w.as(t, w.admin, "POST", "/api/v1/auth/keys", map[string]any{"name": w.id("k-"), "role": "agent", "agent_id": retired}), 409, "")
			agentKey := w.newKey(t, "agent", w.agentID)
			assert.Equal(t, 200, w.as(t, agentKey, "GET", "/api/v1/agents/"+w.agentID+"/work", nil).status)
			requireError(t, w.as(t, w.operator, "POST", "/api/v1/auth/keys", map[string]any{"name": w.id("k-"), "role": "admin"}), 403, "")
		},
		"DELETE /api/v1/auth/keys/:id": func(t *testing.T, w *world) {
			a := w.must(t, 201, "POST", "/api/v1/auth/keys", map[string]any{"name": w.id("gone-"), "role": "viewer"})
			secret := str(a, "api_key")
			assert.Equal(t, 200, w.as(t, secret, "GET", "/api/v1/certificates", nil).status)
			assert.Empty(t, w.must(t, 204, "DELETE", "/api/v1/auth/keys/"+str(a, "id"), nil).raw)
			requireError(t, w.as(t, secret, "GET", "/api/v1/certificates", nil), 401, "")
			listed := w.as(t, w.admin, "GET", "/api/v1/auth/keys?per_page=500", nil)
			assert.Contains(t, string(listed.raw), `"revoked_at"`, "a revoked key is kept for the record")
			requireError(t, w.as(t, w.admin, "DELETE", "/api/v1/auth/keys/key-none", nil), 404, "")
		},
		"GET /api/v1/cluster": func(t *testing.T, w *world) {
			for _, key := range []string{w.viewer, asNode} {
				a := w.as(t, key, "GET", "/api/v1/cluster", nil)
				require.Equal(t, 200, a.status, "%s", a.raw)
				assert.Equal(t, []string{"cluster_id", "leader", "members", "node_id"}, keys(a.body))
				assert.Len(t, a.body["members"], 1)
				assert.Greater(t, a.body["members"].([]any)[0].(map[string]any)["data_size_bytes"], float64(0), "state file and raft log on disk")
			}
		},
		"GET /api/v1/cluster/node": func(t *testing.T, w *world) {
			a := w.as(t, asNode, "GET", "/api/v1/cluster/node", nil)
			require.Equal(t, 200, a.status)
			assert.Equal(t, "n1", a.body["node_id"])
			assert.Equal(t, "Leader", a.body["state"])
		},
		"GET /api/v1/cluster/snapshot": func(t *testing.T, w *world) {
			a := w.must(t, 200, "GET", "/api/v1/cluster/snapshot", nil)
			assert.True(t, strings.HasPrefix(string(a.raw), "certctl-snapshot 1\n{"), "a snapshot file")
			requireError(t, w.as(t, w.operator, "GET", "/api/v1/cluster/snapshot", nil), 403, "")
		},
		"POST /api/v1/cluster/join": func(t *testing.T, w *world) {
			// Node-to-node: the node's own handler and error shape {error: {code, message}}.
			a := w.as(t, w.admin, "POST", "/api/v1/cluster/join", map[string]any{"node_id": "n9", "raft_addr": "127.0.0.1:1"})
			assert.Equal(t, 401, a.status, "an API key is not a join token: %s", a.raw)
			bad := w.as(t, w.joinToken(t), "POST", "/api/v1/cluster/join", "{")
			assert.Equal(t, 400, bad.status, "%s", bad.raw)
		},
		"GET /api/v1/cluster/join-tokens": func(t *testing.T, w *world) {
			w.joinToken(t)
			a := w.must(t, 200, "GET", "/api/v1/cluster/join-tokens", nil)
			require.NotEmpty(t, a.body["data"])
			assert.NotContains(t, string(a.raw), "cjt1.", "a token's secret is never listed")
			assert.NotContains(t, string(a.raw), `"hash"`)
			requireError(t, w.as(t, w.operator, "GET", "/api/v1/cluster/join-tokens", nil), 403, "")
		},
		"POST /api/v1/cluster/join-tokens": func(t *testing.T, w *world) {
			a := w.must(t, 201, "POST", "/api/v1/cluster/join-tokens", map[string]any{"ttl": "30m", "uses": 3})
			assert.True(t, strings.HasPrefix(str(a, "token"), "cjt1."+str(a, "id")+"."), "%s", a.raw)
			assert.Equal(t, float64(3), a.body["uses_left"])
			requireError(t, w.as(t, w.admin, "POST", "/api/v1/cluster/join-tokens", map[string]any{"ttl": "soon"}), 400, "ttl")
			requireError(t, w.as(t, w.admin, "POST", "/api/v1/cluster/join-tokens", map[string]any{"ttl": "30d"}), 400, "ttl")
			requireError(t, w.as(t, w.admin, "POST", "/api/v1/cluster/join-tokens", map[string]any{"uses": 1000}), 400, "uses")
		},
		"DELETE /api/v1/cluster/join-tokens/:id": func(t *testing.T, w *world) {
			a := w.must(t, 201, "POST", "/api/v1/cluster/join-tokens", map[string]any{})
			w.must(t, 204, "DELETE", "/api/v1/cluster/join-tokens/"+str(a, "id"), nil)
			// The revoked token buys nothing.
			j := w.as(t, str(a, "token"), "POST", "/api/v1/cluster/join", joinBody(t, "n7"))
			assert.Equal(t, 401, j.status, "%s", j.raw)
			assert.Contains(t, string(j.raw), "revoked")
			requireError(t, w.as(t, w.admin, "DELETE", "/api/v1/cluster/join-tokens/jt-none", nil), 404, "")
		},
		"GET /.well-known/pki/cluster-ca": func(t *testing.T, w *world) {
			a := w.as(t, "", "GET", "/.well-known/pki/cluster-ca", nil)
			require.Equal(t, 200, a.status)
			assert.Equal(t, "application/x-pem-file", a.header.Get("Content-Type"))
			assert.Equal(t, string(w.node.CACertPEM()), string(a.raw))
		},
		"POST /internal/v1/add-voter": func(t *testing.T, w *world) {
			for _, key := range []string{w.admin, w.joinToken(t)} {
				a := w.as(t, key, "POST", "/internal/v1/add-voter", "{}")
				assert.Equal(t, 401, a.status, "only a node certificate: %s", a.raw)
			}
			// A node may add only itself.
			a := w.as(t, asNode, "POST", "/internal/v1/add-voter", map[string]any{"node_id": "n9", "raft_addr": "127.0.0.1:1", "api_addr": "127.0.0.1:2"})
			assert.Equal(t, 403, a.status, "%s", a.raw)
		},
		"DELETE /api/v1/cluster/members/:id": func(t *testing.T, w *world) {
			requireError(t, w.as(t, w.admin, "DELETE", "/api/v1/cluster/members/n-none", nil), 404, "")
			requireError(t, w.as(t, w.operator, "DELETE", "/api/v1/cluster/members/n1", nil), 403, "")
		},
		"GET /api/v1/cluster/peers": func(t *testing.T, w *world) {
			a := w.must(t, 200, "GET", "/api/v1/cluster/peers", nil)
			assert.Equal(t, []string{"cluster_id", "node_id", "peers"}, keys(a.body))
			peers := a.body["peers"].([]any)
			require.Len(t, peers, 1)
			p := peers[0].(map[string]any)
			assert.Equal(t, "n1", p["node_id"])
			assert.Equal(t, "voter", p["suffrage"])
			assert.Equal(t, true, p["leader"])
			assert.Equal(t, true, p["healthy"])
			assert.Greater(t, p["last_index"], float64(0))
			assert.NotEmpty(t, p["raft_addr"])
			assert.NotEmpty(t, p["api_addr"])
			requireError(t, w.as(t, w.operator, "GET", "/api/v1/cluster/peers", nil), 403, "")
		},
		"POST /api/v1/cluster/transfer-leader": func(t *testing.T, w *world) {
			a := w.must(t, 200, "POST", "/api/v1/cluster/transfer-leader", map[string]any{"node_id": "n1"})
			assert.Equal(t, "n1", a.body["leader"].(map[string]any)["node_id"], "naming the leader changes nothing")
			requireError(t, w.as(t, w.admin, "POST", "/api/v1/cluster/transfer-leader", map[string]any{}), 409, "")
			requireError(t, w.as(t, w.admin, "POST", "/api/v1/cluster/transfer-leader", map[string]any{"node_id": "n-none"}), 404, "node_id")
			requireError(t, w.as(t, w.admin, "POST", "/api/v1/cluster/transfer-leader", map[string]any{"node_id": "not an id!"}), 400, "node_id")
			requireError(t, w.as(t, w.admin, "POST", "/api/v1/cluster/transfer-leader", map[string]any{"node": "n1"}), 400, "node")
			requireError(t, w.as(t, w.operator, "POST", "/api/v1/cluster/transfer-leader", map[string]any{}), 403, "")
		},
		"POST /internal/v1/leave": func(t *testing.T, w *world) {
			for _, key := range []string{w.admin, w.joinToken(t)} {
				a := w.as(t, key, "POST", "/internal/v1/leave", "{}")
				assert.Equal(t, 401, a.status, "only a node certificate: %s", a.raw)
			}
			// The leader hands leadership over before it leaves.
			a := w.as(t, asNode, "POST", "/internal/v1/leave", "{}")
			assert.Equal(t, 409, a.status, "%s", a.raw)
		},
		"POST /internal/v1/propose": func(t *testing.T, w *world) {
			for _, key := range []string{w.admin, w.joinToken(t)} {
				a := w.as(t, key, "POST", "/internal/v1/propose", "{}")
				assert.Equal(t, 401, a.status, "only a node certificate: %s", a.raw)
			}
			// A forwarded command's rejection travels in the body of a 200.
			bad := w.as(t, asNode, "POST", "/internal/v1/propose", "not a command")
			require.Equal(t, 200, bad.status, "%s", bad.raw)
			assert.Equal(t, "invalid", bad.body["error"].(map[string]any)["code"])
		},
	}
}

// TestAPI_RequestID checks that every answer carries an X-Request-ID, that a
// valid client id is echoed (in the header and in an error body) and that an
// invalid one is replaced.
func TestAPI_RequestID(t *testing.T) {
	e := newEnv(t, api.Config{Dev: true})
	for _, path := range []string{"/health", "/api/v1/certificates", "/api/v1/certificates/mc-none", "/api/v1/nothing"} {
		a := e.call(t, req{method: "GET", path: path, header: map[string]string{"X-Request-ID": "client-id_1.2"}})
		assert.Equal(t, "client-id_1.2", a.header.Get("X-Request-ID"), path)
		if a.status >= 400 {
			assert.Equal(t, "client-id_1.2", a.body["request_id"], path)
		}
	}
	for _, bad := range []string{"has space", "semi;colon", strings.Repeat("a", 129), "<script>"} {
		a := e.call(t, req{method: "GET", path: "/api/v1/certificates/mc-none", header: map[string]string{"X-Request-ID": bad}})
		got := a.header.Get("X-Request-ID")
		assert.NotEqual(t, bad, got)
		assert.Regexp(t, `^[0-9a-f]{32}$`, got, "a fresh id replaces an invalid one")
		assert.Equal(t, got, a.body["request_id"])
	}
	a, b := e.as(t, "", "GET", "/health", nil), e.as(t, "", "GET", "/health", nil)
	assert.NotEqual(t, a.header.Get("X-Request-ID"), b.header.Get("X-Request-ID"), "ids are unique")
	requireError(t, e.as(t, "", "PATCH", "/api/v1/certificates", nil), 405, "")
}

// TestAPI_RateLimit: a key gets RateBurst requests, then 429 with
// Retry-After, while another key is unaffected. The clock stands still, so
// no token comes back during the test.
func TestAPI_RateLimit(t *testing.T) {
	frozen := time.Now()
	e := newEnv(t, api.Config{RateLimit: 1, RateBurst: 2, Now: func() time.Time { return frozen }})
	other := e.bootstrapKey(t, "other-viewer", fsm.RoleViewer, "")
	for i := range 2 {
		require.Equal(t, 200, e.as(t, e.admin, "GET", "/api/v1/certificates", nil).status, "request %d is within the burst", i+1)
	}
	for _, path := range []string{"/api/v1/certificates", "/api/v1/teams"} {
		a := e.as(t, e.admin, "GET", path, nil)
		requireError(t, a, http.StatusTooManyRequests, "")
		wait, err := strconv.Atoi(a.header.Get("Retry-After"))
		require.NoError(t, err, "Retry-After is whole seconds")
		assert.True(t, wait >= 1 && wait <= 2, "one token a second: %d", wait)
		assert.Contains(t, a.body["message"], "bootstrap-admin")
	}
	assert.Equal(t, 200, e.as(t, other, "GET", "/api/v1/certificates", nil).status, "buckets are per key")
	assert.Equal(t, 200, e.as(t, e.admin, "GET", "/health", nil).status, "public routes are not limited")
}

// TestAPI_NoLeader: on a node that never bootstraps, every write fails with
// 503 and Retry-After once the leader wait is over, and nothing is written.
func TestAPI_NoLeader(t *testing.T) {
	e := newEnv(t, api.Config{Dev: true, WriteTimeout: 5 * time.Second}, noQuorum(t))
	before, err := e.node.FSM().StateHash()
	require.NoError(t, err)
	ready := e.as(t, "", "GET", "/ready", nil)
	assert.Equal(t, 503, ready.status)
	assert.Equal(t, "not_ready", ready.body["status"])
	assert.Equal(t, 200, e.as(t, "", "GET", "/health", nil).status)
	assert.Equal(t, 200, e.as(t, "", "GET", "/api/v1/certificates", nil).status, "local reads still work")

	cert := map[string]any{"id": "mc-1", "common_name": "a.example.com", "owner_id": "o-1", "team_id": "t-1", "issuer_id": "iss-1"}
	writes := []struct {
		method, path string
		body         any
	}{
		{"POST", "/api/v1/teams", map[string]any{"name": "x"}},
		{"PUT", "/api/v1/teams/t-1", map[string]any{"name": "x"}},
		{"DELETE", "/api/v1/teams/t-1", nil},
		{"POST", "/api/v1/owners", map[string]any{"name": "x"}},
		{"POST", "/api/v1/issuers", map[string]any{"name": "x", "type": "ACME"}},
		{"POST", "/api/v1/targets", map[string]any{"name": "x", "type": "NGINX"}},
		{"POST", "/api/v1/policies", map[string]any{"name": "x", "type": "AllowedDomains", "config": map[string]any{"allowed_domains": []string{"example.com"}}}},
		{"POST", "/api/v1/renewal-policies", map[string]any{"name": "x"}},
		{"POST", "/api/v1/certificates", cert},
		{"PUT", "/api/v1/certificates/mc-1", cert},
		{"DELETE", "/api/v1/certificates/mc-1", nil},
		{"POST", "/api/v1/certificates/mc-1/revoke", nil},
		{"POST", "/api/v1/agents", map[string]any{"name": "x", "hostname": "h"}},
		{"DELETE", "/api/v1/agents/ag-1", nil},
		{"POST", "/api/v1/jobs/job-1/cancel", nil},
		{"POST", "/api/v1/notifications/ne-1/read", nil},
		{"POST", "/api/v1/auth/keys", map[string]any{"name": "x", "role": "viewer"}},
		{"DELETE", "/api/v1/auth/keys/key-1", nil},
		{"GET", "/api/v1/certificates?consistency=strong", nil},
		{"GET", "/api/v1/teams/t-1?consistency=strong", nil},
	}
	for _, wr := range writes {
		a := e.as(t, "", wr.method, wr.path, wr.body)
		requireError(t, a, http.StatusServiceUnavailable, "")
		assert.Equal(t, "1", a.header.Get("Retry-After"), "%s %s", wr.method, wr.path)
		assert.Contains(t, []any{"no_leader", "timeout"}, a.body["code"], "%s %s", wr.method, wr.path)
	}
	after, err := e.node.FSM().StateHash()
	require.NoError(t, err)
	assert.Equal(t, before, after)
	assert.True(t, errors.Is(e.tryPropose(&fsm.CreateTeam{Team: fsm.Team{ID: "t-1", Name: "x"}}), node.ErrNoLeader))
}
