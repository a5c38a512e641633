package fsm_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/certctl/certctl/api/wire"
	"github.com/certctl/certctl/fsm"
	"github.com/certctl/certctl/fsm/fsmtest"
)

// TestPolicy_Enforced: each rule type of severity Error (and Critical)
// refuses the write that would break it, with CodePolicy naming the rule,
// and writes nothing: the replica that got the command holds what its twin
// holds after a raft no-op.
func TestPolicy_Enforced(t *testing.T) {
	day := 24 * time.Hour
	cases := []struct {
		name     string
		typ      wire.PolicyRuleType
		cfg      string
		severity wire.Severity
		cert     func(c *fsm.Certificate)
		lifetime time.Duration // > 0: the refused write is the RecordVersion of mc-2
		field    string
		want     []string
	}{
		{"AllowedIssuers", "AllowedIssuers", `{"allowed_issuer_ids":["issuer-9"]}`, fsm.SeverityError, nil, 0,
			"issuer_id", []string{"issuer issuer-1 is not allowed", "use an allowed issuer"}},
		{"AllowedDomains", "AllowedDomains", `{"allowed_domains":["example.com"]}`, fsm.SeverityError, func(c *fsm.Certificate) {
			c.CommonName, c.SANs = "www.example.com", []string{"www.example.com", "www.google.com", "*.com", "10.0.0.1"}
		}, 0, "sans", []string{"names www.google.com, *.com are not within the allowed domains", "remove or change the names"}},
		{"RequiredMetadata", "RequiredMetadata", `{"required_keys":["cost_center"]}`, fsm.SeverityCritical, nil, 0,
			"tags", []string{"required tag cost_center is missing", "set the missing tags", "severity Critical"}},
		{"AllowedEnvironments", "AllowedEnvironments", `{"allowed":["production"]}`, fsm.SeverityError, func(c *fsm.Certificate) {
			c.Environment = "lab"
		}, 0, "environment", []string{"environment lab is not allowed", "set an allowed environment"}},
		{"RenewalLeadTime", "RenewalLeadTime", `{"lead_time_days":45}`, fsm.SeverityError, func(c *fsm.Certificate) {
			c.RenewalPolicyID = fsmtest.RenewalPolicyID
		}, 0, "renewal_policy_id", []string{"renewal starts 30 days before expiry", "renewal_window_days is long enough"}},
		{"CertificateLifetime", "CertificateLifetime", `{"max_days":90}`, fsm.SeverityError, nil, 91 * day,
			"not_after", []string{"valid for 91 days", "at most 90 days", "issue it for fewer days"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a, b, l := twins(t)
			rule := policyRule("rule-x", tc.typ, tc.cfg, tc.severity)
			rule.Name = "No " + tc.name
			l.Must(&fsm.CreatePolicyRule{Rule: rule})
			c := fsmtest.Certificate("mc-2", "www.example.com")
			if tc.cert != nil {
				tc.cert(&c)
			}
			var p fsm.Payload = &fsm.CreateCertificate{Certificate: c}
			if tc.lifetime > 0 {
				l.Must(p)
				p = &fsm.RecordVersion{Version: fsmtest.Version("ver-2", "mc-2", 2, l.Now, tc.lifetime)}
			}

			res := applyAgainstNoop(t, a, b, l.Entry(p))

			require.ErrorIs(t, res.Err, fsm.ErrPolicy)
			assert.Equal(t, fsm.CodePolicy, fsm.CodeOf(res.Err))
			var fe *fsm.Error
			require.ErrorAs(t, res.Err, &fe)
			assert.Equal(t, "policy_rule", fe.Resource)
			assert.Equal(t, "rule-x", fe.ID)
			assert.Equal(t, tc.field, fe.Field)
			for _, s := range append([]string{"certificate mc-2 violates policy rule rule-x", `"No ` + tc.name + `"`, "type " + string(tc.typ)}, tc.want...) {
				assert.Contains(t, fe.Message, s)
			}
			assert.Equal(t, stateHash(t, b), stateHash(t, a), "a refused write changed the state")
		})
	}
}

// TestPolicy_EnforcedNamesEveryRule: a write breaking several enforced rules
// names each, in rule id order; a Warning rule broken too is not named.
func TestPolicy_EnforcedNamesEveryRule(t *testing.T) {
	_, l := seeded(t)
	l.Must(&fsm.CreatePolicyRule{Rule: policyRule("rule-b", "AllowedEnvironments", `{"allowed":["production"]}`, fsm.SeverityError)})
	l.Must(&fsm.CreatePolicyRule{Rule: policyRule("rule-a", "AllowedDomains", `{"allowed_domains":["example.com"]}`, fsm.SeverityCritical)})
	l.Must(&fsm.CreatePolicyRule{Rule: policyRule("rule-c", "RequiredMetadata", `{"required_keys":["cost_center"]}`, fsm.SeverityWarning)})
	c := fsmtest.Certificate("mc-2", "www.google.com")
	c.Environment = "lab"
	err := l.Apply(&fsm.CreateCertificate{Certificate: c}).Err
	var fe *fsm.Error
	require.ErrorAs(t, err, &fe)
	assert.Equal(t, "rule-a", fe.ID, "the first enforced rule")
	assert.Contains(t, fe.Message, "policy rule rule-a")
	assert.Contains(t, fe.Message, "; and policy rule rule-b")
	assert.Less(t, strings.Index(fe.Message, "rule-a"), strings.Index(fe.Message, "rule-b"))
	assert.NotContains(t, fe.Message, "rule-c")

	// Fixed: created, and the Warning rule is reported.
	c.CommonName, c.SANs, c.Environment = "www.example.com", []string{"www.example.com"}, "production"
	l.Must(&fsm.CreateCertificate{Certificate: c})
	vs := violationsOf(t, l.FSMs()[0], "mc-2")
	require.Len(t, vs, 1)
	assert.Equal(t, "rule-c", vs[0].RuleID)
}

