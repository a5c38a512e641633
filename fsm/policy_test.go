package fsm_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/certctl/certctl/api/wire"
	"github.com/certctl/certctl/fsm"
	"github.com/certctl/certctl/fsm/fsmtest"
)

// policyRule returns an enabled rule of typ with config cfg.
func policyRule(id string, typ wire.PolicyRuleType, cfg string, severity wire.Severity) fsm.PolicyRule {
	return fsm.PolicyRule{ID: id, Name: "rule " + id, Type: typ, Config: json.RawMessage(cfg), Enabled: true, Severity: severity}
}

// violationsOf returns the violations of certID, in id order.
func violationsOf(t *testing.T, f *fsm.FSM, certID string) []fsm.PolicyViolation {
	t.Helper()
	l, err := f.Violations(fsm.ViolationFilter{CertificateID: certID}, fsm.Page{PerPage: fsm.MaxPerPage})
	require.NoError(t, err)
	require.Len(t, l.Items, l.Total)
	return l.Items
}

// ruleViolation returns the violation of rule by certID, or nil.
func ruleViolation(t *testing.T, f *fsm.FSM, certID, ruleID string) *fsm.PolicyViolation {
	t.Helper()
	for _, v := range violationsOf(t, f, certID) {
		if v.RuleID == ruleID {
			return &v
		}
	}
	return nil
}

func policyNotifications(t *testing.T, f *fsm.FSM, certID string) []fsm.Notification {
	t.Helper()
	l, err := f.Notifications(fsm.NotificationFilter{Type: "PolicyViolation", CertificateID: certID}, fsm.Page{PerPage: fsm.MaxPerPage})
	require.NoError(t, err)
	return l.Items
}

