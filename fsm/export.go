package fsm

import (
	"bytes"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// ExportTables are the fourteen tables of the original's schema, parents
// before the tables that reference them: the order an export writes them in
// (and deletes from them in reverse).
var ExportTables = []string{
	"teams", "owners", "renewal_policies", "issuers", "agents", "managed_certificates",
	"deployment_targets", "certificate_target_mappings", "certificate_versions", "jobs",
	"policy_rules", "policy_violations", "audit_events", "notification_events",
}

// StateFile is a state file (or the body of a snapshot) opened read-only, for
// tools that read the whole state at the one raft index it was written at:
// every read goes through a single read transaction. It is not safe for
// concurrent use; Close releases it.
type StateFile struct {
	db *bolt.DB
	tx *bolt.Tx
}

// OpenStateFile opens the state file at path read-only. A newer stored schema
// is a *SchemaError; a file that is not a state file is an error saying so.
// The file is never written.
func OpenStateFile(path string) (*StateFile, error) {
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: time.Second})
	if err != nil {
		return nil, fmt.Errorf("fsm: %s is not a state file: %w", path, err)
	}
	tx, err := db.Begin(false)
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("fsm: read %s: %w", path, err)
	}
	if err := checkSchema(tx, path); err != nil {
		_ = tx.Rollback()
		db.Close()
		return nil, err
	}
	return &StateFile{db: db, tx: tx}, nil
}

// Close releases the file.
func (s *StateFile) Close() error {
	_ = s.tx.Rollback()
	return s.db.Close()
}

// Summary returns where in the log the file stands and which cluster it
// belongs to, with the number of records of each of the fourteen tables.
func (s *StateFile) Summary() StateSummary {
	var sum StateSummary
	summarise(s.tx, &sum)
	sum.Counts = map[string]int{}
	for _, t := range ExportTables {
		if b := s.tx.Bucket([]byte(t)); b != nil {
			sum.Counts[t] = b.Stats().KeyN
		}
	}
	return sum
}

// Scan calls fn with the key and stored bytes of every record of table (one
// of ExportTables), in key order, until fn returns an error. The slices are
// valid only during the call.
func (s *StateFile) Scan(table string, fn func(key, raw []byte) error) error {
	b := s.tx.Bucket([]byte(table))
	if b == nil {
		return fmt.Errorf("fsm: no table %q", table)
	}
	return b.ForEach(fn)
}

// Records returns an iterator over the records of table in key order, for
// walking two files side by side; nil when the file has no such table.
func (s *StateFile) Records(table string) *RecordIter {
	b := s.tx.Bucket([]byte(table))
	if b == nil {
		return nil
	}
	return &RecordIter{c: b.Cursor()}
}

// RecordIter walks the records of one table in key order. The zero value
// and nil are empty.
type RecordIter struct {
	c       *bolt.Cursor
	started bool
}

// Next returns the next record's key and stored bytes, or a nil key at the
// end. The slices are valid while the file is open.
func (it *RecordIter) Next() (key, raw []byte) {
	if it == nil || it.c == nil {
		return nil, nil
	}
	if !it.started {
		it.started = true
		key, raw = it.c.First()
	} else {
		key, raw = it.c.Next()
	}
	if key != nil && raw == nil {
		raw = []byte{}
	}
	return key, raw
}

// Get returns the stored bytes of the record of table at key, nil when there
// is none. The slice is valid while the file is open.
func (s *StateFile) Get(table string, key []byte) []byte {
	b := s.tx.Bucket([]byte(table))
	if b == nil {
		return nil
	}
	c := b.Cursor()
	if k, v := c.Seek(key); k != nil && bytes.Equal(k, key) {
		if v == nil {
			return []byte{}
		}
		return v
	}
	return nil
}

// DecodeRecord decodes a record of table (one of ExportTables) from its key
// and stored bytes into its domain type: *Team, *Owner, *RenewalPolicy,
// *Issuer, *Agent, *Certificate, *Target, *TargetMapping,
// *CertificateVersion, *Job, *PolicyRule, *PolicyViolation, *AuditEvent or
// *Notification.
func DecodeRecord(table string, key, raw []byte) (any, error) {
	var v any
	switch table {
	case "teams":
		v = new(Team)
	case "owners":
		v = new(Owner)
	case "renewal_policies":
		v = new(RenewalPolicy)
	case "issuers":
		v = new(Issuer)
	case "agents":
		v = new(Agent)
	case "managed_certificates":
		v = new(Certificate)
	case "deployment_targets":
		v = new(Target)
	case "certificate_target_mappings":
		i := bytes.IndexByte(key, sep)
		if i < 0 {
			return nil, fmt.Errorf("fsm: mapping key %q has no separator", key)
		}
		return &TargetMapping{CertificateID: string(key[:i]), TargetID: string(key[i+1:])}, nil
	case "certificate_versions":
		v = new(CertificateVersion)
	case "jobs":
		v = new(Job)
	case "policy_rules":
		v = new(PolicyRule)
	case "policy_violations":
		v = new(PolicyViolation)
	case "audit_events":
		v = new(AuditEvent)
	case "notification_events":
		v = new(Notification)
	default:
		return nil, fmt.Errorf("fsm: no table %q", table)
	}
	if err := unmarshalStored(raw, v); err != nil {
		return nil, &RecordError{Table: table, Key: printableKey(key), Err: err}
	}
	return v, nil
}

// MappingKey is the key of the mapping of certificate certID to target
// targetID in the certificate_target_mappings table.
func MappingKey(certID, targetID string) []byte { return compound(certID, targetID) }
