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
	// wrote is set by the command's first write (through bucket): from
	// then on the handler may no longer fail (see runHandler).
	wrote bool
}

// now is the command's time: the only clock Apply knows.
func (t *txn) now() time.Time { return t.cmd.Time }

// bucket returns the named bucket of the transaction. A command writes only
// through it, so the transaction knows when the command's first write
// happened; t.tx is for reading.
func (t *txn) bucket(name []byte) txBucket { return txBucket{b: t.tx.Bucket(name), t: t} }

// txBucket is a bucket of a command's transaction that notes each write on
// the txn. Cursors it hands out are for reading.
type txBucket struct {
	b *bolt.Bucket
	t *txn
}

func (b txBucket) Get(key []byte) []byte { return b.b.Get(key) }
func (b txBucket) Cursor() *bolt.Cursor  { return b.b.Cursor() }

// Put writes key; the command has written from now on.
func (b txBucket) Put(key, value []byte) error {
	b.t.wrote = true
	return b.b.Put(key, value)
}

// Delete removes key; the command has written from now on.
func (b txBucket) Delete(key []byte) error {
	b.t.wrote = true
	return b.b.Delete(key)
}

// getter is what reading a record needs: a *bolt.Bucket or a txBucket.
type getter interface{ Get(key []byte) []byte }

// getJSON decodes the record at key into v and reports whether it exists.
func getJSON(b getter, key []byte, v any) (bool, error) {
	raw := b.Get(key)
	if raw == nil {
		return false, nil
	}
	if err := unmarshalStored(raw, v); err != nil {
		return true, &Error{Code: CodeInternal, Message: "stored record " + string(key) + " is unreadable: " + err.Error()}
	}
	return true, nil
}

func putJSON(b txBucket, key []byte, v any) {
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
func hasKey(b interface{ Cursor() *bolt.Cursor }, key []byte) bool {
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
