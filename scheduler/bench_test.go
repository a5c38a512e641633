package scheduler

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	"github.com/stretchr/testify/require"

	"github.com/certctl/certctl/fsm"
	"github.com/certctl/certctl/fsm/fsmtest"
)

// BenchmarkRenewalCheck times a run of the renewal check over n Active
// certificates of which 1% are inside their renewal window (30 days, alerts
// at 30/14/7/0) and the rest expire 31 days to 3 years out.
//
//   - the first run, timed once and logged: it finds the 1% and proposes
//     their status changes, alerts and renewal jobs (applied to the fsm
//     directly, without raft: the scheduler's and the fsm's cost);
//   - steady: every later run, which finds nothing new and proposes nothing;
//   - steady-default-horizon: the same with MaxLifetime at its default (a
//     policy-less certificate may live 398 days), so the run reads every
//     certificate expiring within 133 days, about 10% of them here.
//
// The 1,000,000 case loads its state in about a minute (raise -timeout if
// needed); select a size with -bench 'RenewalCheck/certs=100000'.
func BenchmarkRenewalCheck(b *testing.B) {
	for _, n := range []int{100_000, 1_000_000} {
		b.Run(fmt.Sprintf("certs=%d", n), func(b *testing.B) { benchmarkRenewalCheck(b, n) })
	}
}

func benchmarkRenewalCheck(b *testing.B, n int) {
	f := fsmtest.OpenPath(b, filepath.Join(b.TempDir(), "state.db"), fsm.Options{NoSync: true})
	l := fsmtest.NewLog(b, f)
	fsmtest.Seed(l)
	now := fsmtest.T0
	window := 30
	l.Must(&fsm.CreateRenewalPolicy{Policy: fsm.RenewalPolicy{ID: "policy-bench", Name: "bench", RenewalWindowDays: &window,
		AutoRenew: true, MaxRetries: 3, RetryIntervalMinutes: 60, AlertThresholdsDays: []int{30, 14, 7, 0}}})

	start := time.Now()
	inWindow := loadCertificates(b, f, l, n, now)
	b.Logf("loaded %d certificates (%d in their window) in %s", n, inWindow, time.Since(start).Round(time.Millisecond))

	prop := &logProposer{log: l, byType: map[fsm.CommandType]int{}}
	newScheduler := func(maxLifetime time.Duration) (*Scheduler, *countingState) {
		state := &countingState{State: f}
		s, err := New(Config{NodeID: "bench", Now: func() time.Time { return now }, MaxLifetime: maxLifetime,
			Logger: slog.New(slog.DiscardHandler)}, state, prop)
		require.NoError(b, err)
		return s, state
	}
	ctx := context.Background()

	// The first run, once: it finds the 1% and proposes for them.
	s, state := newScheduler(fsm.DefaultLifetime)
	start = time.Now()
	require.NoError(b, s.checkRenewals(ctx))
	b.Logf("first run: %s, %d certificates read, %d proposals", time.Since(start).Round(time.Millisecond), state.visited, prop.proposals())
	jobs, err := f.Jobs(fsm.JobFilter{Status: fsm.JobPending}, fsm.Page{PerPage: 1})
	require.NoError(b, err)
	require.Equal(b, inWindow, jobs.Total, "one renewal job per certificate in its window")

	for _, tc := range []struct {
		name        string
		maxLifetime time.Duration
	}{
		{"steady", fsm.DefaultLifetime},
		{"steady-default-horizon", DefaultMaxLifetime},
	} {
		b.Run(tc.name, func(b *testing.B) {
			s, state := newScheduler(tc.maxLifetime)
			before := prop.proposals()
			b.ResetTimer()
			for range b.N {
				require.NoError(b, s.checkRenewals(ctx))
			}
			b.StopTimer()
			require.Equal(b, before, prop.proposals(), "a steady run proposes nothing")
			b.ReportMetric(float64(state.visited)/float64(b.N), "certs-read/op")
		})
	}
}

// loadCertificates creates n Active certificates under policy-bench in
// large batches, every hundredth inside its 30-day window, and returns how
// many are.
func loadCertificates(b *testing.B, f *fsm.FSM, l *fsmtest.Log, n int, now time.Time) int {
	const batch = 5000
	inWindow := 0
	entries := make([]*raft.Log, 0, batch)
	flush := func() {
		for _, r := range fsmtest.ApplyBatch(b, f, entries...) {
			require.NoError(b, r.Err)
		}
		entries = entries[:0]
	}
	for i := range n {
		var exp time.Time
		if i%100 == 0 {
			exp = now.Add(time.Duration(1+(i/100)%29)*day + time.Hour)
			inWindow++
		} else {
			exp = now.Add(31*day + time.Duration(float64(i)/float64(n)*float64(3*365*day)))
		}
		c := fsm.Certificate{ID: fmt.Sprintf("mc-%07d", i), Name: fmt.Sprintf("cert %07d", i),
			CommonName: fmt.Sprintf("h%07d.example.com", i), Environment: "production",
			OwnerID: fsmtest.OwnerID, TeamID: fsmtest.TeamID, IssuerID: fsmtest.IssuerID,
			RenewalPolicyID: "policy-bench", Status: fsm.CertActive, ExpiresAt: &exp}
		entries = append(entries, l.Entry(&fsm.CreateCertificate{Certificate: c}))
		if len(entries) == batch {
			flush()
		}
	}
	if len(entries) > 0 {
		flush()
	}
	return inWindow
}
