package api_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/certctl/certctl/api"
)

// spoofingChars holds one character of each class names refuse, with its
// code point as the error gives it.
var spoofingChars = []struct{ class, char, code string }{
	{"C0 CR", "\r", "U+000D"}, {"C0 LF", "\n", "U+000A"}, {"C0 tab", "\t", "U+0009"}, {"C0 ESC", "\x1b", "U+001B"},
	{"C0 BEL", "\a", "U+0007"}, {"DEL", "\x7f", "U+007F"}, {"C1 NEL", "\u0085", "U+0085"}, {"C1 CSI", "\u009b", "U+009B"},
	{"LRE", "\u202a", "U+202A"}, {"RLE", "\u202b", "U+202B"}, {"PDF", "\u202c", "U+202C"}, {"LRO", "\u202d", "U+202D"},
	{"RLO", "\u202e", "U+202E"}, {"LRI", "\u2066", "U+2066"}, {"RLI", "\u2067", "U+2067"}, {"FSI", "\u2068", "U+2068"},
	{"PDI", "\u2069", "U+2069"}, {"BOM", "\ufeff", "U+FEFF"},
}

// Names, hostnames and tags holding a control, bidi or BOM character are
// refused with a 400 naming the field and the character, and nothing
// reaches raft; a heartbeat's hostname is refused alone, before batching.
func TestAPI_RefusesSpoofingText(t *testing.T) {
	e := newEnv(t, api.Config{Dev: true, HeartbeatFlush: 10 * time.Millisecond})
	r := e.refs(t, "")
	agentID, _ := e.agent(t, "")
	before, err := e.node.FSM().StateHash()
	require.NoError(t, err)

	requests := []struct {
		name   string
		method string
		path   string
		body   func(s string) any
		field  string
	}{
		{"team name", "POST", "/api/v1/teams", func(s string) any {
			return map[string]any{"id": "t-x", "name": "ops" + s}
		}, "name"},
		{"team rename", "PUT", "/api/v1/teams/" + r.team, func(s string) any {
			return map[string]any{"name": s + "ops"}
		}, "name"},
		{"owner name", "POST", "/api/v1/owners", func(s string) any {
			return map[string]any{"id": "o-x", "name": "Ada" + s, "email": "ada@example.com"}
		}, "name"},
		{"agent name", "POST", "/api/v1/agents", func(s string) any {
			return map[string]any{"id": "ag-x", "name": "web" + s + "01", "hostname": "web01.example.net"}
		}, "name"},
		{"agent hostname", "POST", "/api/v1/agents", func(s string) any {
			return map[string]any{"id": "ag-x", "name": "web01", "hostname": "web" + s + "root"}
		}, "hostname"},
		{"heartbeat hostname", "POST", "/api/v1/agents/" + agentID + "/heartbeat", func(s string) any {
			return map[string]any{"hostname": "web" + s + "root"}
		}, "hostname"},
		{"heartbeat version", "POST", "/api/v1/agents/" + agentID + "/heartbeat", func(s string) any {
			return map[string]any{"version": "1.2" + s}
		}, "version"},
		{"certificate tag", "POST", "/api/v1/certificates", func(s string) any {
			return e.certJSON(r, map[string]any{"tags": map[string]string{"env": "prod" + s}})
		}, "tags"},
		{"certificate name", "POST", "/api/v1/certificates", func(s string) any {
			return e.certJSON(r, map[string]any{"name": s})
		}, "name"},
		{"target name", "POST", "/api/v1/targets", func(s string) any {
			return map[string]any{"id": "tgt-x", "name": "nginx" + s, "type": "NGINX", "agent_id": agentID,
				"config": map[string]any{"cert_path": "/etc/nginx/x.crt"}, "enabled": true}
		}, "name"},
		{"issuer name", "POST", "/api/v1/issuers", func(s string) any {
			return map[string]any{"id": "iss-x", "name": "CA" + s, "type": "GenericCA",
				"config": map[string]any{"ca_common_name": "Test CA", "validity_days": 90}, "enabled": true}
		}, "name"},
		{"API key name", "POST", "/api/v1/auth/keys", func(s string) any {
			return map[string]any{"name": "ci" + s, "role": "viewer"}
		}, "name"},
	}
	for _, rq := range requests {
		for _, c := range spoofingChars {
			t.Run(rq.name+"/"+c.class, func(t *testing.T) {
				a := e.as(t, "", rq.method, rq.path, rq.body(c.char))
				requireError(t, a, 400, rq.field)
				msg, _ := a.body["message"].(string)
				assert.Contains(t, msg, c.code)
				assert.Contains(t, msg, "remove it")
			})
		}
	}

	after, err := e.node.FSM().StateHash()
	require.NoError(t, err)
	assert.Equal(t, fmt.Sprint(before), fmt.Sprint(after), "no refused request reached raft")

	// Outside the refused classes, any script is a name.
	e.mustAs(t, "", 201, "POST", "/api/v1/teams", map[string]any{"id": "t-intl", "name": "Zürich שרת 東京", "description": "line one\n\tline two"})
	e.mustAs(t, "", 200, "POST", "/api/v1/agents/"+agentID+"/heartbeat", map[string]any{"hostname": "web-01.example.net"})
}