// TestPolicy_EnforcedUpdate: an update that breaks an enforced rule is
// refused and the certificate keeps its fields; a version's lifetime, which
// an update cannot change, does not refuse an update.
func TestPolicy_EnforcedUpdate(t *testing.T) {
	f, l := seeded(t)
	l.Must(&fsm.CreatePolicyRule{Rule: policyRule("rule-d", "AllowedDomains", `{"allowed_domains":["example.com"]}`, fsm.SeverityError)})
	l.Must(&fsm.CreatePolicyRule{Rule: policyRule("rule-l", "CertificateLifetime", `{"max_days":30}`, fsm.SeverityWarning)})
	c := fsmtest.Certificate("mc-2", "www.example.com")
	l.Must(&fsm.CreateCertificate{Certificate: c})
	l.Must(&fsm.RecordVersion{Version: fsmtest.Version("ver-2", "mc-2", 2, l.Now, 60*24*time.Hour)})

	bad := c
	bad.SANs = []string{"www.example.com", "www.google.com"}
	err := l.Apply(&fsm.UpdateCertificate{Certificate: bad}).Err
	require.ErrorIs(t, err, fsm.ErrPolicy)
	assert.Contains(t, err.Error(), "name www.google.com is not within the allowed domains")
	got, err := f.Certificate("mc-2")
	require.NoError(t, err)
	assert.Equal(t, []string{"www.example.com"}, got.SANs, "the refused update changed nothing")

	// The lifetime rule turns enforced: the current version breaks it, yet an
	// update is still accepted (it cannot change the version), and reported.
	l.Must(&fsm.UpdatePolicyRule{Rule: policyRule("rule-l", "CertificateLifetime", `{"max_days":30}`, fsm.SeverityError)})
	c.Tags = map[string]string{"app": "web", "team": "blue"}
	l.Must(&fsm.UpdateCertificate{Certificate: c})
	v := ruleViolation(t, f, "mc-2", "rule-l")
	require.NotNil(t, v)
	assert.Equal(t, fsm.SeverityError, v.Severity)
	// ... but a new version that breaks it is refused, and one within it accepted.
	err = l.Apply(&fsm.RecordVersion{Version: fsmtest.Version("ver-3", "mc-2", 3, l.Now, 60*24*time.Hour)}).Err
	require.ErrorIs(t, err, fsm.ErrPolicy)
	_, err = f.CertificateVersion("ver-3")
	require.ErrorIs(t, err, fsm.ErrNotFound)
	l.Must(&fsm.RecordVersion{Version: fsmtest.Version("ver-3", "mc-2", 3, l.Now, 30*24*time.Hour)})
	assert.Nil(t, ruleViolation(t, f, "mc-2", "rule-l"))
}

