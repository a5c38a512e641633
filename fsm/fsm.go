package fsm

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	bolt "go.etcd.io/bbolt"
)

// Options tune how the bbolt file is opened and how the audit chain is kept.
type Options struct {
	// NoSync skips fsync on commit. Only for tests and benchmarks of the
	// code path: a crash can then lose or corrupt applied state.
	NoSync bool
	// AuditKey keys the audit chain: each event Apply writes is linked with
	// an HMAC-SHA256 under it (Chain "hmac-sha256"), and VerifyAudit checks
	// keyed links with it. Every node of a cluster must hold the same key
	// (certctl derives it from the KEK), or their chains differ. Empty: the
	// FSM writes plain SHA-256 links, which anyone with the file can
	// recompute, and VerifyAudit reports a keyed link as one it cannot
	// check; for tests and tools. At least 32 bytes when set; Open copies
	// it, and it is never written anywhere.
	AuditKey []byte
}

// minAuditKey is the shortest audit key Open accepts.
const minAuditKey = 32

// FSM is certctl's raft.BatchingFSM on one bbolt file. Its state survives a
// restart, so raft is configured not to restore a snapshot on start; entries at
// or below the stored applied index are skipped when raft replays its log.
//
// Apply, ApplyBatch and Restore are called by raft from one goroutine; queries
// and Snapshot may run concurrently with them.
type FSM struct {
	path string
	opts Options

	mu sync.RWMutex // held for reading around every use of db; Restore swaps db under the write lock
	db *bolt.DB
	// retired counts files replaced by Restore still closing once their
	// last readers are done.
	retired sync.WaitGroup

	certMarks pageMarks

	// strict makes a handler that breaks its contract panic instead of
	// being contained (runHandler); Open sets it in test builds.
	strict bool
	// decode parses a raft entry: DecodeCommand, but in tests.
	decode func([]byte) (*Command, Payload, error)

	applied atomic.Uint64
	// migratedFrom is the schema version the file had before the last
	// Open or Restore migrated it; 0 when neither did.
	migratedFrom atomic.Uint64
	// jobsQueued, when set, is called after a commit that created jobs.
	jobsQueued atomic.Pointer[func()]
	// rulesChanged, when set, is called after a commit that changed the
	// policy rules (and so started a sweep).
	rulesChanged atomic.Pointer[func()]
	waitMu       sync.Mutex
	waitCh       chan struct{} // closed and replaced each time applied advances
}

var _ raft.BatchingFSM = (*FSM)(nil)

// Open opens or creates the state file at path. A file of an older stored
// schema is migrated to this binary's (see Migrated); one of a newer schema
// is refused with a *SchemaError, unchanged.
func Open(path string, opts Options) (*FSM, error) {
	if n := len(opts.AuditKey); n > 0 && n < minAuditKey {
		return nil, fmt.Errorf("fsm: Options.AuditKey is %d bytes: give at least %d (or none)", n, minAuditKey)
	}
	opts.AuditKey = bytes.Clone(opts.AuditKey)
	f := &FSM{path: path, opts: opts, waitCh: make(chan struct{}), certMarks: pageMarks{count: -1},
		strict: testing.Testing(), decode: DecodeCommand}
	db, err := f.openDB(path, false)
	if err != nil {
		return nil, err
	}
	f.db = db
	if err := f.loadApplied(); err != nil {
		db.Close()
		return nil, err
	}
	return f, nil
}

func (f *FSM) openDB(path string, readOnly bool) (*bolt.DB, error) {
	db, err := bolt.Open(path, 0o600, &bolt.Options{
		Timeout:        2 * time.Second,
		NoSync:         f.opts.NoSync,
		ReadOnly:       readOnly,
		NoFreelistSync: true,
		FreelistType:   bolt.FreelistMapType,
	})
	if err != nil {
		if errors.Is(err, bolt.ErrTimeout) {
			return nil, fmt.Errorf("fsm: %s is locked by another process: is another certctl running on this data dir?", path)
		}
		return nil, fmt.Errorf("fsm: open %s: %w", path, err)
	}
	if readOnly {
		return db, nil
	}
	var from uint64
	err = db.Update(func(tx *bolt.Tx) (err error) {
		from, err = prepareSchema(tx, path)
		return err
	})
	if err != nil {
		db.Close()
		var se *SchemaError
		if errors.As(err, &se) {
			return nil, fmt.Errorf("fsm: open: %w", se)
		}
		return nil, fmt.Errorf("fsm: prepare %s: %w", path, err)
	}
	if from != schemaVersion {
		f.migratedFrom.Store(from)
	}
	return db, nil
}

func (f *FSM) loadApplied() error {
	return f.db.View(func(tx *bolt.Tx) error {
		f.applied.Store(readU64(tx.Bucket(bucketMeta).Get(metaAppliedIndex)))
		return nil
	})
}

// Close closes the state file. The FSM must not be used afterwards.
func (f *FSM) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	defer f.retired.Wait()
	if f.db == nil {
		return nil
	}
	err := f.db.Close()
	f.db = nil
	clear(f.opts.AuditKey)
	return err
}

