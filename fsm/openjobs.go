package fsm

import (
	"bytes"

	bolt "go.etcd.io/bbolt"
)

// The open-jobs index (idx_open_jobs_by_certificate, schema version 2) holds
// openJobKey(certificate, type, job) for every job whose status is not
// final, so "does this certificate have an open renewal?" is one prefix
// seek whatever its history of jobs. jobStore.put keeps it; the migration to
// version 2 built it for the jobs written before.

// moveOpenJob updates the index for job j written over old (nil for a new
// job).
func moveOpenJob(t *txn, old, j *Job) {
	b := t.bucket(bucketOpenJobs)
	if old != nil && !jobTerminal(old.Status) {
		must(b.Delete(openJobKey(old.CertificateID, old.Type, old.ID)))
	}
	if !jobTerminal(j.Status) {
		must(b.Put(openJobKey(j.CertificateID, j.Type, j.ID), nil))
	}
}

// openJobIDs returns the ids of the open jobs of certificate certID, of type
// typ (every type when empty), by type and then id.
func openJobIDs(tx *bolt.Tx, certID, typ string) []string {
	pfx := prefix(certID)
	if typ != "" {
		pfx = prefix(certID, typ)
	}
	var ids []string
	c := tx.Bucket(bucketOpenJobs).Cursor()
	for k, _ := c.Seek(pfx); k != nil && bytes.HasPrefix(k, pfx); k, _ = c.Next() {
		rest := k[len(prefix(certID)):] // type \x00 id
		if i := bytes.IndexByte(rest, sep); i >= 0 {
			ids = append(ids, string(rest[i+1:]))
		}
	}
	return ids
}

// OpenJobs returns the jobs of certificate certID that are not finished
// (Completed, Failed, Cancelled), of type typ or of every type when typ is
// empty, ordered by type and then id. It reads only those jobs.
func (f *FSM) OpenJobs(certID, typ string) ([]Job, error) {
	if c, ok := JobTypes.Canonical(typ); ok {
		typ = c
	}
	out := []Job{}
	err := f.view(func(tx *bolt.Tx) error {
		s := jobStore{&txn{tx: tx}}
		for _, id := range openJobIDs(tx, certID, typ) {
			j, err := s.get(id)
			if err != nil {
				return err
			}
			out = append(out, *j)
		}
		return nil
	})
	return out, err
}