// TestPolicy_RuleTypes checks each rule type violated and satisfied by a new
// certificate mc-2 (and, for the lifetime, its issued version), under rules
// of severity Warning, which report without refusing (TestPolicy_Enforced
// has the same violations refused).
func TestPolicy_RuleTypes(t *testing.T) {
	day := 24 * time.Hour
	cases := []struct {
		name     string
		typ      wire.PolicyRuleType
		cfg      string
		cert     func(c *fsm.Certificate)
		lifetime time.Duration // > 0: record a version of mc-2 valid for this long
		want     []string      // substrings of the message; nil: no violation
	}{
		{"AllowedIssuers/violated", "AllowedIssuers", `{"allowed_issuer_ids":["issuer-9","issuer-8"]}`, nil, 0,
			[]string{"issuer issuer-1 is not allowed", "issuer-9, issuer-8"}},
		{"AllowedIssuers/satisfied", "AllowedIssuers", `{"allowed_issuer_ids":["issuer-9","issuer-1"]}`, nil, 0, nil},

		{"AllowedDomains/violated", "AllowedDomains", `{"allowed_domains":["example.com"]}`, func(c *fsm.Certificate) {
			c.CommonName = "api.example.com"
			c.SANs = []string{"api.example.com", "notexample.com", "*.example.org", "10.0.0.1"}
		}, 0, []string{"names notexample.com, *.example.org are not within the allowed domains", "example.com and their subdomains"}},
		{"AllowedDomains/one name", "AllowedDomains", `{"allowed_domains":["example.com"]}`, func(c *fsm.Certificate) {
			c.SANs = []string{"www.example.com", "example.net"}
		}, 0, []string{"name example.net is not within"}},
		{"AllowedDomains/satisfied", "AllowedDomains", `{"allowed_domains":["Example.COM.","example.org"]}`, func(c *fsm.Certificate) {
			c.CommonName = "*.example.com"
			c.SANs = []string{"*.example.com", "example.com", "Shop.Example.com", "deep.sub.example.org", "10.0.0.1", "admin@example.net"}
		}, 0, nil},

		{"RequiredMetadata/violated", "RequiredMetadata", `{"required_keys":["app","cost_center","team"]}`, func(c *fsm.Certificate) {
			c.Tags = map[string]string{"app": "web", "team": " "}
		}, 0, []string{"required tags cost_center, team are missing", "requires tags app, cost_center, team"}},
		{"RequiredMetadata/satisfied", "RequiredMetadata", `{"required_keys":["app"]}`, nil, 0, nil},

		{"AllowedEnvironments/violated", "AllowedEnvironments", `{"allowed":["production"]}`, func(c *fsm.Certificate) {
			c.Environment = "lab"
		}, 0, []string{"environment lab is not allowed", "allows environments production"}},
		{"AllowedEnvironments/no environment", "AllowedEnvironments", `{"allowed":["production"]}`, func(c *fsm.Certificate) {
			c.Environment = ""
		}, 0, []string{"no environment"}},
		{"AllowedEnvironments/satisfied", "AllowedEnvironments", `{"allowed":["staging","Production"]}`, nil, 0, nil},

		{"RenewalLeadTime/policy too short", "RenewalLeadTime", `{"lead_time_days":45}`, func(c *fsm.Certificate) {
			c.RenewalPolicyID = fsmtest.RenewalPolicyID
		}, 0, []string{"renewal starts 30 days before expiry (renewal policy policy-1)", "at least 45 days"}},
		{"RenewalLeadTime/policy long enough", "RenewalLeadTime", `{"lead_time_days":30}`, func(c *fsm.Certificate) {
			c.RenewalPolicyID = fsmtest.RenewalPolicyID
		}, 0, nil},
		{"RenewalLeadTime/no policy, above 30", "RenewalLeadTime", `{"lead_time_days":31}`, nil, 0,
			[]string{"renewal starts 30 days before expiry (a third of a 90-day lifetime", "at least 31 days"}},
		{"RenewalLeadTime/no policy, 30", "RenewalLeadTime", `{"lead_time_days":30}`, nil, 0, nil},
		{"RenewalLeadTime/no policy, long version", "RenewalLeadTime", `{"lead_time_days":60}`, nil, 365 * day, nil},
		{"RenewalLeadTime/no policy, short version", "RenewalLeadTime", `{"lead_time_days":20}`, nil, 30 * day,
			[]string{"renewal starts 10 days before expiry (a third of the lifetime of version ver-2"}},

		{"CertificateLifetime/no version", "CertificateLifetime", `{"max_days":90}`, nil, 0, nil},
		{"CertificateLifetime/violated", "CertificateLifetime", `{"max_days":90}`, nil, 90*day + 12*time.Hour,
			[]string{"version ver-2 is valid for 90.5 days", "at most 90 days"}},
		{"CertificateLifetime/satisfied", "CertificateLifetime", `{"max_days":90}`, nil, 90 * day, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f, l := seeded(t)
			l.Must(&fsm.CreatePolicyRule{Rule: policyRule("rule-x", tc.typ, tc.cfg, fsm.SeverityWarning)})
			c := fsmtest.Certificate("mc-2", "www.example.com")
			if tc.cert != nil {
				tc.cert(&c)
			}
			l.Must(&fsm.CreateCertificate{Certificate: c})
			if tc.lifetime > 0 {
				l.Must(&fsm.RecordVersion{Version: fsmtest.Version("ver-2", "mc-2", 2, fsmtest.T0, tc.lifetime)})
			}
			v := ruleViolation(t, f, "mc-2", "rule-x")
			if tc.want == nil {
				assert.Nil(t, v, "unexpected violation: %+v", v)
				if tc.lifetime == 0 {
					assert.Empty(t, policyNotifications(t, f, "mc-2"))
				}
				return
			}
			require.NotNil(t, v, "no violation")
			assert.Equal(t, "pv-mc-2-rule-x", v.ID)
			assert.Equal(t, fsm.SeverityWarning, v.Severity, "the rule's severity")
			for _, s := range tc.want {
				assert.Contains(t, v.Message, s)
			}
			assert.Equal(t, fsmtest.T0, v.CreatedAt)
			assert.Len(t, policyNotifications(t, f, "mc-2"), 1)
			// Listed by rule too (with mc-1's, when the seeded certificate
			// breaks the rule as well: creating it evaluated every certificate).
			byRule, err := f.Violations(fsm.ViolationFilter{RuleID: "rule-x"}, fsm.Page{})
			require.NoError(t, err)
			assert.Contains(t, byRule.Items, *v)
		})
	}
}

