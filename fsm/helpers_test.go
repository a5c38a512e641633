package fsm_test

import (
	"testing"
	"time"

	"github.com/hashicorp/raft"
	"github.com/stretchr/testify/require"

	"github.com/certctl/certctl/fsm"
	"github.com/certctl/certctl/fsm/fsmtest"
)

// seeded returns an FSM holding the fsmtest fixtures and the Log that feeds it.
func seeded(t *testing.T) (*fsm.FSM, *fsmtest.Log) {
	t.Helper()
	f := fsmtest.Open(t)
	l := fsmtest.NewLog(t, f)
	fsmtest.Seed(l)
	return f, l
}

// twins returns two FSMs holding the fsmtest fixtures and the Log that feeds
// both: one to receive a command, the other to show what it would hold without.
func twins(t *testing.T) (a, b *fsm.FSM, l *fsmtest.Log) {
	t.Helper()
	a, b = fsmtest.Open(t), fsmtest.Open(t)
	l = fsmtest.NewLog(t, a, b)
	fsmtest.Seed(l)
	return a, b, l
}

// applyAgainstNoop applies e to a and, at the same index and term, a raft
// no-op to b, and returns a's result. Every entry, rejected or not, advances
// the applied index and term in the meta bucket, so comparing a with b rather
// than a with itself before the entry leaves nothing to except: if the full
// hashes of every bucket agree, the command wrote nothing but what a no-op
// writes. (An entry with a request id also records it in the requests
// buckets, by design; callers that expect that give e no request id.)
func applyAgainstNoop(t *testing.T, a, b *fsm.FSM, e *raft.Log) *fsm.ApplyResult {
	t.Helper()
	res := fsmtest.ApplyBatch(t, a, e)[0]
	fsmtest.ApplyBatch(t, b, noopAt(e))
	return res
}

func stateHash(t *testing.T, f *fsm.FSM) map[string]string {
	t.Helper()
	h, err := f.StateHash()
	require.NoError(t, err)
	return h
}

// auditEvents returns every audit event in sequence order.
func auditEvents(t *testing.T, f *fsm.FSM) []fsm.AuditEvent {
	t.Helper()
	var out []fsm.AuditEvent
	for page := 1; ; page++ {
		l, err := f.AuditEvents(fsm.AuditFilter{}, fsm.Page{Page: page, PerPage: fsm.MaxPerPage})
		require.NoError(t, err)
		out = append(out, l.Items...)
		if len(l.Items) < fsm.MaxPerPage {
			require.Len(t, out, l.Total)
			return out
		}
	}
}

func at(d time.Duration) time.Time { return fsmtest.T0.Add(d) }

func ptr[T any](v T) *T { return &v }

// noopAt is a raft no-op with e's index and term.
func noopAt(e *raft.Log) *raft.Log {
	return &raft.Log{Index: e.Index, Term: e.Term, Type: raft.LogNoop}
}

// scanned returns the ids of the certificates the renewal check reads up to
// before, in its order.
func scanned(t *testing.T, f *fsm.FSM, before time.Time) []string {
	t.Helper()
	var ids []string
	require.NoError(t, f.CertificatesInRenewalScan(before, func(c *fsm.Certificate) bool {
		ids = append(ids, c.ID)
		return true
	}))
	return ids
}
