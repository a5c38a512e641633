package fsm_test

import (
	"fmt"
	"path/filepath"
	"testing"

	"github.com/hashicorp/raft"
	"github.com/stretchr/testify/require"

	"github.com/certctl/certctl/api/wire"
	"github.com/certctl/certctl/fsm"
	"github.com/certctl/certctl/fsm/fsmtest"
)

// benchmarkApply applies n CreateCertificate entries, batch at a time, to a
// seeded FSM that fsyncs every commit, as a node's does, and reports entries/s.
func benchmarkApply(b *testing.B, batch int) {
	f := fsmtest.OpenPath(b, filepath.Join(b.TempDir(), "state.db"), fsm.Options{})
	l := fsmtest.NewLog(b, f)
	fsmtest.Seed(l)
	entries := make([]*raft.Log, b.N*batch)
	for i := range entries {
		c := fsmtest.Certificate(fmt.Sprintf("bench-%08d", i), fmt.Sprintf("h%d.example.com", i))
		c.TargetIDs = []string{fsmtest.TargetID}
		entries[i] = l.Entry(&fsm.CreateCertificate{Certificate: c})
	}
	b.ResetTimer()
	for i := range b.N {
		for _, r := range f.ApplyBatch(entries[i*batch : (i+1)*batch]) {
			if err := r.(*fsm.ApplyResult).Err; err != nil {
				b.Fatal(err)
			}
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(len(entries))/b.Elapsed().Seconds(), "entries/s")
	list, err := f.Certificates(fsm.CertificateFilter{}, fsm.Page{PerPage: 1})
	require.NoError(b, err)
	require.Equal(b, len(entries)+1, list.Total)
}

// BenchmarkFSM_ApplyBatch is raft's path: one bbolt commit per 64 entries.
func BenchmarkFSM_ApplyBatch(b *testing.B) { benchmarkApply(b, 64) }

// BenchmarkFSM_ApplyOneByOne commits each entry alone, for the ratio.
func BenchmarkFSM_ApplyOneByOne(b *testing.B) { benchmarkApply(b, 1) }

// BenchmarkFSM_AgentWork is the read behind an agent's poll: the jobs of one
// agent that are Pending, AwaitingCSR or Running, when the agent has 200
// finished jobs and one open. queries=3 asks once per status, queries=1
// once for the three.
func BenchmarkFSM_AgentWork(b *testing.B) {
	f := fsmtest.Open(b)
	l := fsmtest.NewLog(b, f)
	fsmtest.Seed(l)
	const history = 200
	jobs := make([]fsm.Job, history+1)
	for i := range jobs {
		jobs[i] = fsmtest.DeploymentJob(fmt.Sprintf("job-%04d", i))
	}
	l.Must(&fsm.CreateJobs{Jobs: jobs})
	for i := range history {
		l.Must(&fsm.CancelJob{JobID: jobs[i].ID})
	}
	open := []wire.JobStatus{fsm.JobPending, fsm.JobAwaitingCSR, fsm.JobRunning}
	b.Run("queries=3", func(b *testing.B) {
		for b.Loop() {
			n := 0
			for _, st := range open {
				list, err := f.Jobs(fsm.JobFilter{AgentID: fsmtest.AgentID, Status: st}, fsm.Page{PerPage: fsm.MaxPerPage})
				if err != nil {
					b.Fatal(err)
				}
				n += len(list.Items)
			}
			if n != 1 {
				b.Fatalf("%d open jobs, want 1", n)
			}
		}
	})
	b.Run("queries=1", func(b *testing.B) {
		for b.Loop() {
			list, err := f.Jobs(fsm.JobFilter{AgentID: fsmtest.AgentID, Statuses: open}, fsm.Page{PerPage: fsm.MaxPerPage})
			if err != nil {
				b.Fatal(err)
			}
			if len(list.Items) != 1 {
				b.Fatalf("%d open jobs, want 1", len(list.Items))
			}
		}
	})
}

// policyInventory loads certs certificates, one in ten in the lab
// environment, and a rule of severity Error they break, swept once.
func policyInventory(b *testing.B, certs int) (*fsm.FSM, *fsmtest.Log, fsm.PolicyRule) {
	f := fsmtest.Open(b)
	l := fsmtest.NewLog(b, f)
	fsmtest.Seed(l)
	for i := 0; i < certs; i += 500 {
		entries := make([]*raft.Log, 0, 500)
		for j := i; j < i+500; j++ {
			c := fsmtest.Certificate(fmt.Sprintf("bench-%08d", j), fmt.Sprintf("h%d.example.com", j))
			if j%10 == 0 {
				c.Environment = "lab"
			}
			entries = append(entries, l.Entry(&fsm.CreateCertificate{Certificate: c}))
		}
		fsmtest.ApplyBatch(b, f, entries...)
	}
	rule := fsm.PolicyRule{ID: "rule-env", Name: "production only", Type: fsm.RuleAllowedEnvironments,
		Config: []byte(`{"allowed":["production"]}`), Enabled: true, Severity: fsm.SeverityError}
	l.Must(&fsm.CreatePolicyRule{Rule: rule, Sweep: true})
	l.Reevaluate(sweepBatch)
	return f, l, rule
}

// sweepBatch is the scheduler's default ReevaluatePolicies batch size.
const sweepBatch = 250

// BenchmarkFSM_RuleChangeEntry is the cost of the raft entry that creates
// or changes a policy rule at 10,000 certificates: it only starts the sweep
// (before the sweep moved out of it, it evaluated every certificate and
// rewrote their violations: 294 ms).
func BenchmarkFSM_RuleChangeEntry(b *testing.B) {
	const certs = 10000
	_, l, rule := policyInventory(b, certs)
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		rule.Severity = []wire.Severity{fsm.SeverityWarning, fsm.SeverityError}[i%2]
		l.Must(&fsm.UpdatePolicyRule{Rule: rule, Sweep: true})
	}
}

