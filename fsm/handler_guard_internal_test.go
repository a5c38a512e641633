package fsm

import (
	"encoding/json"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	bolt "go.etcd.io/bbolt"
)

// commandMisbehaving is a type no real command has; the tests below decode
// it to misbehaving, a handler that breaks its contract on purpose.
const commandMisbehaving CommandType = 65000

type misbehaving struct {
	// Mode is "write then fail" (writes a counter, then a typed refusal) or
	// "untyped" (fails with a plain error before writing).
	Mode string `json:"mode"`
}

func (misbehaving) CommandType() CommandType { return commandMisbehaving }
func (*misbehaving) Validate() error         { return nil }
func (p *misbehaving) apply(t *txn) (any, error) {
	switch p.Mode {
	case "write then fail":
		t.addCount(1, "misbehaving")
		return nil, conflictf("team", "team-x", "refused after writing")
	case "untyped":
		return nil, errors.New("plain failure")
	}
	return nil, nil
}

// guardFSM opens an FSM that decodes commandMisbehaving, strict or not.
func guardFSM(t *testing.T, strict bool) *FSM {
	t.Helper()
	f, err := Open(filepath.Join(t.TempDir(), "state.db"), Options{NoSync: true})
	require.NoError(t, err)
	t.Cleanup(func() { f.Close() })
	f.strict = strict
	f.decode = func(data []byte) (*Command, Payload, error) {
		c, p, err := DecodeCommand(data)
		if err != nil && c != nil && c.Type == commandMisbehaving {
			p = &misbehaving{}
			if err := json.Unmarshal(c.Payload, p); err != nil {
				return c, nil, err
			}
			return c, p, nil
		}
		return c, p, err
	}
	return f
}

func guardEntry(t *testing.T, index uint64, requestID string, p Payload) *raft.Log {
	t.Helper()
	cmd, err := NewCommand(Meta{Time: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), Actor: "tester", RequestID: requestID}, p)
	require.NoError(t, err)
	data, err := cmd.Encode()
	require.NoError(t, err)
	return &raft.Log{Index: index, Term: 1, Type: raft.LogCommand, Data: data}
}

func guardHash(t *testing.T, f *FSM) map[string]string {
	t.Helper()
	h, err := f.StateHash()
	require.NoError(t, err)
	return h
}

func results(out []any) []*ApplyResult {
	rs := make([]*ApplyResult, len(out))
	for i, r := range out {
		rs[i] = r.(*ApplyResult)
	}
	return rs
}

// TestApply_ErrorAfterWriteUndoneInProduction: outside a test build, a
// handler that fails after writing is refused with its error and its writes
// are undone, while the commands batched with it apply: the state is the one
// a raft no-op in its place gives, and a retry of its request id answers
// the same refusal.
func TestApply_ErrorAfterWriteUndoneInProduction(t *testing.T) {
	a, b := guardFSM(t, false), guardFSM(t, false)
	first := guardEntry(t, 1, "", &CreateTeam{Team: Team{ID: "team-a", Name: "A"}})
	bad := guardEntry(t, 2, "", &misbehaving{Mode: "write then fail"})
	last := guardEntry(t, 3, "", &CreateTeam{Team: Team{ID: "team-b", Name: "B"}})

	res := results(a.ApplyBatch([]*raft.Log{first, bad, last}))
	b.ApplyBatch([]*raft.Log{first, {Index: 2, Term: 1, Type: raft.LogNoop}, last})

	require.NoError(t, res[0].Err)
	require.ErrorIs(t, res[1].Err, ErrConflict)
	assert.Contains(t, res[1].Err.Error(), "refused after writing")
	require.NoError(t, res[2].Err)
	assert.Equal(t, guardHash(t, b), guardHash(t, a), "the misbehaving command's write is undone")
	assert.Equal(t, uint64(3), a.AppliedIndex())

	// With a request id the refusal is remembered like any other.
	retried := guardEntry(t, 4, "req-1", &misbehaving{Mode: "write then fail"})
	r := results(a.ApplyBatch([]*raft.Log{retried}))[0]
	require.ErrorIs(t, r.Err, ErrConflict)
	again := guardEntry(t, 5, "req-1", &misbehaving{Mode: "write then fail"})
	r = results(a.ApplyBatch([]*raft.Log{again}))[0]
	assert.Equal(t, res[1].Err.Error(), r.Err.Error())
	require.NoError(t, a.view(func(tx *bolt.Tx) error {
		assert.Zero(t, readCount(tx, "misbehaving"))
		return nil
	}))
}

// TestApply_ErrorAfterWritePanicsInTests: in a test build the same handler
// panics, naming the entry, and the batch leaves nothing behind.
func TestApply_ErrorAfterWritePanicsInTests(t *testing.T) {
	require.True(t, testing.Testing())
	f := guardFSM(t, true)
	f2, err := Open(filepath.Join(t.TempDir(), "s.db"), Options{NoSync: true})
	require.NoError(t, err)
	defer f2.Close()
	assert.True(t, f2.strict, "Open makes an FSM strict in a test build")

	before := guardHash(t, f)
	assert.PanicsWithValue(t, "fsm: entry 1 (CommandType(65000)): the handler failed after its first write: fsm: refused after writing", func() {
		f.ApplyBatch([]*raft.Log{
			guardEntry(t, 1, "", &misbehaving{Mode: "write then fail"}),
		})
	})
	assert.Equal(t, before, guardHash(t, f), "the transaction was rolled back")
	assert.Zero(t, f.AppliedIndex())
	r := results(f.ApplyBatch([]*raft.Log{guardEntry(t, 1, "", &CreateTeam{Team: Team{ID: "team-a", Name: "A"}})}))[0]
	assert.NoError(t, r.Err, "the FSM is still usable")
}

// TestApply_UntypedError: a handler's plain error becomes CodeInternal with
// its message outside a test build (the same on every replica, nothing
// written), and panics in one.
func TestApply_UntypedError(t *testing.T) {
	a, b := guardFSM(t, false), guardFSM(t, false)
	e := guardEntry(t, 1, "", &misbehaving{Mode: "untyped"})
	r := results(a.ApplyBatch([]*raft.Log{e}))[0]
	b.ApplyBatch([]*raft.Log{{Index: 1, Term: 1, Type: raft.LogNoop}})
	var fe *Error
	require.True(t, errors.As(r.Err, &fe), "%T", r.Err)
	assert.Equal(t, &Error{Code: CodeInternal, Message: "CommandType(65000) could not be applied: plain failure"}, fe)
	assert.Equal(t, guardHash(t, b), guardHash(t, a))

	strict := guardFSM(t, true)
	assert.PanicsWithValue(t, "fsm: entry 1 (CommandType(65000)): the handler returned *errors.errorString, not an *fsm.Error: plain failure", func() {
		strict.ApplyBatch([]*raft.Log{e})
	})
}
