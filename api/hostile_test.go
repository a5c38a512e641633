package api_test

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/certctl/certctl/api"
)

// hostileCase is one hostile request: it must get a 4xx (status, when set,
// exactly) in the error shape, naming field when set.
type hostileCase struct {
	name   string
	method string
	path   string
	body   any
	status int
	field  string
}

// nested returns a JSON object nested depth levels deep under key.
func nested(key string, depth int) string {
	return strings.Repeat(`{"`+key+`":`, depth) + "1" + strings.Repeat("}", depth)
}

// chunked hides a reader's length so that the body goes out chunked, with
// no Content-Length for the server to refuse up front.
type chunked struct{ *bytes.Reader }

func hostileCases(agentID string) []hostileCase {
	cert := func(field string, v any) map[string]any {
		b := map[string]any{"id": "mc-hostile", "name": "hostile", "common_name": "h.example.com", "owner_id": "o-h", "team_id": "t-h", "issuer_id": "iss-h"}
		b[field] = v
		return b
	}
	long := strings.Repeat("n", 300)
	tenMB := bytes.Repeat([]byte("a"), 10<<20)
	return []hostileCase{
		// Malformed JSON.
		{"truncated", "POST", "/api/v1/certificates", `{"name":`, 400, ""},
		{"trailing comma", "POST", "/api/v1/teams", `{"name": "x",}`, 400, ""},
		{"two values", "POST", "/api/v1/teams", `{"name": "x"} {"name": "y"}`, 400, ""},
		{"array body", "POST", "/api/v1/teams", `["x"]`, 400, ""},
		{"null body", "POST", "/api/v1/teams", `null`, 400, "name"},
		{"single quotes", "POST", "/api/v1/teams", `{'name': 'x'}`, 400, ""},
		{"empty body", "POST", "/api/v1/auth/keys", ``, 400, ""},
		{"unknown field", "POST", "/api/v1/teams", `{"name": "x", "admin": true}`, 400, "admin"},
		// Wrong types.
		{"number for string", "POST", "/api/v1/certificates", `{"common_name": 5}`, 400, "common_name"},
		{"array for map", "POST", "/api/v1/certificates", `{"tags": ["a"]}`, 400, "tags"},
		{"string for bool", "POST", "/api/v1/renewal-policies", `{"name": "x", "auto_renew": "yes"}`, 400, "auto_renew"},
		{"array for enum", "POST", "/api/v1/auth/keys", `{"name": "k", "role": ["admin"]}`, 400, "role"},
		{"string for object", "POST", "/api/v1/issuers", `{"name": "x", "type": "ACME", "config": "{}"}`, 400, "config"},
		{"float for int", "POST", "/api/v1/renewal-policies", `{"name": "x", "renewal_window_days": 1.5}`, 400, "renewal_window_days"},
		{"object for list", "POST", "/api/v1/certificates", `{"target_ids": {"a": "b"}}`, 400, "target_ids"},
		// Unknown enum values.
		{"certificate status", "POST", "/api/v1/certificates", cert("status", "Hacked"), 400, "status"},
		{"issuer type", "POST", "/api/v1/issuers", map[string]any{"name": "x", "type": "SelfSignedForever"}, 400, "type"},
		{"target type", "POST", "/api/v1/targets", map[string]any{"name": "x", "type": "nginx; rm -rf /"}, 400, "type"},
		{"policy type", "POST", "/api/v1/policies", map[string]any{"name": "x", "type": "AllowedDomains' OR '1'='1"}, 400, "type"},
		{"policy severity", "POST", "/api/v1/policies", map[string]any{"name": "x", "type": "AllowedDomains", "severity": "Apocalyptic"}, 400, "severity"},
		{"policy config unknown field", "POST", "/api/v1/policies", map[string]any{"name": "x", "type": "AllowedDomains", "config": map[string]any{"domains": []string{"example.com"}}}, 400, "config"},
		{"policy config wrong type", "POST", "/api/v1/policies", map[string]any{"name": "x", "type": "CertificateLifetime", "config": map[string]any{"max_days": "397"}}, 400, "config"},
		{"policy config missing", "POST", "/api/v1/policies", map[string]any{"name": "x", "type": "RenewalLeadTime"}, 400, "config"},
		{"key role", "POST", "/api/v1/auth/keys", map[string]any{"name": "k", "role": "root"}, 400, "role"},
		{"key role with SQL", "POST", "/api/v1/auth/keys", map[string]any{"name": "k", "role": "admin' --"}, 400, "role"},
		{"job status", "POST", "/api/v1/agents/" + agentID + "/jobs/job-x/status", map[string]any{"status": "Hacked"}, 400, "status"},
		{"revocation reason", "POST", "/api/v1/certificates/mc-x/revoke", map[string]any{"reason": "because"}, 400, "reason"},
		{"key generation", "POST", "/api/v1/certificates", cert("key_generation", "client"), 400, "key_generation"},
		{"status filter", "GET", "/api/v1/certificates?status=Active'%20OR%20'1'='1", nil, 400, "status"},
		{"job type filter", "GET", "/api/v1/jobs?type=Reboot", nil, 400, "type"},
		{"actor type filter", "GET", "/api/v1/audit?actor_type=Robot", nil, 400, "actor_type"},
		{"agent status filter", "GET", "/api/v1/agents?status=Zombie", nil, 400, "status"},
		{"consistency", "GET", "/api/v1/teams?consistency=eventual", nil, 400, "consistency"},
		// Bodies above 1 MiB.
		{"10 MB body", "POST", "/api/v1/certificates", tenMB, 413, ""},
		{"10 MB body, chunked", "POST", "/api/v1/teams", chunked{bytes.NewReader(tenMB)}, 413, ""},
		{"10 MB body on an update", "PUT", "/api/v1/teams/t-x", tenMB, 413, ""},
		{"10 MB body on an action", "POST", "/api/v1/certificates/mc-x/renew", tenMB, 413, ""},
		{"1 MiB + 1 chunked on a heartbeat", "POST", "/api/v1/agents/" + agentID + "/heartbeat", chunked{bytes.NewReader(bytes.Repeat([]byte(" "), api.MaxBodyBytes+1))}, 413, ""},
		// Names of 300 characters.
		{"team name", "POST", "/api/v1/teams", map[string]any{"name": long}, 400, "name"},
		{"certificate name", "POST", "/api/v1/certificates", cert("name", long), 400, "name"},
		{"agent name", "POST", "/api/v1/agents", map[string]any{"name": long, "hostname": "h"}, 400, "name"},
		{"key name", "POST", "/api/v1/auth/keys", map[string]any{"name": long, "role": "viewer"}, 400, "name"},
		{"common name", "POST", "/api/v1/certificates", cert("common_name", strings.Repeat("a", 300)), 400, "common_name"},
		{"id", "POST", "/api/v1/teams", map[string]any{"id": "t-" + long, "name": "x"}, 400, "id"},
		{"hostname", "POST", "/api/v1/agents", map[string]any{"name": "a", "hostname": long}, 400, "hostname"},
		// NUL bytes.
		{"NUL in a name", "POST", "/api/v1/teams", map[string]any{"name": "a\x00b"}, 400, "name"},
		{"raw NUL in JSON", "POST", "/api/v1/teams", "{\"name\": \"a\x00b\"}", 400, ""},
		{"NUL in a common name", "POST", "/api/v1/certificates", cert("common_name", "a\x00.example.com"), 400, "common_name"},
		{"NUL in a tag", "POST", "/api/v1/certificates", cert("tags", map[string]string{"k": "v\x00"}), 400, "tags"},
		{"NUL in an email", "POST", "/api/v1/owners", map[string]any{"name": "o", "email": "a\x00@example.com"}, 400, "email"},
		{"NUL in a heartbeat", "POST", "/api/v1/agents/" + agentID + "/heartbeat", map[string]any{"version": "1\x00"}, 400, "version"},
		{"NUL in a path id", "DELETE", "/api/v1/teams/t%00x", nil, 400, "id"},
		// Traversal in ids, in the body and in the path.
		{"../ in a body id", "POST", "/api/v1/teams", map[string]any{"id": "../etc", "name": "x"}, 400, "id"},
		{"%2e%2e%2f in a body id", "POST", "/api/v1/teams", map[string]any{"id": "%2e%2e%2fetc", "name": "x"}, 400, "id"},
		{"../ in a reference", "POST", "/api/v1/certificates", cert("owner_id", "../o"), 400, "owner_id"},
		{"../ in target ids", "POST", "/api/v1/certificates", cert("target_ids", []string{"tgt-1", "../../tgt"}), 400, "target_ids"},
		{".. as a path id", "PUT", "/api/v1/teams/%2e%2e", map[string]any{"name": "x"}, 400, "id"},
		{"%2e%2e%2f as a path id", "DELETE", "/api/v1/teams/%2e%2e%2f", nil, 404, ""},
		{"..%2f as a path id", "DELETE", "/api/v1/teams/..%2f", nil, 404, ""},
		{"../ across routes", "GET", "/api/v1/certificates/..%2f..%2fauth%2fkeys", nil, 404, ""},
		{"../ before an action", "POST", "/api/v1/jobs/..%2f..%2fjob-x/cancel", nil, 404, ""},
		{".. on an archive", "DELETE", "/api/v1/certificates/%2e%2e", nil, 400, "id"},
		{".. on a read mark", "POST", "/api/v1/notifications/%2e%2e/read", nil, 400, "id"},
		{"backslashes as a path id", "DELETE", "/api/v1/auth/keys/..%5c..%5c", nil, 400, "id"},
		{".. on an update from the path", "PUT", "/api/v1/certificates/%2e%2e", cert("id", ""), 400, "id"},
		{".. as a job id", "POST", "/api/v1/jobs/%2e%2e/cancel", nil, 400, "job_id"},
		// SQL and shell metacharacters.
		{"SQL in an id", "POST", "/api/v1/teams", map[string]any{"id": "t-1'; DROP TABLE teams;--", "name": "x"}, 400, "id"},
		{"SQL in a path id", "DELETE", "/api/v1/teams/t-1%27%3B%20DROP%20TABLE%20teams", nil, 400, "id"},
		{"shell in a common name", "POST", "/api/v1/certificates", cert("common_name", "a.example.com; rm -rf /"), 400, "common_name"},
		{"command substitution", "POST", "/api/v1/certificates", cert("common_name", "$(reboot).example.com"), 400, "common_name"},
		{"backticks in a SAN", "POST", "/api/v1/certificates", cert("sans", []string{"`id`.example.com"}), 400, "sans"},
		{"pipe in an agent id", "POST", "/api/v1/targets", map[string]any{"name": "x", "type": "NGINX", "agent_id": "ag|cat /etc/passwd"}, 400, "agent_id"},
		{"SQL in a key id", "DELETE", "/api/v1/auth/keys/1%20OR%201=1", nil, 400, "id"},
		// Invalid UTF-8.
		{"0xff in a string", "POST", "/api/v1/teams", []byte("{\"name\": \"\xff\"}"), 400, ""},
		{"overlong sequence", "POST", "/api/v1/certificates", []byte("{\"common_name\": \"\xc0\xaf.example.com\"}"), 400, ""},
		{"0xff as a path id", "PUT", "/api/v1/teams/%ff", map[string]any{"name": "x"}, 400, "id"},
		// Deep nesting.
		{"20000 nested objects", "POST", "/api/v1/issuers", `{"name": "x", "type": "ACME", "config": ` + nested("a", 20000) + `}`, 400, ""},
		{"100000 nested arrays", "POST", "/api/v1/teams", strings.Repeat("[", 100000) + strings.Repeat("]", 100000), 400, ""},
		// Huge numbers.
		{"1e400", "POST", "/api/v1/renewal-policies", `{"name": "x", "max_retries": 1e400}`, 400, "max_retries"},
		{"int overflow", "POST", "/api/v1/renewal-policies", `{"name": "x", "renewal_window_days": 99999999999999999999999}`, 400, "renewal_window_days"},
		{"out of range", "POST", "/api/v1/renewal-policies", `{"name": "x", "max_retries": 101}`, 400, "max_retries"},
		{"huge threshold", "POST", "/api/v1/renewal-policies", `{"name": "x", "alert_thresholds_days": [10000000000]}`, 400, "alert_thresholds_days"},
		{"negative interval", "POST", "/api/v1/renewal-policies", `{"name": "x", "retry_interval_minutes": -1}`, 400, "retry_interval_minutes"},
		{"huge page", "GET", "/api/v1/certificates?page=1e400", nil, 400, "page"},
		{"huge per_page", "GET", "/api/v1/certificates?per_page=99999999999999999999", nil, 400, "per_page"},
		{"page past the offset range", "GET", "/api/v1/certificates?sort=name&page=4611686018427387904&per_page=4", nil, 400, "page"},
		{"year 10000", "POST", "/api/v1/certificates", `{"expires_at": "10000-01-01T00:00:00Z"}`, 400, ""},
		// Duplicate keys.
		{"duplicate id", "POST", "/api/v1/teams", `{"id": "t-a", "id": "t-b", "name": "x"}`, 400, "id"},
		{"duplicate role", "POST", "/api/v1/auth/keys", `{"name": "k", "role": "viewer", "role": "admin"}`, 400, "role"},
		{"duplicate tag", "POST", "/api/v1/certificates", `{"id": "mc-d", "common_name": "d.example.com", "owner_id": "o", "team_id": "t", "issuer_id": "i", "tags": {"env": "a", "env": "b"}}`, 400, "tags.env"},
		{"duplicate in config", "POST", "/api/v1/issuers", `{"name": "x", "type": "ACME", "config": {"url": "a", "url": "b"}}`, 400, "config.url"},
		{"duplicate status", "POST", "/api/v1/agents/" + agentID + "/jobs/job-x/status", `{"status": "Failed", "status": "Completed"}`, 400, "status"},
	}
}

