package fsm_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/certctl/certctl/fsm"
	"github.com/certctl/certctl/fsm/fsmtest"
)

// TestFSM_ReplaySkipsAppliedEntries checks that entries at or below the
// applied index, as raft replays them after a restart, change nothing.
func TestFSM_ReplaySkipsAppliedEntries(t *testing.T) {
	entries := mixedLog(t, 6, 200)
	old, fresh := entries[:150], entries[150:]
	cases := []struct {
		name  string
		apply func(t *testing.T, f *fsm.FSM)
	}{
		{"whole log in one batch", func(t *testing.T, f *fsm.FSM) {
			for _, res := range fsmtest.ApplyBatch(t, f, old...) {
				assert.ErrorIs(t, res.Err, fsm.ErrState)
			}
		}},
		{"one entry at a time", func(t *testing.T, f *fsm.FSM) {
			for _, e := range old {
				assert.ErrorIs(t, fsmtest.ApplyBatch(t, f, e)[0].Err, fsm.ErrState)
			}
		}},
		{"last entry again", func(t *testing.T, f *fsm.FSM) {
			fsmtest.ApplyBatch(t, f, old[len(old)-1])
		}},
		{"earlier entries with another term", func(t *testing.T, f *fsm.FSM) {
			e := *old[20]
			e.Term = 9
			fsmtest.ApplyBatch(t, f, &e)
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := fsmtest.Open(t)
			fsmtest.ApplyBatch(t, f, old...)
			want, index := stateHash(t, f), f.AppliedIndex()

			tc.apply(t, f)

			assert.Equal(t, want, stateHash(t, f))
			assert.Equal(t, index, f.AppliedIndex())
		})
	}

	t.Run("batch straddling the applied index", func(t *testing.T) {
		f, twin := fsmtest.Open(t), fsmtest.Open(t)
		fsmtest.ApplyBatch(t, f, old...)
		fsmtest.ApplyBatch(t, twin, entries...)

		fsmtest.ApplyBatch(t, f, entries[100:]...) // 50 replayed, 50 new

		assert.Equal(t, stateHash(t, twin), stateHash(t, f))
		assert.Equal(t, fresh[len(fresh)-1].Index, f.AppliedIndex())
	})
}

// TestFSM_DuplicateRequestID checks that a command whose request id was seen
// at an earlier index (a client retry after a leadership change) is a no-op
// that returns the first attempt's error, or nil. The replica that gets the
// retry must hold what its twin holds after a raft no-op at the same index.
func TestFSM_DuplicateRequestID(t *testing.T) {
	cases := []struct {
		name    string
		first   fsm.Payload
		between func(l *fsmtest.Log) // applied after the first attempt
		retry   fsm.Payload
		want    error
	}{
		{
			name:  "first succeeded",
			first: &fsm.CreateTeam{Team: fsmtest.Team("team-2", "Security")},
			retry: &fsm.CreateTeam{Team: fsmtest.Team("team-2", "Security")},
		},
		{
			name:  "first succeeded, retry differs",
			first: &fsm.CreateTeam{Team: fsmtest.Team("team-2", "Security")},
			retry: &fsm.CreateTeam{Team: fsmtest.Team("team-3", "Networking")},
		},
		{
			name:  "first rejected, cause since removed",
			first: &fsm.CreateOwner{Owner: fsmtest.Owner("owner-2", "team-x")},
			between: func(l *fsmtest.Log) {
				l.Must(&fsm.CreateTeam{Team: fsmtest.Team("team-x", "X")})
			},
			retry: &fsm.CreateOwner{Owner: fsmtest.Owner("owner-2", "team-x")},
			want:  fsm.ErrNotFound,
		},
		{
			name:  "first rejected by a lease",
			first: &fsm.CompleteJob{JobID: "job-1", Holder: "node-2"},
			retry: &fsm.CompleteJob{JobID: "job-1", Holder: "node-2"},
			want:  fsm.ErrBadLease,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a, b, l := twins(t)
			claimed(l, fsmtest.Job("job-1", fsm.JobRenewal))
			m := l.Meta()
			m.RequestID = "req-1"
			first := l.ApplyWith(m, tc.first)
			if tc.want == nil {
				require.NoError(t, first.Err)
			} else {
				require.ErrorIs(t, first.Err, tc.want)
			}
			if tc.between != nil {
				tc.between(l)
			}
			l.Advance(time.Second)
			m = l.Meta()
			m.RequestID = "req-1"

			res := applyAgainstNoop(t, a, b, l.EntryWith(m, tc.retry))

			if tc.want == nil {
				assert.NoError(t, res.Err)
			} else {
				assert.ErrorIs(t, res.Err, tc.want)
				assert.Equal(t, first.Err.Error(), res.Err.Error())
			}
			assert.Equal(t, stateHash(t, b), stateHash(t, a), "the retry wrote something")
		})
	}

	t.Run("twice in one batch", func(t *testing.T) {
		a, b, l := twins(t)
		m := l.Meta()
		m.RequestID = "req-1"
		first := l.EntryWith(m, &fsm.CreateTeam{Team: fsmtest.Team("team-2", "Security")})
		retry := l.EntryWith(m, &fsm.CreateTeam{Team: fsmtest.Team("team-2", "Security")})

		res := fsmtest.ApplyBatch(t, a, first, retry)
		fsmtest.ApplyBatch(t, b, first, noopAt(retry))

		assert.NoError(t, res[0].Err)
		assert.NoError(t, res[1].Err)
		assert.Equal(t, stateHash(t, b), stateHash(t, a))
	})
}