// TestPolicy_Severity: a rule without a severity makes Warnings; a disabled
// rule makes nothing.
func TestPolicy_Severity(t *testing.T) {
	f, l := seeded(t)
	l.Must(&fsm.CreatePolicyRule{Rule: policyRule("rule-x", "AllowedEnvironments", `{"allowed":["staging"]}`, "")})
	off := policyRule("rule-y", "AllowedEnvironments", `{"allowed":["staging"]}`, fsm.SeverityCritical)
	off.Enabled = false
	l.Must(&fsm.CreatePolicyRule{Rule: off})
	l.Must(&fsm.CreateCertificate{Certificate: fsmtest.Certificate("mc-2", "www.example.com")})
	vs := violationsOf(t, f, "mc-2")
	require.Len(t, vs, 1)
	assert.Equal(t, "rule-x", vs[0].RuleID)
	assert.Equal(t, fsm.SeverityWarning, vs[0].Severity)
}

// TestPolicy_ConfigValidated: a config its type cannot use is refused up
// front, naming config.
func TestPolicy_ConfigValidated(t *testing.T) {
	bad := []struct {
		typ      wire.PolicyRuleType
		cfg, msg string
	}{
		{"AllowedIssuers", ``, "config is missing"},
		{"AllowedIssuers", `null`, "config is missing"},
		{"AllowedIssuers", `{}`, "config.allowed_issuer_ids is missing"},
		{"AllowedIssuers", `{"issuer_ids":["issuer-1"]}`, `config field "issuer_ids" is not known`},
		{"AllowedIssuers", `{"allowed_issuer_ids":["issuer-1"],"zz":1,"extra":2}`, `config field "extra"`},
		{"AllowedIssuers", `{"allowed_issuer_ids":"issuer-1"}`, "config.allowed_issuer_ids is not a list of strings"},
		{"AllowedIssuers", `{"allowed_issuer_ids":null}`, "not a list of strings"},
		{"AllowedIssuers", `{"allowed_issuer_ids":[1]}`, "not a list of strings"},
		{"AllowedIssuers", `{"allowed_issuer_ids":[""]}`, "entry 0 is empty"},
		{"AllowedDomains", `{"allowed_domains":["exa mple.com"]}`, "is not a DNS domain"},
		{"AllowedDomains", `{"allowed_domains":{"a":1}}`, "not a list of strings"},
		{"RequiredMetadata", `{"required_keys":[["a"]]}`, "not a list of strings"},
		{"AllowedEnvironments", `{"environments":["production"]}`, `config field "environments"`},
		{"RenewalLeadTime", `{"lead_time_days":"30"}`, "config.lead_time_days is not a number"},
		{"RenewalLeadTime", `{"lead_time_days":1.5}`, "not a whole number"},
		{"RenewalLeadTime", `{"lead_time_days":0}`, "out of range"},
		{"CertificateLifetime", `{"max_days":1e400}`, "config.max_days"},
		{"CertificateLifetime", `{"max_days":99999999999999999999}`, "config.max_days"},
		{"CertificateLifetime", `{"max_days":-1}`, "out of range"},
		{"CertificateLifetime", `[397]`, "not a JSON object"},
		{"CertificateLifetime", `"x"`, "not a JSON object"},
	}
	for _, tc := range bad {
		t.Run(string(tc.typ)+" "+tc.cfg, func(t *testing.T) {
			for _, p := range []fsm.Payload{
				&fsm.CreatePolicyRule{Rule: policyRule("rule-x", tc.typ, tc.cfg, "")},
				&fsm.UpdatePolicyRule{Rule: policyRule(fsmtest.RuleID, tc.typ, tc.cfg, "")},
			} {
				err := p.Validate()
				require.Error(t, err)
				var fe *fsm.Error
				require.ErrorAs(t, err, &fe)
				assert.Equal(t, "config", fe.Field)
				assert.Contains(t, err.Error(), tc.msg)
			}
		})
	}
	good := []struct {
		typ wire.PolicyRuleType
		cfg string
	}{
		{"AllowedIssuers", `{"allowed_issuer_ids":[]}`},
		{"alloweddomains", `{"allowed_domains":["*.example.com","example.org."]}`},
		{"RequiredMetadata", ` {"required_keys":["service"]} `},
		{"AllowedEnvironments", `{"allowed":["production"]}`},
		{"RenewalLeadTime", `{"lead_time_days":30}`},
		{"CertificateLifetime", `{"max_days":397}`},
	}
	for _, tc := range good {
		r := policyRule("rule-x", tc.typ, tc.cfg, "")
		assert.NoError(t, (&fsm.CreatePolicyRule{Rule: r}).Validate(), "%s %s", tc.typ, tc.cfg)
	}
}

