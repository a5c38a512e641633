package fsm

import (
	"bytes"
	"time"

	bolt "go.etcd.io/bbolt"
)

// txn is the context of one command being applied: the shared bbolt
// transaction of the batch, the entry's index and the command's envelope.
type txn struct {
	tx    *bolt.Tx
	index uint64
	cmd   *Command
	// auditKey keys the links of the audit events the command writes; empty
	// writes plain SHA-256 links (see Options.AuditKey).
	auditKey []byte
}

// now is the command's time: the only clock Apply knows.
func (t *txn) now() time.Time { return t.cmd.Time }

func (t *txn) bucket(name []byte) *bolt.Bucket { return t.tx.Bucket(name) }

// getJSON decodes the record at key into v and reports whether it exists.
func getJSON(b *bolt.Bucket, key []byte, v any) (bool, error) {
	raw := b.Get(key)
	if raw == nil {
		return false, nil
	}
	if err := unmarshalStored(raw, v); err != nil {
		return true, &Error{Code: CodeInternal, Message: "stored record " + string(key) + " is unreadable: " + err.Error()}
	}
	return true, nil
}

func putJSON(b *bolt.Bucket, key []byte, v any) {
	raw, err := marshalStored(v)
	must(err)
	must(b.Put(key, raw))
}

// hasKey reports whether key is in b. Index and mapping entries have empty
// values, and inside a write transaction bbolt's Get returns nil for an empty
// value written earlier in that same transaction, as for a missing key, while
// after the commit it returns an empty slice: a command would see the writes
// of an earlier command of its batch differently than a later batch does.
// A cursor sees the key either way.
func hasKey(b *bolt.Bucket, key []byte) bool {
	k, _ := b.Cursor().Seek(key)
	return bytes.Equal(k, key)
}

// exists reports whether id is a key of the bucket.
func (t *txn) exists(bucket []byte, id string) bool {
	return t.tx.Bucket(bucket).Get([]byte(id)) != nil
}

// addCount adds delta to a counter; counters keep list totals exact without scans.
func (t *txn) addCount(delta int64, parts ...string) {
	b := t.bucket(bucketCounts)
	k := countKey(parts...)
	v := int64(readU64(b.Get(k))) + delta
	if v <= 0 {
		must(b.Delete(k))
		return
	}
	must(b.Put(k, u64(uint64(v))))
}

func readCount(tx *bolt.Tx, parts ...string) int {
	return int(readU64(tx.Bucket(bucketCounts).Get(countKey(parts...))))
}

// nameOwner returns the id holding name in table, or "".
func (t *txn) nameOwner(table []byte, name string) string {
	return string(t.bucket(bucketNames).Get(nameKey(table, name)))
}

// checkNameFree fails with a conflict if name is held by another id.
func (t *txn) checkNameFree(table []byte, resource, name, id string) error {
	if owner := t.nameOwner(table, name); owner != "" && owner != id {
		return conflictf(resource, id, "%s name %q is already used by %s", resource, name, owner)
	}
	return nil
}

func (t *txn) setName(table []byte, oldName, newName, id string) {
	b := t.bucket(bucketNames)
	if oldName != "" && oldName != newName {
		must(b.Delete(nameKey(table, oldName)))
	}
	if newName != "" {
		must(b.Put(nameKey(table, newName), []byte(id)))
	}
}

func (t *txn) requireExists(bucket []byte, resource, field, id string) error {
	if id == "" {
		return nil
	}
	if !t.exists(bucket, id) {
		e := notFound(resource, id)
		e.Field = field
		return e
	}
	return nil
}