func TestFSM_ReopenKeepsState(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	entries := mixedLog(t, 8, 200)
	f, err := fsm.Open(path, fsm.Options{})
	require.NoError(t, err)
	fsmtest.ApplyBatch(t, f, entries[:150]...)
	want, index := stateHash(t, f), f.AppliedIndex()
	require.NoError(t, f.Close())
	require.NoError(t, f.Close(), "Close is idempotent")

	g := fsmtest.OpenPath(t, path, fsm.Options{})

	assert.Equal(t, index, g.AppliedIndex())
	assert.Equal(t, want, stateHash(t, g))
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	assert.NoError(t, g.WaitApplied(ctx, index))
	fsmtest.ApplyBatch(t, g, entries[:150]...) // raft's replay after the restart
	assert.Equal(t, want, stateHash(t, g))

	// The reopened FSM goes on as one that never stopped.
	twin := fsmtest.Open(t)
	fsmtest.ApplyBatch(t, twin, entries...)
	fsmtest.ApplyBatch(t, g, entries[150:]...)
	assert.Equal(t, stateHash(t, twin), stateHash(t, g))
}

func TestFSM_WaitApplied(t *testing.T) {
	f := fsmtest.Open(t)
	l := fsmtest.NewLog(t, f)
	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		done <- f.WaitApplied(ctx, 3)
	}()
	for range 3 {
		l.Apply(&fsm.InitCluster{ClusterID: "c"})
	}
	assert.NoError(t, <-done)

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := f.WaitApplied(ctx, 4)
	assert.ErrorIs(t, err, context.Canceled)
}

// TestFSM_NonCommandEntries checks that configuration and no-op entries
// advance the applied index and term without touching anything else.
func TestFSM_NonCommandEntries(t *testing.T) {
	a, b, l := twins(t)
	e := &raft.Log{Index: l.Index + 1, Term: 4, Type: raft.LogConfiguration, Data: []byte("not a command")}

	res := fsmtest.ApplyBatch(t, a, e)[0]
	fsmtest.ApplyBatch(t, b, &raft.Log{Index: e.Index, Term: e.Term, Type: raft.LogNoop})

	assert.NoError(t, res.Err)
	assert.Equal(t, e.Index, a.AppliedIndex())
	assert.Equal(t, stateHash(t, b), stateHash(t, a))
}