// TestPolicy_ViolationsReplaced: an update re-evaluates; a fixed certificate
// has no violations left, and one event records each change only.
func TestPolicy_ViolationsReplaced(t *testing.T) {
	f, l := seeded(t)
	l.Must(&fsm.CreatePolicyRule{Rule: policyRule("rule-env", "AllowedEnvironments", `{"allowed":["production"]}`, fsm.SeverityWarning)})
	l.Must(&fsm.CreatePolicyRule{Rule: policyRule("rule-tag", "RequiredMetadata", `{"required_keys":["cost_center"]}`, "")})
	c := fsmtest.Certificate("mc-2", "www.example.com")
	c.Environment = "lab"

	before := len(auditEvents(t, f))
	l.Must(&fsm.CreateCertificate{Certificate: c})
	assert.Equal(t, []auditWant{
		{"certificate_created", "certificate", "mc-2"},
		{"policy_evaluated", "certificate", "mc-2"},
		{"notification_queued", "notification", fmt.Sprintf("ne-pv-mc-2-rule-env-%d", l.Index)},
		{"notification_queued", "notification", fmt.Sprintf("ne-pv-mc-2-rule-tag-%d", l.Index)},
	}, actions(auditEvents(t, f)[before:]))
	vs := violationsOf(t, f, "mc-2")
	require.Len(t, vs, 2)
	assert.Equal(t, []string{"pv-mc-2-rule-env", "pv-mc-2-rule-tag"}, []string{vs[0].ID, vs[1].ID})
	assert.Equal(t, fsm.SeverityWarning, vs[0].Severity)
	assert.Equal(t, fsm.SeverityWarning, vs[1].Severity)

	// The same violations again: nothing but the update is written.
	l.Advance(time.Hour)
	before = len(auditEvents(t, f))
	l.Must(&fsm.UpdateCertificate{Certificate: c})
	assert.Equal(t, []auditWant{{"certificate_updated", "certificate", "mc-2"}}, actions(auditEvents(t, f)[before:]))
	assert.Equal(t, vs, violationsOf(t, f, "mc-2"))

	// Another message for the same rule: replaced, created_at kept, no new notification.
	c.Environment = "qa"
	l.Advance(time.Hour)
	before = len(auditEvents(t, f))
	l.Must(&fsm.UpdateCertificate{Certificate: c})
	assert.Equal(t, []auditWant{{"certificate_updated", "certificate", "mc-2"}, {"policy_evaluated", "certificate", "mc-2"}},
		actions(auditEvents(t, f)[before:]))
	env := ruleViolation(t, f, "mc-2", "rule-env")
	require.NotNil(t, env)
	assert.Contains(t, env.Message, "environment qa")
	assert.Equal(t, fsmtest.T0, env.CreatedAt, "violated since the certificate was created")
	assert.Len(t, policyNotifications(t, f, "mc-2"), 2)

	// Partly fixed, then fixed.
	c.Environment = "production"
	l.Must(&fsm.UpdateCertificate{Certificate: c})
	vs = violationsOf(t, f, "mc-2")
	require.Len(t, vs, 1)
	assert.Equal(t, "rule-tag", vs[0].RuleID)
	c.Tags = map[string]string{"cost_center": "42"}
	before = len(auditEvents(t, f))
	l.Must(&fsm.UpdateCertificate{Certificate: c})
	assert.Equal(t, []auditWant{{"certificate_updated", "certificate", "mc-2"}, {"policy_evaluated", "certificate", "mc-2"}},
		actions(auditEvents(t, f)[before:]))
	assert.Empty(t, violationsOf(t, f, "mc-2"))
	byRule, err := f.Violations(fsm.ViolationFilter{RuleID: "rule-tag", CertificateID: "mc-2"}, fsm.Page{})
	require.NoError(t, err)
	assert.Zero(t, byRule.Total)

	// Cleared violations no longer hold their rules: both can be deleted.
	l.Must(&fsm.DeletePolicyRule{ID: "rule-env"})
	l.Must(&fsm.DeletePolicyRule{ID: "rule-tag"})
}