// TestAPI_HostileInputs sends every hostile request and checks that each is
// refused with a 4xx that says why, and that none reached raft: every bucket
// of the state (the applied index and the request ids included) is byte for
// byte what it was before.
func TestAPI_HostileInputs(t *testing.T) {
	e := newEnv(t, api.Config{Dev: true, HeartbeatFlush: 10 * time.Millisecond})
	agentID, _ := e.agent(t, "")
	before, err := e.node.FSM().StateHash()
	require.NoError(t, err)
	applied := e.node.FSM().AppliedIndex()

	for _, c := range hostileCases(agentID) {
		t.Run(c.name, func(t *testing.T) {
			a := e.as(t, "", c.method, c.path, c.body)
			require.GreaterOrEqual(t, a.status, 400, "%s", a.raw)
			require.Less(t, a.status, 500, "%s", a.raw)
			if c.status != 0 {
				require.Equal(t, c.status, a.status, "%s", a.raw)
			}
			requireError(t, a, a.status, c.field)
			msg, _ := a.body["message"].(string)
			assert.NotContains(t, msg, "\x00", "the message does not echo raw NUL bytes")
			assert.Less(t, len(msg), 2048, "the message does not echo the body")
		})
	}

	after, err := e.node.FSM().StateHash()
	require.NoError(t, err)
	assert.Equal(t, applied, e.node.FSM().AppliedIndex(), "no hostile request reached raft")
	for bucket, h := range before {
		assert.Equal(t, h, after[bucket], "bucket %s changed", bucket)
	}
	assert.Len(t, after, len(before), "no bucket appeared")
	assert.Equal(t, fmt.Sprint(before), fmt.Sprint(after))
}
