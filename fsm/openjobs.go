package fsm

import (
	"github.com/certctl/certctl/api/wire"

	"bytes"

	bolt "go.etcd.io/bbolt"
)

// OpenJobs returns the jobs of certificate certID that are not finished
// (Completed, Failed, Cancelled), of type typ or of every type when typ is
// empty, ordered by lifecycle slot and then id. It reads only those jobs,
// through the open-jobs index (idx_open_jobs_by_certificate, schema 2).
func (f *FSM) OpenJobs(certID string, name wire.JobType) ([]Job, error) {
	typ, _ := JobTypes.Canonical(string(name))
	out := []Job{}
	err := f.view(func(tx *bolt.Tx) error {
		s := jobStore{&txn{tx: tx}}
		pfx := prefix(certID)
		if typ != "" {
			pfx = prefix(certID, string(jobSlot(typ)))
		}
		c := tx.Bucket(bucketOpenJobs).Cursor()
		for k, _ := c.Seek(pfx); k != nil && bytes.HasPrefix(k, pfx); k, _ = c.Next() {
			j, err := s.get(string(k[bytes.LastIndexByte(k, sep)+1:]))
			if err != nil {
				return err
			}
			if typ == "" || j.Type == typ {
				out = append(out, *j)
			}
		}
		return nil
	})
	return out, err
}