// TestPolicy_NotifiedOncePerNewViolation: a violation is notified when it
// appears, not while it stays; one that comes back is new again.
func TestPolicy_NotifiedOncePerNewViolation(t *testing.T) {
	f, l := seeded(t)
	l.Must(&fsm.CreatePolicyRule{Rule: policyRule("rule-x", "AllowedEnvironments", `{"allowed":["production"]}`, fsm.SeverityWarning)})
	c := fsmtest.Certificate("mc-2", "www.example.com")
	c.Environment = "lab"
	l.Must(&fsm.CreateCertificate{Certificate: c})
	first := l.Index

	ns := policyNotifications(t, f, "mc-2")
	require.Len(t, ns, 1)
	n := ns[0]
	assert.Equal(t, fmt.Sprintf("ne-pv-mc-2-rule-x-%d", first), n.ID)
	assert.Equal(t, wire.ChannelEmail, n.Channel)
	assert.Equal(t, fsmtest.OwnerID+"@example.com", n.Recipient)
	assert.Equal(t, fsm.NotifyPending, n.Status)
	assert.Equal(t, fmt.Sprintf("policy/mc-2/rule-x/%d", fsmtest.T0.Unix()), n.DedupKey)
	assert.Contains(t, n.Message, "mc-2")
	assert.Contains(t, n.Message, "Warning")
	assert.Contains(t, n.Message, "environment lab is not allowed")

	// Still violated, on update and on issuance: no second notification.
	l.Advance(time.Minute)
	l.Must(&fsm.UpdateCertificate{Certificate: c})
	l.Must(&fsm.RecordVersion{Version: fsmtest.Version("ver-2", "mc-2", 2, l.Now, 90*24*time.Hour)})
	assert.Len(t, policyNotifications(t, f, "mc-2"), 1)

	// Fixed, then broken again later: a new violation, a new notification.
	c.Environment = "production"
	l.Must(&fsm.UpdateCertificate{Certificate: c})
	l.Advance(time.Hour)
	c.Environment = "lab"
	l.Must(&fsm.UpdateCertificate{Certificate: c})
	ns = policyNotifications(t, f, "mc-2")
	require.Len(t, ns, 2)
	assert.Equal(t, fmt.Sprintf("ne-pv-mc-2-rule-x-%d", l.Index), ns[1].ID)
	v := ruleViolation(t, f, "mc-2", "rule-x")
	require.NotNil(t, v)
	assert.Equal(t, l.Now, v.CreatedAt)

	// An owner without an e-mail address is not notified.
	l.Must(&fsm.CreateOwner{Owner: fsm.Owner{ID: "owner-quiet", Name: "Quiet"}})
	q := fsmtest.Certificate("mc-3", "www.example.com")
	q.OwnerID, q.Environment = "owner-quiet", "lab"
	l.Must(&fsm.CreateCertificate{Certificate: q})
	require.NotNil(t, ruleViolation(t, f, "mc-3", "rule-x"))
	assert.Empty(t, policyNotifications(t, f, "mc-3"))
}

// TestPolicy_LongIDs: violation and notification ids stay within the id
// length limit.
func TestPolicy_LongIDs(t *testing.T) {
	f, l := seeded(t)
	ruleID := "rule-" + strings.Repeat("r", 100)
	certID := "mc-" + strings.Repeat("c", 100)
	l.Must(&fsm.CreatePolicyRule{Rule: policyRule(ruleID, "AllowedEnvironments", `{"allowed":["staging"]}`, "")})
	l.Must(&fsm.CreateCertificate{Certificate: fsmtest.Certificate(certID, "www.example.com")})
	vs := violationsOf(t, f, certID)
	require.Len(t, vs, 1)
	assert.True(t, strings.HasPrefix(vs[0].ID, "pv-"))
	assert.NoError(t, fsm.ValidID("id", vs[0].ID))
	ns := policyNotifications(t, f, certID)
	require.Len(t, ns, 1)
	assert.NoError(t, fsm.ValidID("id", ns[0].ID))
	assert.True(t, strings.HasPrefix(ns[0].ID, "ne-pv-"))
}

