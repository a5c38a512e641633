package fsm_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/certctl/certctl/fsm"
	"github.com/certctl/certctl/fsm/fsmtest"
)

// spoofing holds one character of each class names refuse, and how the
// error names it.
var spoofing = []struct {
	class string
	char  string
	says  string
}{
	{"C0 carriage return", "\r", "U+000D (CARRIAGE RETURN)"},
	{"C0 line feed", "\n", "U+000A (LINE FEED)"},
	{"C0 tab", "\t", "U+0009 (CHARACTER TABULATION)"},
	{"C0 escape", "\x1b", "U+001B (ESCAPE)"},
	{"C0 other", "\x01", "U+0001 (C0 CONTROL)"},
	{"DEL", "\x7f", "U+007F (DELETE)"},
	{"C1 next line", "\u0085", "U+0085 (NEXT LINE)"},
	{"C1 CSI", "\u009b", "U+009B (CONTROL SEQUENCE INTRODUCER)"},
	{"C1 other", "\u0090", "U+0090 (C1 CONTROL)"},
	{"bidi LRE", "\u202a", "U+202A (LEFT-TO-RIGHT EMBEDDING)"},
	{"bidi RLE", "\u202b", "U+202B (RIGHT-TO-LEFT EMBEDDING)"},
	{"bidi PDF", "\u202c", "U+202C (POP DIRECTIONAL FORMATTING)"},
	{"bidi LRO", "\u202d", "U+202D (LEFT-TO-RIGHT OVERRIDE)"},
	{"bidi RLO", "\u202e", "U+202E (RIGHT-TO-LEFT OVERRIDE)"},
	{"bidi LRI", "\u2066", "U+2066 (LEFT-TO-RIGHT ISOLATE)"},
	{"bidi RLI", "\u2067", "U+2067 (RIGHT-TO-LEFT ISOLATE)"},
	{"bidi FSI", "\u2068", "U+2068 (FIRST STRONG ISOLATE)"},
	{"bidi PDI", "\u2069", "U+2069 (POP DIRECTIONAL ISOLATE)"},
	{"BOM", "\ufeff", "U+FEFF (BYTE ORDER MARK)"},
}

func TestValidNameChars_RefusesEachClass(t *testing.T) {
	for _, tc := range spoofing {
		t.Run(tc.class, func(t *testing.T) {
			err := fsm.ValidNameChars("name", "web-"+tc.char+"01")
			require.ErrorIs(t, err, fsm.ErrInvalid)
			var e *fsm.Error
			require.True(t, errors.As(err, &e))
			assert.Equal(t, "name", e.Field)
			assert.Contains(t, err.Error(), "name contains "+tc.says+" at byte 4; remove it")
		})
	}
	for _, ok := range []string{"", "web-01", "Zürich Web", "日本語のサーバ", "שרת", "a b_c.d-e/f", "emoji 🔒"} {
		assert.NoError(t, fsm.ValidNameChars("name", ok), "%q", ok)
	}
	assert.ErrorContains(t, fsm.ValidNameChars("name", "ab\xffc"), "name is not valid UTF-8 (byte 2)")
}

func TestValidProseChars_KeepsTabAndNewline(t *testing.T) {
	require.NoError(t, fsm.ValidProseChars("description", "line one\n\tindented line two\n"))
	for _, tc := range spoofing {
		if tc.char == "\n" || tc.char == "\t" {
			continue
		}
		t.Run(tc.class, func(t *testing.T) {
			err := fsm.ValidProseChars("description", "abc"+tc.char)
			require.ErrorIs(t, err, fsm.ErrInvalid)
			assert.Contains(t, err.Error(), "description contains "+tc.says+" at byte 3; remove it")
		})
	}
}