// Migrated reports the stored-schema versions of the last migration Open or
// Restore ran on the state file: from the file's version to this binary's.
// ok is false when the file needed none.
func (f *FSM) Migrated() (from, to uint64, ok bool) {
	from = f.migratedFrom.Load()
	return from, schemaVersion, from != 0
}

// SchemaVersion is the stored-schema version this binary reads and writes.
func SchemaVersion() uint64 { return schemaVersion }

// AppliedIndex is the index of the last raft entry reflected in the state.
func (f *FSM) AppliedIndex() uint64 { return f.applied.Load() }

// WaitApplied blocks until the state reflects raft index idx or ctx ends.
func (f *FSM) WaitApplied(ctx context.Context, idx uint64) error {
	for {
		f.waitMu.Lock()
		ch := f.waitCh
		f.waitMu.Unlock()
		if f.applied.Load() >= idx {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("fsm: waiting for index %d (applied %d): %w", idx, f.applied.Load(), ctx.Err())
		}
	}
}

func (f *FSM) setApplied(idx uint64) {
	f.applied.Store(idx)
	f.waitMu.Lock()
	close(f.waitCh)
	f.waitCh = make(chan struct{})
	f.waitMu.Unlock()
}

// Apply applies one entry; raft calls ApplyBatch instead, this is for callers
// that hold a single entry.
func (f *FSM) Apply(l *raft.Log) any {
	return f.ApplyBatch([]*raft.Log{l})[0]
}

// ApplyBatch applies entries in one bbolt transaction, so a batch costs one
// commit. Each element of the result is an *ApplyResult. A failed commit
// panics: this replica's state can no longer be trusted.
//
// A command's handler must fail before its first write, since the batch's
// transaction cannot take back one command's writes. One that fails after
// writing (a bug) panics in a test build; otherwise the whole transaction
// is rolled back and the batch applied again with that command rejected
// with its error, unrun: every replica ends as if the handler had failed
// first thing, however the entries were batched.
func (f *FSM) ApplyBatch(logs []*raft.Log) []any {
	f.mu.RLock()
	defer f.mu.RUnlock()
	// refused holds the entries whose handler failed after writing, with
	// their error; each redo adds one, so there are at most len(logs) redos.
	refused := map[uint64]error{}
	for {
		results, last, applied, redo := f.applyLogs(logs, refused)
		if redo {
			continue
		}
		if last != nil {
			f.setApplied(last.Index)
		}
		queued := applied[CommandCreateJobs] || applied[CommandRequestRenewal] || applied[CommandRequestDeployment]
		if fn := f.jobsQueued.Load(); queued && fn != nil {
			(*fn)()
		}
		if fn := f.rulesChanged.Load(); (applied[CommandCreatePolicyRule] || applied[CommandUpdatePolicyRule]) && fn != nil {
			(*fn)()
		}
		return results
	}
}

// errRedo rolls back a batch to apply it again (see ApplyBatch).
var errRedo = errors.New("fsm: a handler failed after writing; batch applied again")

// applyLogs runs one transaction over logs; applied holds the types of the
// commands that succeeded. redo reports that it was rolled back because a
// handler failed after writing; that entry is then in refused.
func (f *FSM) applyLogs(logs []*raft.Log, refused map[uint64]error) (results []any, last *raft.Log, applied map[CommandType]bool, redo bool) {
	results = make([]any, len(logs))
	applied = map[CommandType]bool{}
	err := f.db.Update(func(tx *bolt.Tx) error {
		meta := tx.Bucket(bucketMeta)
		done := readU64(meta.Get(metaAppliedIndex))
		for i, l := range logs {
			if l.Index <= done {
				results[i] = &ApplyResult{Err: statef("", "", "entry %d already applied", l.Index)}
				continue
			}
			last = l
			if l.Type != raft.LogCommand {
				results[i] = &ApplyResult{}
				continue
			}
			r, typ, dirty := f.applyEntry(tx, l, refused[l.Index])
			if dirty {
				refused[l.Index] = r.Err
				return errRedo
			}
			results[i] = r
			if r.Err == nil {
				applied[typ] = true
			}
		}
		if last == nil {
			return nil
		}
		if err := meta.Put(metaAppliedIndex, u64(last.Index)); err != nil {
			return err
		}
		if err := meta.Put(metaAppliedTerm, u64(last.Term)); err != nil {
			return err
		}
		return pruneRequests(tx, last.Index)
	})
	if errors.Is(err, errRedo) {
		return nil, nil, nil, true
	}
	if err != nil {
		panic(fmt.Sprintf("fsm: commit of entries %d..%d failed: %v", logs[0].Index, logs[len(logs)-1].Index, err))
	}
	return results, last, applied, false
}

// OnJobsQueued makes fn be called after each commit that created jobs, on
// every replica: the leader's job processor uses it to start on a renewal
// asked for through any node at once. fn must not block.
func (f *FSM) OnJobsQueued(fn func()) { f.jobsQueued.Store(&fn) }

