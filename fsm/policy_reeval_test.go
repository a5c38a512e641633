package fsm_test

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/certctl/certctl/fsm"
	"github.com/certctl/certctl/fsm/fsmtest"
)

// inventory creates n certificates after the fixtures, every third in the
// lab environment, and returns the ids of those.
func inventory(l *fsmtest.Log, n int) (lab []string) {
	for i := range n {
		c := fsmtest.Certificate(fmt.Sprintf("mc-inv-%03d", i), fmt.Sprintf("h%d.example.com", i))
		if i%3 == 0 {
			c.Environment = "lab"
			lab = append(lab, c.ID)
		}
		l.Must(&fsm.CreateCertificate{Certificate: c})
	}
	return lab
}

func violatorsOf(t *testing.T, f *fsm.FSM, ruleID string) []string {
	t.Helper()
	list, err := f.Violations(fsm.ViolationFilter{RuleID: ruleID}, fsm.Page{PerPage: fsm.MaxPerPage})
	require.NoError(t, err)
	var out []string
	for _, v := range list.Items {
		out = append(out, v.CertificateID)
	}
	return out
}

// TestPolicySweep_BatchesReportWhatTheRulesInForceFind: a rule change
// leaves the certificates alone in its own entry; batches of any size, in
// id order, then report exactly the certificates that break the rule, and
// a change of the rule (here turned off, then on) is followed the same way.
func TestPolicySweep_BatchesReportWhatTheRulesInForceFind(t *testing.T) {
	for _, size := range []int{1, 4, 1000} {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			f, l := seeded(t)
			lab := inventory(l, 25)
			rule := policyRule("rule-env", fsm.RuleAllowedEnvironments, `{"allowed":["production"]}`, fsm.SeverityWarning)
			l.Must(&fsm.CreatePolicyRule{Rule: rule, Sweep: true})
			assert.Empty(t, violatorsOf(t, f, "rule-env"), "the rule's own entry evaluates nothing")

			batches := l.Reevaluate(size)
			assert.Equal(t, max(1, (26+size-1)/size), batches, "26 certificates, %d a batch", size)
			assert.Equal(t, lab, violatorsOf(t, f, "rule-env"))

			rule.Enabled = false
			l.Must(&fsm.UpdatePolicyRule{Rule: rule, Sweep: true})
			assert.Equal(t, lab, violatorsOf(t, f, "rule-env"), "still there until the sweep")
			l.Reevaluate(size)
			assert.Empty(t, violatorsOf(t, f, "rule-env"))
		})
	}
}

// TestPolicySweep_NewerChangeRestarts: a rule change in the middle of a
// sweep restarts it from the first certificate; a batch of the older sweep,
// or one that does not continue from the cursor, is refused and writes
// nothing.
func TestPolicySweep_NewerChangeRestarts(t *testing.T) {
	a, b, l := twins(t)
	inventory(l, 5) // mc-1, mc-inv-000..004
	rule := policyRule("rule-env", fsm.RuleAllowedEnvironments, `{"allowed":["production"]}`, fsm.SeverityWarning)
	l.Must(&fsm.CreatePolicyRule{Rule: rule, Sweep: true})
	first := l.Index

	next, err := a.NextPolicyBatch(2)
	require.NoError(t, err)
	require.Equal(t, &fsm.ReevaluatePolicies{Since: first, CertIDs: []string{fsmtest.CertificateID, "mc-inv-000"}}, next)
	progress := l.Must(next)
	assert.Equal(t, &fsm.PolicySweep{Since: first, After: "mc-inv-000", Evaluated: 2}, progress)

	rule.Config = []byte(`{"allowed":["production","lab"]}`)
	l.Must(&fsm.UpdatePolicyRule{Rule: rule, Sweep: true})
	second := l.Index
	sweep, err := a.PolicySweep()
	require.NoError(t, err)
	assert.Equal(t, &fsm.PolicySweep{Since: second}, sweep, "restarted from the first certificate")

	for name, p := range map[string]*fsm.ReevaluatePolicies{
		"older sweep":       {Since: first, After: "mc-inv-000", CertIDs: []string{"mc-inv-001"}},
		"not from cursor":   {Since: second, After: "mc-inv-000", CertIDs: []string{"mc-inv-001"}},
		"future rule index": {Since: second + 5, CertIDs: []string{fsmtest.CertificateID}},
	} {
		res := applyAgainstNoop(t, a, b, l.Entry(p))
		require.ErrorIs(t, res.Err, fsm.ErrState, name)
		assert.Equal(t, stateHash(t, b), stateHash(t, a), name)
	}

	assert.Equal(t, 3, l.Reevaluate(2))
	assert.Empty(t, violatorsOf(t, a, "rule-env"), "the newer rule allows lab")
	res := l.Apply(&fsm.ReevaluatePolicies{Since: second, After: "mc-inv-004"})
	require.ErrorIs(t, res.Err, fsm.ErrState, "no sweep under way")
}