// Every name, hostname and tag of every command that carries one refuses
// each class, with the field named.
func TestFSM_NewCommandRefusesSpoofingText(t *testing.T) {
	cert := func(mod func(c *fsm.Certificate, s string)) func(string) fsm.Payload {
		return func(s string) fsm.Payload {
			c := fsmtest.Certificate("mc-2", "api.example.com")
			mod(&c, s)
			return &fsm.CreateCertificate{Certificate: c}
		}
	}
	agent := func(mod func(a *fsm.Agent, s string)) func(string) fsm.Payload {
		return func(s string) fsm.Payload {
			a := fsmtest.Agent("agent-2", "web-02")
			mod(&a, s)
			return &fsm.RegisterAgent{Agent: a}
		}
	}
	fields := []struct {
		name    string
		payload func(s string) fsm.Payload
		field   string
	}{
		{"team name", func(s string) fsm.Payload { return &fsm.CreateTeam{Team: fsmtest.Team("t", "x"+s)} }, "name"},
		{"team name on update", func(s string) fsm.Payload { return &fsm.UpdateTeam{Team: fsmtest.Team("t", "x"+s)} }, "name"},
		{"owner name", func(s string) fsm.Payload {
			o := fsmtest.Owner("o", "")
			o.Name += s
			return &fsm.UpdateOwner{Owner: o}
		}, "name"},
		{"issuer name", func(s string) fsm.Payload { return &fsm.CreateIssuer{Issuer: fsmtest.Issuer("i", "CA"+s)} }, "name"},
		{"target name", func(s string) fsm.Payload {
			return &fsm.UpdateTarget{Target: fsmtest.Target("tg", "nginx"+s, "agent-1")}
		}, "name"},
		{"policy rule name", func(s string) fsm.Payload { return &fsm.CreatePolicyRule{Rule: fsmtest.Rule("r", "rule"+s)} }, "name"},
		{"renewal policy name", func(s string) fsm.Payload {
			return &fsm.UpdateRenewalPolicy{Policy: fsmtest.RenewalPolicy("p", "policy"+s)}
		}, "name"},
		{"renewal policy recipient", func(s string) fsm.Payload {
			p := fsmtest.RenewalPolicy("p", "policy")
			p.Notify = []fsm.NotifyRoute{{Channel: "Webhook", Recipients: []string{"ops" + s}}}
			return &fsm.CreateRenewalPolicy{Policy: p}
		}, "notify.recipients"},
		{"certificate name", cert(func(c *fsm.Certificate, s string) { c.Name += s }), "name"},
		{"certificate environment", cert(func(c *fsm.Certificate, s string) { c.Environment += s }), "environment"},
		{"certificate tag key", cert(func(c *fsm.Certificate, s string) { c.Tags = map[string]string{"a": "1", "app" + s: "web"} }), "tags"},
		{"certificate tag value", cert(func(c *fsm.Certificate, s string) { c.Tags = map[string]string{"app": "web" + s} }), "tags"},
		{"certificate update tag", func(s string) fsm.Payload {
			c := fsmtest.Certificate("mc-1", "www.example.com")
			c.Tags["team"] = s
			return &fsm.UpdateCertificate{Certificate: c}
		}, "tags"},
		{"agent name", agent(func(a *fsm.Agent, s string) { a.Name += s }), "name"},
		{"agent hostname", agent(func(a *fsm.Agent, s string) { a.Hostname = "web" + s + ".example.com" }), "hostname"},
		{"agent version", agent(func(a *fsm.Agent, s string) { a.Version = "1.0" + s }), "version"},
		{"agent key name", func(s string) fsm.Payload {
			k := fsmtest.APIKey("k", fsm.RoleAgent, "agent-2", 1)
			k.Name += s
			return &fsm.RegisterAgent{Agent: fsmtest.Agent("agent-2", "web-02"), Key: &k}
		}, "name"},
		{"heartbeat hostname", func(s string) fsm.Payload {
			return &fsm.RecordHeartbeats{Beats: []fsm.Heartbeat{{AgentID: "agent-1", At: fsmtest.T0, Hostname: "web" + s}}}
		}, "hostname"},
		{"API key name", func(s string) fsm.Payload {
			k := fsmtest.APIKey("k", fsm.RoleOperator, "", 1)
			k.Name += s
			return &fsm.CreateAPIKey{Key: k}
		}, "name"},
	}
	for _, f := range fields {
		for _, tc := range spoofing {
			t.Run(f.name+"/"+tc.class, func(t *testing.T) {
				cmd, err := fsm.NewCommand(fsm.Meta{Time: fsmtest.T0}, f.payload(tc.char))
				assert.Nil(t, cmd)
				require.ErrorIs(t, err, fsm.ErrInvalid)
				var e *fsm.Error
				require.True(t, errors.As(err, &e))
				assert.Equal(t, f.field, e.Field)
				assert.Contains(t, err.Error(), tc.says)
				assert.Contains(t, err.Error(), "remove it")
			})
		}
		t.Run(f.name+"/accepted without", func(t *testing.T) {
			_, err := fsm.NewCommand(fsm.Meta{Time: fsmtest.T0}, f.payload("é"))
			assert.NoError(t, err)
		})
	}

	t.Run("tag errors name the tag", func(t *testing.T) {
		_, err := fsm.NewCommand(fsm.Meta{Time: fsmtest.T0}, cert(func(c *fsm.Certificate, s string) {
			c.Tags = map[string]string{"env": "prod" + s}
		})("\u202e"))
		assert.ErrorContains(t, err, `tags["env"] contains U+202E (RIGHT-TO-LEFT OVERRIDE) at byte 4; remove it`)
	})
	t.Run("team description keeps tab and newline", func(t *testing.T) {
		team := fsmtest.Team("t", "x")
		team.Description = "Runs the edge.\n\tPager: 555"
		_, err := fsm.NewCommand(fsm.Meta{Time: fsmtest.T0}, &fsm.CreateTeam{Team: team})
		require.NoError(t, err)
		team.Description = "Runs the edge.\r\n"
		_, err = fsm.NewCommand(fsm.Meta{Time: fsmtest.T0}, &fsm.CreateTeam{Team: team})
		assert.ErrorContains(t, err, "description contains U+000D (CARRIAGE RETURN) at byte 14; remove it")
		team.Description = "edge \u2067admin\u2069"
		_, err = fsm.NewCommand(fsm.Meta{Time: fsmtest.T0}, &fsm.CreateTeam{Team: team})
		assert.ErrorContains(t, err, "U+2067 (RIGHT-TO-LEFT ISOLATE)")
	})
}