// OnRulesChanged makes fn be called after each commit that created or
// changed a policy rule, on every replica: the leader's scheduler uses it to
// start re-evaluating the certificates at once (NextPolicyBatch). fn must
// not block.
func (f *FSM) OnRulesChanged(fn func()) { f.rulesChanged.Store(&fn) }

// applyEntry decodes and applies one command inside tx. refused, when set,
// is the error its handler failed with after writing in an earlier run of
// the batch: the command is rejected with it, unrun. dirty reports a
// handler that failed after writing now (the caller rolls back and redoes).
// Storage failures (which only a broken file produces) panic via must or
// the commit in ApplyBatch.
func (f *FSM) applyEntry(tx *bolt.Tx, l *raft.Log, refused error) (r *ApplyResult, typ CommandType, dirty bool) {
	cmd, p, err := f.decode(l.Data)
	if err != nil {
		return &ApplyResult{Err: err}, 0, false
	}
	if cmd.RequestID != "" {
		if prev, ok := lookupRequest(tx, cmd.RequestID); ok {
			return &ApplyResult{Err: prev}, cmd.Type, false
		}
	}
	var value any
	if refused != nil {
		err = refused
	} else {
		t := &txn{tx: tx, index: l.Index, cmd: cmd, auditKey: f.opts.AuditKey}
		value, err = runHandler(t, p, f.strict)
		if err != nil && t.wrote {
			return &ApplyResult{Err: err}, cmd.Type, true
		}
	}
	if cmd.RequestID != "" {
		recordRequest(tx, cmd.RequestID, l.Index, err)
	}
	return &ApplyResult{Value: value, Err: err}, cmd.Type, false
}

// runHandler runs p's handler in t and holds it to its contract: any error
// is an *Error, returned before the first write. In strict mode (test
// builds) a breach panics, naming the entry. Otherwise an error of another
// type becomes CodeInternal with its message, the same on every replica,
// and the caller undoes the writes of a handler that failed after writing.
func runHandler(t *txn, p Payload, strict bool) (any, error) {
	value, err := p.apply(t)
	if err == nil {
		return value, nil
	}
	var e *Error
	if !errors.As(err, &e) {
		if strict {
			panic(fmt.Sprintf("fsm: entry %d (%s): the handler returned %T, not an *fsm.Error: %v", t.index, t.cmd.Type, err, err))
		}
		err = &Error{Code: CodeInternal, Message: fmt.Sprintf("%s could not be applied: %v", t.cmd.Type, err)}
	}
	if t.wrote && strict {
		panic(fmt.Sprintf("fsm: entry %d (%s): the handler failed after its first write: %v", t.index, t.cmd.Type, err))
	}
	return value, err
}

// requestsKept is how many recent request ids are remembered for deduplication:
// enough for any client retry after a leadership change, small enough to bound.
const requestsKept = 50_000

type storedRequest struct {
	Index uint64 `json:"index"`
	Err   *Error `json:"err,omitempty"`
}

func lookupRequest(tx *bolt.Tx, id string) (error, bool) {
	v := tx.Bucket(bucketRequests).Get([]byte(id))
	if v == nil {
		return nil, false
	}
	var r storedRequest
	if json.Unmarshal(v, &r) != nil || r.Err == nil {
		return nil, true
	}
	return r.Err, true
}

func recordRequest(tx *bolt.Tx, id string, index uint64, err error) {
	r := storedRequest{Index: index}
	var e *Error
	if errors.As(err, &e) {
		r.Err = e
	}
	v, _ := json.Marshal(r)
	must(tx.Bucket(bucketRequests).Put([]byte(id), v))
	must(tx.Bucket(bucketReqByIdx).Put(append(u64(index), id...), nil))
}

// pruneRequests forgets request ids older than requestsKept entries, at most
// a bounded number per batch so a commit never balloons.
func pruneRequests(tx *bolt.Tx, index uint64) error {
	if index <= requestsKept {
		return nil
	}
	cutoff := u64(index - requestsKept)
	byIdx := tx.Bucket(bucketReqByIdx)
	reqs := tx.Bucket(bucketRequests)
	var old [][]byte
	c := byIdx.Cursor()
	for k, _ := c.First(); k != nil && string(k[:8]) < string(cutoff) && len(old) < 1024; k, _ = c.Next() {
		old = append(old, k)
	}
	for _, k := range old {
		if err := reqs.Delete(k[8:]); err != nil {
			return err
		}
		if err := byIdx.Delete(k); err != nil {
			return err
		}
	}
	return nil
}

// must turns a bbolt write error into a panic. bbolt writes fail only for a
// closed or read-only transaction or a key too large, which the validation of
// every command rules out; the panic surfaces as a failed commit.
func must(err error) {
	if err != nil {
		panic(fmt.Sprintf("fsm: write: %v", err))
	}
}

// view runs fn in a read transaction of the current file.
func (f *FSM) view(fn func(tx *bolt.Tx) error) error {
	f.mu.RLock()
	defer f.mu.RUnlock()
	if f.db == nil {
		return errors.New("fsm: closed")
	}
	return f.db.View(fn)
}

// Path is the file the state lives in.
func (f *FSM) Path() string { return f.path }

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
