package fsm

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/hashicorp/raft"
	bolt "go.etcd.io/bbolt"
)

// snapshot streams a consistent view of the bbolt file: Snapshot opens a read
// transaction (cheap, on raft's FSM goroutine) and Persist copies the file
// through it while writes go on.
type snapshot struct {
	tx *bolt.Tx
}

// Snapshot captures the current state for raft.
func (f *FSM) Snapshot() (raft.FSMSnapshot, error) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	if f.db == nil {
		return nil, errors.New("fsm: closed")
	}
	tx, err := f.db.Begin(false)
	if err != nil {
		return nil, fmt.Errorf("fsm: begin snapshot: %w", err)
	}
	return &snapshot{tx: tx}, nil
}

func (s *snapshot) Persist(sink raft.SnapshotSink) error {
	w := bufio.NewWriterSize(sink, 1<<20)
	if _, err := s.tx.WriteTo(w); err != nil {
		sink.Cancel()
		return fmt.Errorf("fsm: write snapshot: %w", err)
	}
	if err := w.Flush(); err != nil {
		sink.Cancel()
		return fmt.Errorf("fsm: write snapshot: %w", err)
	}
	return sink.Close()
}

func (s *snapshot) Release() { _ = s.tx.Rollback() }

// Restore replaces the state with a snapshot. The snapshot is written to a
// temporary file, checked and copied record by record into a fresh file (see
// rebuildFile), and the copy is verified (it must pass bbolt's consistency
// check and hold every bucket of its schema version) and migrated to this
// binary's schema before it takes the place of the current file; a corrupt or
// truncated snapshot, or one of a newer schema (a *SchemaError), leaves the
// state untouched.
func (f *FSM) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	tmp, err := os.CreateTemp(filepath.Dir(f.path), filepath.Base(f.path)+".restore-*")
	if err != nil {
		return fmt.Errorf("fsm: restore: %w", err)
	}
	tmpPath := tmp.Name()
	defer os.Remove(tmpPath)
	if _, err := io.Copy(tmp, rc); err != nil {
		tmp.Close()
		return fmt.Errorf("fsm: restore: read snapshot: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("fsm: restore: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("fsm: restore: %w", err)
	}
	rebuilt := tmpPath + ".db"
	defer os.Remove(rebuilt)
	if err := rebuildFile(tmpPath, rebuilt); err != nil {
		return fmt.Errorf("fsm: restore refused, state left unchanged: %w", err)
	}
	if err := VerifyFile(rebuilt); err != nil {
		var se *SchemaError
		if errors.As(err, &se) {
			se.Path = "the snapshot"
		}
		return fmt.Errorf("fsm: restore refused, state left unchanged: %w", err)
	}
	// A snapshot of an older release is migrated like a data dir, before it
	// takes the state's place.
	from, err := migrateFile(rebuilt)
	if err != nil {
		return fmt.Errorf("fsm: restore refused, state left unchanged: %w", err)
	}

	// The new file takes the path while the old one stays open: its handle
	// keeps the old inode, so readers still in it (a snapshot being
	// persisted) finish undisturbed, and the old handle is closed once they
	// have. Waiting for them here could deadlock with raft, whose snapshot
	// goroutine may hold such a reader while raft waits on this Restore.
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := os.Rename(rebuilt, f.path); err != nil {
		return fmt.Errorf("fsm: restore: %w", err)
	}
	if d, err := os.Open(filepath.Dir(f.path)); err == nil {
		_ = d.Sync()
		d.Close()
	}
	db, err := f.openDB(f.path, false)
	if err != nil {
		return err
	}
	if old := f.db; old != nil {
		f.retired.Add(1)
		go func() { // waited for by Close
			defer f.retired.Done()
			old.Close()
		}()
	}
	f.db = db
	f.certMarks.reset()
	if from == schemaVersion {
		from = 0
	}
	f.migratedFrom.Store(from)
	var idx uint64
	_ = db.View(func(tx *bolt.Tx) error {
		idx = readU64(tx.Bucket(bucketMeta).Get(metaAppliedIndex))
		return nil
	})
	f.setApplied(idx)
	return nil
}

// VerifyFile checks that path is a complete certctl state file of a stored
// schema this binary reads (its own or an older one, which Open and Restore
// migrate; a newer one is a *SchemaError). Its pages are checked (see
// checkStructure) before bbolt's own consistency check runs.
func VerifyFile(path string) error {
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: time.Second})
	if err != nil {
		return fmt.Errorf("not a state file: %w", err)
	}
	defer db.Close()
	return db.View(func(tx *bolt.Tx) error {
		if err := checkStructure(path, db, tx); err != nil {
			return err
		}
		if err := walkFile(tx, nil); err != nil {
			return fmt.Errorf("state file is damaged: %w", err)
		}
		var damage error
		for err := range tx.Check() { // drained: Check's goroutine holds the tx
			if damage == nil {
				damage = err
			}
		}
		if damage != nil {
			return fmt.Errorf("state file is damaged: %w", damage)
		}
		return checkSchema(tx, path)
	})
}

// StateHash returns the SHA-256 (hex) of every bucket's keys and values, by
// bucket name. Two replicas that applied the same log have equal hashes.
func (f *FSM) StateHash() (map[string]string, error) {
	out := map[string]string{}
	err := f.view(func(tx *bolt.Tx) error {
		return tx.ForEach(func(name []byte, b *bolt.Bucket) error {
			h := sha256.New()
			err := b.ForEach(func(k, v []byte) error {
				fmt.Fprintf(h, "%d:%s%d:%s", len(k), k, len(v), v)
				return nil
			})
			out[string(name)] = hex.EncodeToString(h.Sum(nil))
			return err
		})
	})
	return out, err
}