// BenchmarkFSM_RuleChangeEntryInPlace is the same entry without Sweep, as
// entries written before sweeps existed are still applied: every
// certificate evaluated in the entry itself.
func BenchmarkFSM_RuleChangeEntryInPlace(b *testing.B) {
	const certs = 10000
	_, l, rule := policyInventory(b, certs)
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		// Alternate Error and Warning: every pass rewrites the 1,000 violations.
		rule.Severity = []wire.Severity{fsm.SeverityWarning, fsm.SeverityError}[i%2]
		l.Must(&fsm.UpdatePolicyRule{Rule: rule})
	}
}

// BenchmarkFSM_PolicySweep is the whole re-evaluation that follows a rule
// change at 10,000 certificates, in the scheduler's batches of 250 (40
// entries), one in ten breaking the rule: every pass rewrites the 1,000
// violations (Error and Warning alternate). Each entry holds the log for
// its share only.
func BenchmarkFSM_PolicySweep(b *testing.B) {
	const certs = 10000
	f, l, rule := policyInventory(b, certs)
	b.ResetTimer()
	entries := 0
	for i := 0; b.Loop(); i++ {
		b.StopTimer()
		rule.Severity = []wire.Severity{fsm.SeverityWarning, fsm.SeverityError}[i%2]
		l.Must(&fsm.UpdatePolicyRule{Rule: rule, Sweep: true})
		b.StartTimer()
		entries += l.Reevaluate(sweepBatch)
	}
	b.StopTimer()
	b.ReportMetric(float64(entries)/float64(b.N), "entries/op")
	vs, err := f.Violations(fsm.ViolationFilter{RuleID: "rule-env"}, fsm.Page{PerPage: 1})
	require.NoError(b, err)
	require.Equal(b, certs/10, vs.Total)
}