// The rules are the proposer's: an entry already in the log with such a name
// (proposed by an older version) applies alike on every node, and the record
// stays as it was stored.
func TestFSM_ApplyKeepsEntriesProposedBeforeTheTextRules(t *testing.T) {
	a, b := fsmtest.Open(t), fsmtest.Open(t)
	l := fsmtest.NewLog(t, a, b)
	fsmtest.Seed(l)
	team := fsmtest.Team("t-old", "evil\u202eteam")
	payload, err := json.Marshal(&fsm.CreateTeam{Team: team})
	require.NoError(t, err)
	data := fmt.Appendf(nil, `{"type":%d,"time":"2025-03-01T12:00:00Z","actor":"a","actor_type":"User","payload":%s}`,
		fsm.CommandCreateTeam, payload)

	_, p, err := fsm.DecodeCommand(data)
	require.NoError(t, err, "Apply's validation does not apply the text rules")
	assert.Error(t, fsm.CheckText(p), "a new proposer would refuse it")

	res := l.ApplyRaw(data)
	require.NoError(t, res.Err)
	got, err := a.Team("t-old")
	require.NoError(t, err)
	assert.Equal(t, "evil\u202eteam", got.Name)
	assert.Equal(t, stateHash(t, a), stateHash(t, b))
}

func TestCleanText(t *testing.T) {
	assert.Equal(t, "a b\tc\nd", fsm.CleanText("a\x00b\tc\nd", 100))
	assert.Equal(t, "bad   utf8", fsm.CleanText("bad \xff utf8", 100))
	long := strings.Repeat("é", 100) // 200 bytes
	got := fsm.CleanText(long, 51)
	assert.LessOrEqual(t, len(got), 51)
	assert.True(t, strings.HasSuffix(got, "…"))
	require.NoError(t, fsm.ValidText("error", got, 51, true))
}
