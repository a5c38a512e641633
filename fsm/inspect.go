package fsm

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	bolt "go.etcd.io/bbolt"
)

// StateSummary describes a state file as a backup header records it: where
// in the log it stands, which cluster it belongs to, how many records each
// table holds and the head of the audit chain, all read in one transaction.
type StateSummary struct {
	ClusterID     string
	AppliedIndex  uint64
	AppliedTerm   uint64
	SchemaVersion uint64
	// Counts holds the number of records of each table: the fourteen tables
	// and the other records the state keeps (members, API keys, revocations,
	// issuer material, server keys, join tokens, node certificate
	// revocations). Indexes and bookkeeping are not counted.
	Counts map[string]int
	// AuditSeq, AuditID and AuditHash name the last audit event (zero and
	// empty when there is none).
	AuditSeq  uint64
	AuditID   string
	AuditHash string
}

// RecordError is a record of a state file that does not decode as what its
// table holds.
type RecordError struct {
	Table string
	Key   string // printable: ids as they are, binary keys in hex
	Err   error
}

func (e *RecordError) Error() string {
	return fmt.Sprintf("table %s, key %s: record does not decode: %v", e.Table, e.Key, e.Err)
}

func (e *RecordError) Unwrap() error { return e.Err }

// recordDecoders decode one record of each counted table, in the bucket's
// order of allBuckets: the fourteen tables first.
var recordDecoders = []struct {
	bucket []byte
	decode func(k, v []byte) error
}{
	{bucketTeams, decodeJSON[Team]},
	{bucketOwners, decodeJSON[Owner]},
	{bucketRenewalPolicies, decodeJSON[RenewalPolicy]},
	{bucketIssuers, decodeJSON[Issuer]},
	{bucketAgents, decodeJSON[Agent]},
	{bucketCertificates, decodeJSON[Certificate]},
	{bucketTargets, decodeJSON[Target]},
	{bucketMappings, decodeEmpty},
	{bucketVersions, decodeJSON[CertificateVersion]},
	{bucketJobs, decodeJSON[Job]},
	{bucketPolicyRules, decodeJSON[PolicyRule]},
	{bucketViolations, decodeJSON[PolicyViolation]},
	{bucketAudit, decodeAudit},
	{bucketNotifications, decodeJSON[Notification]},
	{bucketMembers, decodeJSON[Member]},
	{bucketAPIKeys, decodeJSON[APIKey]},
	{bucketRevocations, decodeJSON[Revocation]},
	{bucketIssuerMaterial, decodeJSON[json.RawMessage]},
	{bucketServerKeys, decodeJSON[ServerKey]},
	{bucketJoinTokens, decodeJSON[JoinToken]},
	{bucketNodeCertRevoke, decodeJSON[NodeCertRevocation]},
	{bucketACMEChallenges, decodeJSON[ACMEChallenge]},
}

func decodeJSON[T any](_, v []byte) error {
	var rec T
	return unmarshalStored(v, &rec)
}

func decodeEmpty(_, v []byte) error {
	if len(v) != 0 {
		return fmt.Errorf("a mapping holds no value, this one holds %d bytes", len(v))
	}
	return nil
}

func decodeAudit(k, v []byte) error {
	if len(k) != 8 {
		return fmt.Errorf("an audit key is an 8-byte sequence number, this one is %d bytes", len(k))
	}
	var ev AuditEvent
	if err := json.Unmarshal(v, &ev); err != nil {
		return err
	}
	if ev.ID != auditID(readU64(k)) {
		return fmt.Errorf("event id %q does not match its sequence number %d", ev.ID, readU64(k))
	}
	return nil
}

// bookkeeping decoders: every value of counts is a uint64, every stored
// request a storedRequest.
var otherDecoders = map[string]func(k, v []byte) error{
	string(bucketCounts): func(_, v []byte) error {
		if len(v) != 8 {
			return fmt.Errorf("a count is 8 bytes, this one is %d", len(v))
		}
		return nil
	},
	string(bucketRequests): decodeJSON[storedRequest],
	string(bucketMeta):     decodeMeta,
}

