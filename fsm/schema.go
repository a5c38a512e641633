package fsm

import (
	"github.com/certctl/certctl/api/wire"

	"encoding/json"
	"errors"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// The stored schema: what the bytes of the state file mean. meta/schema_version
// names the version a file is written in; schemaVersion is the one this binary
// writes. A file or snapshot of an older version is brought up to it by the
// migrations below, all in the transaction that opens it, so a crash leaves it
// as it was; a newer one is refused (SchemaError). See DESIGN.md, "Stored
// schema".

// schemaVersion is the version of the stored schema this binary writes.
//
//  1. The first release: every record is its type's JSON, indexes as in keys.go.
//  2. idx_open_jobs_by_certificate: the jobs not finished, by certificate and
//     lifecycle slot; idx_renewal_scan and renewal_scan_ended: the certificates
//     the renewal check watches; certificates stored as certificateRecord (the
//     same bytes as 1).
//  3. counters of jobs by status and type (counts/jobs NUL status_type NUL
//     status NUL type), for the dashboard and /metrics; certificateRecord's
//     optional weak_key (no step: absent, false, is right for older records).
//  4. idx_certificates_weak: the ids of the certificates at risk weak_keys.
const schemaVersion = 4

// migration brings a file from version to-1 to version to. It runs inside the
// opening transaction and must be deterministic: the file it leaves is the one
// the new code would have written from the same raft log (the replay test
// compares them). It reads the records of its own version with its own types,
// never the current domain types, which move on.
type migration struct {
	to   uint64
	what string
	run  func(tx *bolt.Tx) error
}

// migrations are the steps from version 1 to schemaVersion, in order, one per
// version.
var migrations = []migration{
	{to: 2, what: "index the open jobs of each certificate and the certificates the renewal check watches", run: migrateLifecycleIndexes},
	{to: 3, what: "count the jobs by status and type", run: migrateJobTypeCounts},
	{to: 4, what: "index the certificates with a weak key", run: migrateWeakIndex},
}

// bucketSince names the buckets a migration added, with the version that
// added them: a file of an older version lacks them and is still a state file.
var bucketSince = map[string]uint64{
	string(bucketOpenJobs):    2,
	string(bucketRenewalScan): 2,
	string(bucketScanEnded):   2,
	string(bucketCertWeak):    4,
}

// ErrSchemaNewer is matched (errors.Is) by a SchemaError.
var ErrSchemaNewer = errors.New("fsm: stored schema is newer than this binary")

// SchemaError refuses a state file or snapshot written by a newer certctl, in
// a stored schema this binary cannot read. Nothing was changed. Open and
// Restore return it wrapped, after "fsm: open: " or "fsm: restore refused,
// state left unchanged: ".
type SchemaError struct {
	Path   string // the state file or snapshot
	File   uint64 // its schema version
	Binary uint64 // the newest this binary reads and writes
}

func (e *SchemaError) Error() string {
	return fmt.Sprintf("%s has stored-schema version %d, newer than version %d of this certctl: "+
		"run a certctl that knows version %d, or restore a backup made by this one", e.Path, e.File, e.Binary, e.File)
}

func (e *SchemaError) Unwrap() error { return ErrSchemaNewer }

// prepareSchema makes tx's file a state file of schemaVersion: a new file gets
// every bucket and the version; an older one is migrated step by step. It
// returns the version the file had (schemaVersion for a new file).
func prepareSchema(tx *bolt.Tx, path string) (from uint64, err error) {
	meta, err := tx.CreateBucketIfNotExists(bucketMeta)
	if err != nil {
		return 0, err
	}
	v := meta.Get(metaSchema)
	from = readU64(v)
	switch {
	case v == nil:
		from = schemaVersion // a new file: nothing to migrate
	case from == 0:
		return 0, fmt.Errorf("%s has an unreadable schema version %x", path, v)
	case from > schemaVersion:
		return from, &SchemaError{Path: path, File: from, Binary: schemaVersion}
	}
	for _, m := range migrations {
		if m.to <= from {
			continue
		}
		if err := m.run(tx); err != nil {
			return from, fmt.Errorf("migrate %s to schema version %d (%s): %w", path, m.to, m.what, err)
		}
	}
	for _, b := range allBuckets {
		if _, err := tx.CreateBucketIfNotExists(b); err != nil {
			return from, err
		}
	}
	if from == schemaVersion && v != nil {
		return from, nil
	}
	return from, meta.Put(metaSchema, u64(schemaVersion))
}

// checkSchema is VerifyFile's question: can this binary read the file (its
// version, after migration), and does it hold the buckets of its version?
func checkSchema(tx *bolt.Tx, path string) error {
	meta := tx.Bucket(bucketMeta)
	if meta == nil {
		return fmt.Errorf("state file lacks bucket %q", bucketMeta)
	}
	v := readU64(meta.Get(metaSchema))
	switch {
	case v == 0:
		return errors.New("state file has no schema version")
	case v > schemaVersion:
		return &SchemaError{Path: path, File: v, Binary: schemaVersion}
	}
	for _, b := range allBuckets {
		if tx.Bucket(b) == nil && !laterBuckets[string(b)] && bucketSince[string(b)] <= v {
			return fmt.Errorf("state file lacks bucket %q", b)
		}
	}
	return nil
}

// migrateFile brings the state file at path up to schemaVersion, in place.
// Restore runs it on the copy of a snapshot before the copy takes the place
// of the state, so a snapshot of an older release is migrated as a data dir
// is, and one that fails to migrate leaves the state as it was.
func migrateFile(path string) (from uint64, err error) {
	db, err := bolt.Open(path, 0o600, &bolt.Options{NoFreelistSync: true, FreelistType: bolt.FreelistMapType})
	if err != nil {
		return 0, fmt.Errorf("open %s: %w", path, err)
	}
	_ = db.View(func(tx *bolt.Tx) error {
		if meta := tx.Bucket(bucketMeta); meta != nil {
			from = readU64(meta.Get(metaSchema))
		}
		return nil
	})
	if from != schemaVersion { // a snapshot of this version is not written to
		err = db.Update(func(tx *bolt.Tx) (err error) {
			from, err = prepareSchema(tx, path)
			return err
		})
	}
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	return from, err
}

// Version 1 -> 2.

// migrateLifecycleIndexes builds idx_open_jobs_by_certificate from the jobs
// and idx_renewal_scan from the certificates, as jobStore.put and certStore
// keep them from version 2 on (renewal_scan_ended starts empty: no
// certificate had left the scan).
func migrateLifecycleIndexes(tx *bolt.Tx) error {
	open, err := tx.CreateBucketIfNotExists(bucketOpenJobs)
	if err != nil {
		return err
	}
	scan, err := tx.CreateBucketIfNotExists(bucketRenewalScan)
	if err != nil {
		return err
	}
	if _, err := tx.CreateBucketIfNotExists(bucketScanEnded); err != nil {
		return err
	}
	if jobs := tx.Bucket(bucketJobs); jobs != nil {
		err := jobs.ForEach(func(k, v []byte) error {
			var j struct { // a version 1 job, as far as the index needs it
				ID            string `json:"id"`
				Type          string `json:"type"`
				CertificateID string `json:"certificate_id"`
				Status        string `json:"status"`
			}
			if err := json.Unmarshal(v, &j); err != nil {
				return unreadable(k, err)
			}
			if JobFinished(wire.JobStatus(j.Status)) {
				return nil
			}
			return open.Put(compound(j.CertificateID, string(jobSlot(wire.JobType(j.Type))), j.ID), nil)
		})
		if err != nil {
			return err
		}
	}
	certs := tx.Bucket(bucketCertificates)
	if certs == nil {
		return nil
	}
	return certs.ForEach(func(k, v []byte) error {
		var c struct { // a version 1 certificate, as far as the index needs it
			ID        string     `json:"id"`
			Status    string     `json:"status"`
			ExpiresAt *time.Time `json:"expires_at"`
		}
		if err := json.Unmarshal(v, &c); err != nil {
			return unreadable(k, err)
		}
		if c.ExpiresAt == nil || !Watched(wire.CertificateStatus(c.Status)) {
			return nil
		}
		return scan.Put(timeIDKey(*c.ExpiresAt, c.ID), nil)
	})
}

// Stored record types. A domain type whose stored form is its own type has
// none; one listed here is written and read through its record type, so the
// domain type (what Apply works with and the API serves) can change without
// changing the bytes of the file unnoticed. A record type changes only with a
// new schema version and a migration.
//
// The hooks are two methods on the domain type, used by getJSON, putJSON and
// the list readers: storedForm returns the record to write, decodeStored reads
// one.

type storedEncoder interface{ storedForm() any }
type storedDecoder interface{ decodeStored(raw []byte) error }

func marshalStored(v any) ([]byte, error) {
	if e, ok := v.(storedEncoder); ok {
		v = e.storedForm()
	}
	return json.Marshal(v)
}

func unmarshalStored(raw []byte, v any) error {
	if d, ok := v.(storedDecoder); ok {
		return d.decodeStored(raw)
	}
	return json.Unmarshal(raw, v)
}

// certificateRecord is how a Certificate is stored (managed_certificates),
// since version 1. Its target_ids are kept equal to the mappings by every
// command that maps.
type certificateRecord struct {
	ID               string            `json:"id"`
	Name             string            `json:"name"`
	CommonName       string            `json:"common_name"`
	SANs             []string          `json:"sans"`
	Environment      string            `json:"environment"`
	OwnerID          string            `json:"owner_id"`
	TeamID           string            `json:"team_id"`
	IssuerID         string            `json:"issuer_id"`
	TargetIDs        []string          `json:"target_ids"`
	RenewalPolicyID  string            `json:"renewal_policy_id,omitempty"`
	Status           string            `json:"status"`
	ExpiresAt        *time.Time        `json:"expires_at,omitempty"`
	Tags             map[string]string `json:"tags"`
	LastRenewalAt    *time.Time        `json:"last_renewal_at,omitempty"`
	LastDeploymentAt *time.Time        `json:"last_deployment_at,omitempty"`
	KeyGeneration    string            `json:"key_generation,omitempty"`
	KeyType          string            `json:"key_type,omitempty"`
	StatusReason     string            `json:"status_reason,omitempty"`
	// WeakKey came after schema 1 as an optional field: every record
	// written before it held a version without key facts, so its absence,
	// false, is right for them and no migration is needed.
	WeakKey bool `json:"weak_key,omitempty"`
	// RenewalInfo came later still, optional in the same way: no record
	// written before it had a window from its CA.
	RenewalInfo *wire.RenewalInfo `json:"renewal_info,omitempty"`
	CreatedAt   time.Time         `json:"created_at"`
	UpdatedAt   time.Time         `json:"updated_at"`
}

func (c *Certificate) storedForm() any {
	return &certificateRecord{
		ID: c.ID, Name: c.Name, CommonName: c.CommonName, SANs: c.SANs, Environment: c.Environment,
		OwnerID: c.OwnerID, TeamID: c.TeamID, IssuerID: c.IssuerID, TargetIDs: c.TargetIDs,
		RenewalPolicyID: c.RenewalPolicyID, Status: string(c.Status), ExpiresAt: c.ExpiresAt, Tags: c.Tags,
		LastRenewalAt: c.LastRenewalAt, LastDeploymentAt: c.LastDeploymentAt,
		KeyGeneration: string(c.KeyGeneration), KeyType: string(c.KeyType), StatusReason: c.StatusReason, WeakKey: c.WeakKey,
		RenewalInfo: c.RenewalInfo, CreatedAt: c.CreatedAt, UpdatedAt: c.UpdatedAt,
	}
}

func (c *Certificate) decodeStored(raw []byte) error {
	var r certificateRecord
	if err := json.Unmarshal(raw, &r); err != nil {
		return err
	}
	*c = Certificate{
		ID: r.ID, Name: r.Name, CommonName: r.CommonName, SANs: r.SANs, Environment: r.Environment,
		OwnerID: r.OwnerID, TeamID: r.TeamID, IssuerID: r.IssuerID, TargetIDs: r.TargetIDs,
		RenewalPolicyID: r.RenewalPolicyID, Status: wire.CertificateStatus(r.Status), ExpiresAt: r.ExpiresAt, Tags: r.Tags,
		LastRenewalAt: r.LastRenewalAt, LastDeploymentAt: r.LastDeploymentAt,
		KeyGeneration: wire.KeyGeneration(r.KeyGeneration), KeyType: wire.KeyType(r.KeyType), StatusReason: r.StatusReason, WeakKey: r.WeakKey,
		RenewalInfo: r.RenewalInfo, CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt,
	}
	return nil
}

// storedCertificateIsWire says that a stored certificate's bytes are its wire
// form: json.Marshal of the Certificate that certificateRecord holds gives
// the same bytes. While it holds, the API serves certificates (one, and the
// lists an index pages) as stored, without decoding and encoding each one.
// TestSchema_StoredCertificateIsItsWireForm proves it for a certificate with
// every field set and one with every optional field empty: a change to either
// type that breaks it fails there. Set it false (and the lists decode, then
// encode) when the two are meant to differ.
const storedCertificateIsWire = true

// wireCertificate returns the wire form of a stored certificate: raw itself
// while storedCertificateIsWire holds, so raw must be the caller's own copy
// (bbolt's bytes live only as long as their transaction).
func wireCertificate(raw []byte) (json.RawMessage, error) {
	if storedCertificateIsWire {
		return raw, nil
	}
	var c Certificate
	if err := c.decodeStored(raw); err != nil {
		return nil, &Error{Code: CodeInternal, Message: "stored certificate is unreadable: " + err.Error()}
	}
	return json.Marshal(&c)
}

// Version 2 -> 3.

// migrateJobTypeCounts writes the counters of jobs by status and type that
// jobStore.put keeps from version 3 on.
func migrateJobTypeCounts(tx *bolt.Tx) error {
	jobs, counts := tx.Bucket(bucketJobs), tx.Bucket(bucketCounts)
	if jobs == nil || counts == nil {
		return nil
	}
	n := map[string]uint64{}
	var keys []string
	err := jobs.ForEach(func(k, v []byte) error {
		var j struct { // a version 2 job, as far as the counter needs it
			Type   string `json:"type"`
			Status string `json:"status"`
		}
		if err := json.Unmarshal(v, &j); err != nil {
			return unreadable(k, err)
		}
		key := string(jobTypeCountKey(wire.JobStatus(j.Status), wire.JobType(j.Type)))
		if n[key] == 0 {
			keys = append(keys, key)
		}
		n[key]++
		return nil
	})
	if err != nil {
		return err
	}
	for _, k := range keys { // in the order first seen: deterministic
		if err := counts.Put([]byte(k), u64(n[k])); err != nil {
			return err
		}
	}
	return nil
}

// migrateWeakIndex fills idx_certificates_weak from the certificates of a
// version 3 file: those with weak_key true whose status may still get work
// (weakAtRisk), as the counter counts them.
func migrateWeakIndex(tx *bolt.Tx) error {
	certs := tx.Bucket(bucketCertificates)
	if certs == nil {
		return nil
	}
	idx, err := tx.CreateBucketIfNotExists(bucketCertWeak)
	if err != nil {
		return err
	}
	return certs.ForEach(func(k, v []byte) error {
		var c struct { // a version 3 certificate, as far as the index needs it
			Status  wire.CertificateStatus `json:"status"`
			WeakKey bool                   `json:"weak_key"`
		}
		if err := json.Unmarshal(v, &c); err != nil {
			return unreadable(k, err)
		}
		if c.WeakKey && c.Status != "Archived" && c.Status != "Revoked" { // weakAtRisk at version 4
			return idx.Put(k, nil)
		}
		return nil
	})
}
