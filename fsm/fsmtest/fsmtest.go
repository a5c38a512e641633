package fsmtest

import (
	"bytes"
	"path/filepath"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	"github.com/stretchr/testify/require"

	"github.com/certctl/certctl/api/wire"
	"github.com/certctl/certctl/fsm"
)

// T0 is the time of the first command of every Log.
var T0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

// Open opens an FSM on a new file in t.TempDir(), without fsync (a test never
// survives a crash), and closes it when the test ends.
func Open(t testing.TB) *fsm.FSM {
	t.Helper()
	return OpenPath(t, filepath.Join(t.TempDir(), "state.db"), fsm.Options{NoSync: true})
}

// AuditKey returns the audit key of tests that keep a keyed chain, as every
// node of a real cluster does: 32 fixed bytes, a fresh slice each call.
func AuditKey() []byte { return bytes.Repeat([]byte{0xa5}, 32) }

// OpenKeyed is Open with the audit chain keyed by AuditKey.
func OpenKeyed(t testing.TB) *fsm.FSM {
	t.Helper()
	return OpenPath(t, filepath.Join(t.TempDir(), "state.db"), fsm.Options{NoSync: true, AuditKey: AuditKey()})
}

// OpenPath opens the FSM at path with opts and closes it when the test ends;
// closing it earlier is allowed.
func OpenPath(t testing.TB, path string, opts fsm.Options) *fsm.FSM {
	t.Helper()
	f, err := fsm.Open(path, opts)
	require.NoError(t, err)
	t.Cleanup(func() { _ = f.Close() })
	return f
}

// Log builds the raft entries of a test: each entry gets the next index, the
// current term and a command stamped with Now. Apply also hands each entry to
// every FSM the Log was created with, so several replicas can be fed alike.
// A Log is not safe for concurrent use.
type Log struct {
	t    testing.TB
	fsms []*fsm.FSM

	Index     uint64         // index of the last entry built
	Term      uint64         // term of the next entry; 1 by default
	Now       time.Time      // time of the next command; T0 by default
	Actor     string         // actor of the next command; "tester" by default
	ActorType wire.ActorType // actor type of the next command; fsm.ActorUser by default
}

// NewLog returns a Log that applies its entries to fsms (possibly none).
func NewLog(t testing.TB, fsms ...*fsm.FSM) *Log {
	return &Log{t: t, fsms: fsms, Term: 1, Now: T0, Actor: "tester", ActorType: fsm.ActorUser}
}

// FSMs returns the FSMs the Log applies its entries to.
func (l *Log) FSMs() []*fsm.FSM { return l.fsms }

// Advance moves the time of the following commands forward by d.
func (l *Log) Advance(d time.Duration) { l.Now = l.Now.Add(d) }

// Meta is the envelope the next command gets unless one is given.
func (l *Log) Meta() fsm.Meta {
	return fsm.Meta{Time: l.Now, Actor: l.Actor, ActorType: l.ActorType}
}

// Encode validates p and returns the bytes of its command with meta m.
func Encode(t testing.TB, m fsm.Meta, p fsm.Payload) []byte {
	t.Helper()
	cmd, err := fsm.NewCommand(m, p)
	require.NoError(t, err, "NewCommand(%s)", p.CommandType())
	data, err := cmd.Encode()
	require.NoError(t, err)
	return data
}

// Entry builds the next entry for p without applying it.
func (l *Log) Entry(p fsm.Payload) *raft.Log {
	l.t.Helper()
	return l.EntryWith(l.Meta(), p)
}

// EntryWith builds the next entry for p with meta m without applying it.
func (l *Log) EntryWith(m fsm.Meta, p fsm.Payload) *raft.Log {
	l.t.Helper()
	return l.RawEntry(Encode(l.t, m, p))
}

// RawEntry builds the next command entry with data as it is, valid or not.
func (l *Log) RawEntry(data []byte) *raft.Log {
	l.Index++
	return &raft.Log{Index: l.Index, Term: l.Term, Type: raft.LogCommand, Data: data}
}

// Noop builds the next entry as a raft no-op: it advances the applied index
// and changes nothing else.
func (l *Log) Noop() *raft.Log {
	l.Index++
	return &raft.Log{Index: l.Index, Term: l.Term, Type: raft.LogNoop}
}

// Apply builds the next entry for p, applies it to every FSM of the Log and
// returns the first FSM's result.
func (l *Log) Apply(p fsm.Payload) *fsm.ApplyResult {
	l.t.Helper()
	return l.applyAll(l.Entry(p))
}

// ApplyWith is Apply with meta m, for a request id or another actor.
func (l *Log) ApplyWith(m fsm.Meta, p fsm.Payload) *fsm.ApplyResult {
	l.t.Helper()
	return l.applyAll(l.EntryWith(m, p))
}

// ApplyRaw applies the next entry holding data as it is.
func (l *Log) ApplyRaw(data []byte) *fsm.ApplyResult {
	l.t.Helper()
	return l.applyAll(l.RawEntry(data))
}

// Must applies p and fails the test unless it succeeds; it returns the value.
func (l *Log) Must(p fsm.Payload) any {
	l.t.Helper()
	res := l.Apply(p)
	require.NoError(l.t, res.Err, "apply %s", p.CommandType())
	return res.Value
}

// Reevaluate applies ReevaluatePolicies batches of size n, built from the
// first FSM as the leader's scheduler builds them, until the sweep a rule
// change started is done, and returns how many batches it took.
func (l *Log) Reevaluate(n int) int {
	l.t.Helper()
	batches := 0
	for {
		b, err := l.fsms[0].NextPolicyBatch(n)
		require.NoError(l.t, err)
		if b == nil {
			return batches
		}
		l.Must(b)
		batches++
		require.Less(l.t, batches, 1_000_000, "the sweep never ends")
	}
}

func (l *Log) applyAll(e *raft.Log) *fsm.ApplyResult {
	l.t.Helper()
	var first *fsm.ApplyResult
	for i, f := range l.fsms {
		res := ApplyBatch(l.t, f, e)[0]
		if i == 0 {
			first = res
		}
	}
	return first
}

// ApplyBatch applies entries to f in one batch and returns the typed results.
func ApplyBatch(t testing.TB, f *fsm.FSM, entries ...*raft.Log) []*fsm.ApplyResult {
	t.Helper()
	raw := f.ApplyBatch(entries)
	require.Len(t, raw, len(entries))
	out := make([]*fsm.ApplyResult, len(raw))
	for i, r := range raw {
		res, ok := r.(*fsm.ApplyResult)
		require.True(t, ok, "result %d is %T, not *fsm.ApplyResult", i, r)
		out[i] = res
	}
	return out
}

// Snapshot persists a snapshot of f and returns its bytes.
func Snapshot(t testing.TB, f *fsm.FSM) []byte {
	t.Helper()
	snap, err := f.Snapshot()
	require.NoError(t, err)
	defer snap.Release()
	sink := &Sink{}
	require.NoError(t, snap.Persist(sink))
	require.True(t, sink.Closed, "Persist did not close the sink")
	return sink.Bytes()
}

// Sink is a raft.SnapshotSink that keeps the snapshot in memory.
type Sink struct {
	bytes.Buffer
	Closed    bool
	Cancelled bool
}

var _ raft.SnapshotSink = (*Sink)(nil)

func (s *Sink) ID() string    { return "fsmtest" }
func (s *Sink) Close() error  { s.Closed = true; return nil }
func (s *Sink) Cancel() error { s.Cancelled = true; return nil }