// TestPolicy_IDTakenByAnotherCertificate: a recorded violation holding the
// id evaluation would use does not block the certificate's writes.
func TestPolicy_IDTakenByAnotherCertificate(t *testing.T) {
	f, l := seeded(t)
	l.Must(&fsm.CreatePolicyRule{Rule: policyRule("rule-x", "AllowedEnvironments", `{"allowed":["staging"]}`, "")})
	l.Must(&fsm.RecordViolations{CertificateID: fsmtest.CertificateID, Violations: []fsm.PolicyViolation{
		fsmtest.Violation("pv-mc-2-rule-x", fsmtest.CertificateID)}})
	l.Must(&fsm.CreateCertificate{Certificate: fsmtest.Certificate("mc-2", "www.example.com")})
	vs := violationsOf(t, f, "mc-2")
	require.Len(t, vs, 1)
	assert.NotEqual(t, "pv-mc-2-rule-x", vs[0].ID)
	assert.Equal(t, "rule-x", vs[0].RuleID)
}

// TestPolicy_DeterministicAcrossBatches: evaluation inside one batch ends
// where one entry at a time ends.
func TestPolicy_DeterministicAcrossBatches(t *testing.T) {
	a, b := fsmtest.Open(t), fsmtest.Open(t)
	la := fsmtest.NewLog(t, a, b)
	fsmtest.Seed(la)
	c := fsmtest.Certificate("mc-2", "www.example.org")
	c.Environment = "lab"
	fixed := c
	fixed.Environment, fixed.CommonName, fixed.SANs = "production", "www.example.com", []string{"www.example.com"}
	payloads := []fsm.Payload{
		&fsm.CreatePolicyRule{Rule: policyRule("rule-d", "AllowedDomains", `{"allowed_domains":["example.com"]}`, fsm.SeverityWarning)},
		&fsm.CreatePolicyRule{Rule: policyRule("rule-e", "AllowedEnvironments", `{"allowed":["production"]}`, "")},
		&fsm.CreatePolicyRule{Rule: policyRule("rule-l", "CertificateLifetime", `{"max_days":30}`, "")},
		&fsm.CreateCertificate{Certificate: c},
		&fsm.UpdateCertificate{Certificate: c},
		&fsm.RecordVersion{Version: fsmtest.Version("ver-2", "mc-2", 2, fsmtest.T0, 60*24*time.Hour)},
		&fsm.UpdateCertificate{Certificate: fixed},
		&fsm.UpdateCertificate{Certificate: c},
		// An enforced rule: every certificate evaluated again (the sweep's
		// one batch, below), then a write that breaks it refused.
		&fsm.CreatePolicyRule{Rule: policyRule("rule-z", "AllowedEnvironments", `{"allowed":["production"]}`, fsm.SeverityError), Sweep: true},
		nil,
		&fsm.UpdateCertificate{Certificate: c},
	}
	refused := len(payloads) - 1
	rec := fsmtest.NewLog(t) // builds entries only
	rec.Index, rec.Now = la.Index, la.Now
	entries := make([]*raft.Log, 0, len(payloads))
	for _, p := range payloads {
		if p == nil {
			p = &fsm.ReevaluatePolicies{Since: rec.Index, CertIDs: []string{fsmtest.CertificateID, "mc-2"}}
		}
		entries = append(entries, rec.Entry(p))
	}
	batched := fsmtest.ApplyBatch(t, b, entries...)
	for i, e := range entries {
		one := fsmtest.ApplyBatch(t, a, e)[0].Err
		if i == refused {
			require.ErrorIs(t, one, fsm.ErrPolicy)
			require.Equal(t, one, batched[i].Err)
			continue
		}
		require.NoError(t, one, "entry %d", i)
		require.NoError(t, batched[i].Err, "entry %d", i)
	}
	assert.Equal(t, stateHash(t, a), stateHash(t, b))
	vs := violationsOf(t, a, "mc-2")
	require.Len(t, vs, 4)
	// Broken again within the same second as the first time: the dedup key
	// (rule and second the violation began) is the same, so no second e-mail.
	assert.Len(t, policyNotifications(t, a, "mc-2"), 4, "two at creation, one at issuance, one for the enforced rule")
}

func actions(events []fsm.AuditEvent) []auditWant {
	out := make([]auditWant, len(events))
	for i, ev := range events {
		out[i] = auditWant{ev.Action, ev.ResourceType, ev.ResourceID}
	}
	return out
}