// TestPolicy_NewRuleReportsExisting: a rule created after the certificates
// it finds wanting reports them at once (not refused: they did not change),
// and from then on CheckPolicies and RecordVersion refuse their issuance; a
// rule turned Warning lets them be issued again. Archived certificates are
// left alone.
func TestPolicy_NewRuleReportsExisting(t *testing.T) {
	f, l := seeded(t)
	lab := fsmtest.Certificate("mc-lab", "lab.example.com")
	lab.Environment = "lab"
	l.Must(&fsm.CreateCertificate{Certificate: lab})
	old := fsmtest.Certificate("mc-old", "old.example.com")
	old.Environment = "lab"
	l.Must(&fsm.CreateCertificate{Certificate: old})
	l.Must(&fsm.ArchiveCertificate{ID: "mc-old"})
	require.NoError(t, f.CheckPolicies("mc-lab"))

	before := len(auditEvents(t, f))
	rule := policyRule("rule-env", "AllowedEnvironments", `{"allowed":["production"]}`, fsm.SeverityError)
	l.Must(&fsm.CreatePolicyRule{Rule: rule, Sweep: true})
	ruleIndex := l.Index
	assert.Equal(t, []auditWant{{"policy_rule_created", "policy_rule", "rule-env"}}, actions(auditEvents(t, f)[before:]),
		"the rule's own entry touches no certificate")
	sweep, err := f.PolicySweep()
	require.NoError(t, err)
	assert.Equal(t, &fsm.PolicySweep{Since: ruleIndex}, sweep)
	assert.Nil(t, ruleViolation(t, f, "mc-lab", "rule-env"), "not reported before the sweep passes it")
	require.ErrorIs(t, f.CheckPolicies("mc-lab"), fsm.ErrPolicy, "but refused already: the check reads the rules in force")

	assert.Equal(t, 2, l.Reevaluate(2), "mc-1 and mc-lab, then mc-old (archived) alone")
	assert.Equal(t, []auditWant{
		{"policy_rule_created", "policy_rule", "rule-env"},
		{"policy_evaluated", "certificate", "mc-lab"},
		{"notification_queued", "notification", fmt.Sprintf("ne-pv-mc-lab-rule-env-%d", ruleIndex+1)},
		{"policy_reevaluated", "policy_rule", ""},
	}, actions(auditEvents(t, f)[before:]), "mc-1 is in production; mc-old is archived")
	sweep, err = f.PolicySweep()
	require.NoError(t, err)
	assert.Nil(t, sweep, "the sweep is over")
	v := ruleViolation(t, f, "mc-lab", "rule-env")
	require.NotNil(t, v)
	assert.Equal(t, fsm.SeverityError, v.Severity)
	assert.Len(t, policyNotifications(t, f, "mc-lab"), 1)
	assert.Empty(t, violationsOf(t, f, "mc-old"))

	err = f.CheckPolicies("mc-lab")
	require.ErrorIs(t, err, fsm.ErrPolicy)
	assert.Contains(t, err.Error(), "policy rule rule-env")
	assert.Contains(t, err.Error(), "environment lab is not allowed")
	require.NoError(t, f.CheckPolicies(fsmtest.CertificateID))
	require.ErrorIs(t, f.CheckPolicies("mc-none"), fsm.ErrNotFound)
	err = l.Apply(&fsm.RecordVersion{Version: fsmtest.Version("ver-lab", "mc-lab", 7, l.Now, 30*24*time.Hour)}).Err
	require.ErrorIs(t, err, fsm.ErrPolicy)

	// Turned Warning: still reported, no longer refused.
	rule.Severity = fsm.SeverityWarning
	l.Must(&fsm.UpdatePolicyRule{Rule: rule})
	l.Reevaluate(100)
	v = ruleViolation(t, f, "mc-lab", "rule-env")
	require.NotNil(t, v)
	assert.Equal(t, fsm.SeverityWarning, v.Severity)
	require.NoError(t, f.CheckPolicies("mc-lab"))
	l.Must(&fsm.RecordVersion{Version: fsmtest.Version("ver-lab", "mc-lab", 7, l.Now, 30*24*time.Hour)})

	// Disabled: the violation clears.
	rule.Enabled = false
	l.Must(&fsm.UpdatePolicyRule{Rule: rule})
	l.Reevaluate(100)
	assert.Nil(t, ruleViolation(t, f, "mc-lab", "rule-env"))
}

// TestPolicy_CheckPoliciesLeavesLifetime: the check asked before issuance
// does not hold a lifetime rule against the version about to be replaced.
func TestPolicy_CheckPoliciesLeavesLifetime(t *testing.T) {
	f, l := seeded(t)
	l.Must(&fsm.RecordVersion{Version: fsmtest.Version("ver-1", fsmtest.CertificateID, 1, l.Now, 400*24*time.Hour)})
	l.Must(&fsm.CreatePolicyRule{Rule: policyRule("rule-l", "CertificateLifetime", `{"max_days":397}`, fsm.SeverityError)})
	l.Reevaluate(100)
	require.NotNil(t, ruleViolation(t, f, fsmtest.CertificateID, "rule-l"), "reported")
	assert.NoError(t, f.CheckPolicies(fsmtest.CertificateID), "a renewal may fix it")
}

// TestPolicy_LifetimeAllowsBackdating: a CA's backdating for clock skew is
// not lifetime: a 90-day certificate backdated a minute (as the Local CA
// does) or an hour meets a 90-day rule of severity Error; one more is
// refused.
func TestPolicy_LifetimeAllowsBackdating(t *testing.T) {
	_, l := seeded(t)
	l.Must(&fsm.CreatePolicyRule{Rule: policyRule("rule-l", "CertificateLifetime", `{"max_days":90}`, fsm.SeverityError)})
	day := 24 * time.Hour
	l.Must(&fsm.RecordVersion{Version: fsmtest.Version("ver-a", fsmtest.CertificateID, 11, l.Now.Add(-time.Minute), 90*day+time.Minute)})
	l.Must(&fsm.RecordVersion{Version: fsmtest.Version("ver-b", fsmtest.CertificateID, 12, l.Now.Add(-time.Hour), 90*day+time.Hour)})
	err := l.Apply(&fsm.RecordVersion{Version: fsmtest.Version("ver-c", fsmtest.CertificateID, 13, l.Now.Add(-time.Hour), 90*day+time.Hour+time.Second)}).Err
	require.ErrorIs(t, err, fsm.ErrPolicy)
}