// TestPolicySweep_NoCertificates: with no certificate, the sweep's one
// batch is empty and ends it.
func TestPolicySweep_NoCertificates(t *testing.T) {
	f := fsmtest.Open(t)
	l := fsmtest.NewLog(t, f)
	l.Must(&fsm.CreatePolicyRule{Rule: fsmtest.Rule("rule-1", "r"), Sweep: true})
	next, err := f.NextPolicyBatch(10)
	require.NoError(t, err)
	assert.Empty(t, next.CertIDs)
	assert.Nil(t, l.Must(next))
	next, err = f.NextPolicyBatch(10)
	require.NoError(t, err)
	assert.Nil(t, next)
}

func TestPolicySweep_Validate(t *testing.T) {
	for name, tc := range map[string]struct {
		p     fsm.ReevaluatePolicies
		field string
	}{
		"no since":     {fsm.ReevaluatePolicies{CertIDs: []string{"mc-1"}}, "since"},
		"out of order": {fsm.ReevaluatePolicies{Since: 3, CertIDs: []string{"mc-2", "mc-1"}}, "cert_ids"},
		"repeated":     {fsm.ReevaluatePolicies{Since: 3, CertIDs: []string{"mc-1", "mc-1"}}, "cert_ids"},
		"not after":    {fsm.ReevaluatePolicies{Since: 3, After: "mc-2", CertIDs: []string{"mc-2"}}, "cert_ids"},
		"bad id":       {fsm.ReevaluatePolicies{Since: 3, CertIDs: []string{"a b"}}, "cert_ids"},
		"too many":     {fsm.ReevaluatePolicies{Since: 3, CertIDs: make([]string, fsm.MaxBatch+1)}, "cert_ids"},
		"bad cursor":   {fsm.ReevaluatePolicies{Since: 3, After: "a\x00b"}, "after"},
	} {
		err := tc.p.Validate()
		var e *fsm.Error
		require.ErrorAs(t, err, &e, name)
		assert.Equal(t, tc.field, e.Field, name)
	}
	assert.NoError(t, (&fsm.ReevaluatePolicies{Since: 3, After: "mc-1", CertIDs: []string{"mc-2", "mc-3"}}).Validate())
}

// TestPolicySweep_CreatedAfterTheRead: certificates created after the
// leader read the sweep (so after the rule change, and evaluated by their
// own create) do not hold the sweep up: an empty batch ends it, and they
// carry the rule's violations already.
func TestPolicySweep_CreatedAfterTheRead(t *testing.T) {
	f := fsmtest.Open(t)
	l := fsmtest.NewLog(t, f)
	l.Must(&fsm.CreateTeam{Team: fsmtest.Team(fsmtest.TeamID, "Platform")})
	l.Must(&fsm.CreateOwner{Owner: fsmtest.Owner(fsmtest.OwnerID, fsmtest.TeamID)})
	l.Must(&fsm.CreateIssuer{Issuer: fsmtest.Issuer(fsmtest.IssuerID, "Local CA")})
	l.Must(&fsm.CreatePolicyRule{Rule: policyRule("rule-env", fsm.RuleAllowedEnvironments, `{"allowed":["production"]}`, fsm.SeverityWarning), Sweep: true})
	read, err := f.NextPolicyBatch(10)
	require.NoError(t, err)
	require.Empty(t, read.CertIDs, "no certificate yet")

	lab := fsmtest.Certificate("mc-lab", "lab.example.com")
	lab.Environment = "lab"
	l.Must(&fsm.CreateCertificate{Certificate: lab})
	assert.Equal(t, []string{"mc-lab"}, violatorsOf(t, f, "rule-env"), "evaluated by its create")

	l.Must(read)
	sweep, err := f.PolicySweep()
	require.NoError(t, err)
	assert.Nil(t, sweep, "the empty batch read before mc-lab existed ends the sweep")
}