func decodeMeta(k, v []byte) error {
	switch string(k) {
	case string(metaAppliedIndex), string(metaAppliedTerm), string(metaAuditSeq), string(metaSchema):
		if len(v) != 8 {
			return fmt.Errorf("%s is 8 bytes, this one is %d", k, len(v))
		}
	case string(metaClusterCA):
		return decodeJSON[ClusterCA](k, v)
	case string(metaPolicySweep):
		return decodeJSON[PolicySweep](k, v)
	}
	return nil
}

// InspectFile checks the state file at path as VerifyFile does and, in the
// same read-only transaction, decodes every record of every table as the
// type it holds, and summarises the file. A record that does not decode is a
// *RecordError naming its table and key; a damaged file is an error saying
// what is damaged; a newer stored schema is a *SchemaError. The file is never
// written.
func InspectFile(path string) (StateSummary, error) {
	var s StateSummary
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: time.Second})
	if err != nil {
		return s, fmt.Errorf("not a state file: %w", err)
	}
	defer db.Close()
	err = db.View(func(tx *bolt.Tx) error {
		if err := checkStructure(path, db, tx); err != nil {
			return err
		}
		decoders := map[string]func(k, v []byte) error{}
		for name, d := range otherDecoders {
			decoders[name] = d
		}
		s.Counts = map[string]int{}
		for _, d := range recordDecoders {
			decoders[string(d.bucket)] = d.decode
			s.Counts[string(d.bucket)] = 0
		}
		var recErr *RecordError
		err := walkFile(tx, func(bucket, k, v []byte) error {
			if k == nil {
				return nil
			}
			name := string(bucket)
			if n, ok := s.Counts[name]; ok {
				s.Counts[name] = n + 1
			}
			if d := decoders[name]; d != nil {
				if err := d(k, v); err != nil {
					recErr = &RecordError{Table: name, Key: printableKey(k), Err: err}
					return recErr
				}
			}
			return nil
		})
		if recErr != nil {
			return recErr
		}
		if err != nil {
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
		if err := checkSchema(tx, path); err != nil {
			return err
		}
		summarise(tx, &s)
		return nil
	})
	return s, err
}

// printableKey returns k as text when it is printable ASCII (NULs between
// parts shown as '/'), otherwise in hex.
func printableKey(k []byte) string {
	out := make([]byte, 0, len(k))
	for _, c := range k {
		switch {
		case c == sep:
			out = append(out, '/')
		case c < 0x20 || c > 0x7e:
			return fmt.Sprintf("%x", k)
		default:
			out = append(out, c)
		}
	}
	return string(out)
}

// summarise fills s (but Counts) from tx.
func summarise(tx *bolt.Tx, s *StateSummary) {
	meta := tx.Bucket(bucketMeta)
	s.ClusterID = string(meta.Get(metaClusterID))
	s.AppliedIndex = readU64(meta.Get(metaAppliedIndex))
	s.AppliedTerm = readU64(meta.Get(metaAppliedTerm))
	s.SchemaVersion = readU64(meta.Get(metaSchema))
	if b := tx.Bucket(bucketAudit); b != nil {
		if k, v := b.Cursor().Last(); k != nil {
			var ev struct {
				ID   string `json:"id"`
				Hash string `json:"hash"`
			}
			_ = json.Unmarshal(v, &ev)
			s.AuditSeq, s.AuditID, s.AuditHash = readU64(k), ev.ID, ev.Hash
		}
	}
}

// WriteState writes a consistent copy of the state file to w, as a raft
// snapshot's Persist does, and returns the summary of that copy, read in the
// same transaction. Writes go on meanwhile.
func (f *FSM) WriteState(w io.Writer) (StateSummary, error) {
	var s StateSummary
	f.mu.RLock()
	db := f.db
	if db == nil {
		f.mu.RUnlock()
		return s, errors.New("fsm: closed")
	}
	tx, err := db.Begin(false)
	f.mu.RUnlock()
	if err != nil {
		return s, fmt.Errorf("fsm: begin backup: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	s.Counts = map[string]int{}
	for _, d := range recordDecoders {
		if b := tx.Bucket(d.bucket); b != nil {
			s.Counts[string(d.bucket)] = b.Stats().KeyN
		} else {
			s.Counts[string(d.bucket)] = 0
		}
	}
	summarise(tx, &s)
	if _, err := tx.WriteTo(w); err != nil {
		return s, fmt.Errorf("fsm: write backup: %w", err)
	}
	return s, nil
}
