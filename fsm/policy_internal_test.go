package fsm

import (
	"github.com/certctl/certctl/api/wire"

	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	bolt "go.etcd.io/bbolt"
)

// A stored rule whose config no longer parses (written before configs were
// checked, or by hand) is reported as an Error violation, never ignored and
// never a panic.
func TestEvaluate_BrokenStoredRules(t *testing.T) {
	f, err := Open(filepath.Join(t.TempDir(), "state.db"), Options{NoSync: true})
	require.NoError(t, err)
	defer f.Close()
	now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	rules := []PolicyRule{
		{ID: "r-1-old", Name: "old", Type: "AllowedIssuers", Config: json.RawMessage(`{"issuer_ids":["iss-1"]}`), Enabled: true, Severity: SeverityWarning},
		{ID: "r-2-type", Name: "typed", Type: "CertificateLifetime", Config: json.RawMessage(`{"max_days":"397"}`), Enabled: true},
		{ID: "r-3-none", Name: "none", Type: "RenewalLeadTime", Enabled: true, Severity: SeverityCritical},
		{ID: "r-4-kind", Name: "kind", Type: "NoSuchType", Config: json.RawMessage(`{}`), Enabled: true},
		{ID: "r-5-off", Name: "off", Type: "AllowedIssuers", Config: json.RawMessage(`{}`), Enabled: false},
		{ID: "r-6-ok", Name: "ok", Type: "allowedissuers", Config: json.RawMessage(`{"allowed_issuer_ids":["iss-1"]}`), Enabled: true},
	}
	var got []finding
	require.NoError(t, f.db.Update(func(tx *bolt.Tx) error {
		tn := &txn{tx: tx, index: 1, cmd: &Command{Time: now}}
		for i := range rules {
			putJSON(tn.bucket(bucketPolicyRules), []byte(rules[i].ID), &rules[i])
		}
		must(tn.bucket(bucketPolicyRules).Put([]byte("r-7-junk"), []byte("{not json")))
		c := &Certificate{ID: "mc-1", CommonName: "www.example.com", IssuerID: "iss-1", Environment: "production"}
		assert.NotPanics(t, func() { got = evaluate(tn, c, nil) })
		return nil
	}))
	ids := []string{}
	enforced := map[string]bool{}
	for _, v := range got {
		ids = append(ids, v.RuleID)
		enforced[v.RuleID] = v.enforced
		assert.Equal(t, SeverityError, v.Severity, v.RuleID)
		assert.Equal(t, "mc-1", v.CertificateID)
		v.ID = violationID(v.CertificateID, v.RuleID)
		assert.NoError(t, v.validate(), v.RuleID)
	}
	assert.Equal(t, []string{"r-1-old", "r-2-type", "r-3-none", "r-4-kind", "r-7-junk"}, ids)
	require.Len(t, got, 5)
	assert.Contains(t, got[0].Message, "broken config")
	assert.Contains(t, got[0].Message, `config field "issuer_ids" is not known`)
	assert.Contains(t, got[1].Message, "config.max_days is not a number")
	assert.Contains(t, got[2].Message, "config is missing")
	assert.Contains(t, got[3].Message, `rule type "NoSuchType" is unknown`)
	assert.Contains(t, got[4].Message, "unreadable")
	// Only a broken rule whose own severity is Error or Critical refuses
	// writes; an unreadable one has no known severity and only reports.
	assert.Equal(t, map[string]bool{"r-1-old": false, "r-2-type": false, "r-3-none": true, "r-4-kind": false, "r-7-junk": false}, enforced)
}

func TestViolationID(t *testing.T) {
	assert.Equal(t, "pv-mc-1-pr-x", violationID("mc-1", "pr-x"))
	long := violationID("mc-"+string(repeat('c', 120)), "pr-x")
	assert.LessOrEqual(t, len(long), MaxIDLength)
	assert.NoError(t, ValidID("id", long))
	assert.NotEqual(t, long, violationID("mc-"+string(repeat('c', 120)), "pr-y"))
}

func repeat(b byte, n int) []byte {
	out := make([]byte, n)
	for i := range out {
		out[i] = b
	}
	return out
}

func TestClip(t *testing.T) {
	assert.Equal(t, "short", clip("short"))
	long := string(repeat('x', maxViolationMessage-3)) + "ééé" + string(repeat('y', 100))
	c := clip(long)
	assert.LessOrEqual(t, len(c), maxViolationMessage)
	assert.True(t, utf8.ValidString(c))
	assert.True(t, strings.HasSuffix(c, " …"))
}

// TestRuleKinds_Table: each kind of rule is in ruleKinds once, complete (a
// config field, a parser, a fix), and the wire's PolicyRuleTypes are exactly
// the table's kinds, in its order.
func TestRuleKinds_Table(t *testing.T) {
	seen := map[wire.PolicyRuleType]bool{}
	var names []wire.PolicyRuleType
	for _, k := range ruleKinds {
		assert.False(t, seen[k.name], "kind %s is in ruleKinds twice", k.name)
		seen[k.name] = true
		names = append(names, k.name)
		assert.NotEmpty(t, k.field, k.name)
		assert.NotEmpty(t, k.want, k.name)
		assert.NotEmpty(t, k.fixField, k.name)
		assert.NotEmpty(t, k.fix, k.name)
		require.NotNil(t, k.parse, k.name)
		assert.Same(t, &ruleKinds[len(names)-1], ruleKindOf(string(k.name)))
	}
	assert.Equal(t, Enum[wire.PolicyRuleType](names), PolicyRuleTypes)
	assert.Nil(t, ruleKindOf("NoSuchKind"))
	_, err := parseRuleConfig("NoSuchKind", json.RawMessage(`{}`))
	assert.EqualError(t, err, `rule type "NoSuchKind" is unknown`)
}
