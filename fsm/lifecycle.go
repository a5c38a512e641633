package fsm

import (
	"bytes"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// Read-only queries the lifecycle engine asks before it proposes, so that a
// run of the scheduler that finds nothing new to do proposes nothing.

// NotificationKeySeen reports whether a notification with dedup key key was
// ever queued. CreateNotifications skips such a notification; asking first
// spares a raft entry that would change nothing.
func (f *FSM) NotificationKeySeen(key string) (bool, error) {
	var seen bool
	err := f.view(func(tx *bolt.Tx) error {
		seen = key != "" && tx.Bucket(bucketNotifKey).Get([]byte(key)) != nil
		return nil
	})
	return seen, err
}

// LatestCertificateVersion returns the version of a certificate recorded
// last, which is the one its expires_at comes from, or ErrNotFound when the
// certificate has none.
func (f *FSM) LatestCertificateVersion(certID string) (*CertificateVersion, error) {
	var out *CertificateVersion
	err := f.view(func(tx *bolt.Tx) error {
		pfx := prefix(certID)
		c := tx.Bucket(bucketVerByCert).Cursor()
		// The last key under pfx: seek past the prefix, then step back.
		k, _ := c.Seek(prefixEnd(pfx))
		if k == nil {
			k, _ = c.Last()
		} else {
			k, _ = c.Prev()
		}
		if k == nil || !bytes.HasPrefix(k, pfx) {
			return noVersion(certID)
		}
		var v CertificateVersion
		found, err := getJSON(tx.Bucket(bucketVersions), k[len(pfx)+8:], &v)
		if err != nil {
			return err
		}
		if !found {
			return noVersion(certID)
		}
		out = &v
		return nil
	})
	return out, err
}

// TargetCertificateIDs returns the ids of the certificates mapped to a
// target, in id order (none for an unknown target).
func (f *FSM) TargetCertificateIDs(targetID string) ([]string, error) {
	out := []string{}
	err := f.view(func(tx *bolt.Tx) error {
		pfx := prefix(targetID)
		c := tx.Bucket(bucketMapByTgt).Cursor()
		for k, _ := c.Seek(pfx); k != nil && bytes.HasPrefix(k, pfx); k, _ = c.Next() {
			out = append(out, string(k[len(pfx):]))
		}
		return nil
	})
	return out, err
}

func noVersion(certID string) *Error {
	return &Error{Code: CodeNotFound, Resource: "certificate version", ID: certID,
		Message: fmt.Sprintf("certificate %q has no version yet", certID)}
}

// prefixEnd is the smallest key greater than every key starting with pfx.
// pfx always ends with the separator (0x00), so incrementing its last byte
// never carries.
func prefixEnd(pfx []byte) []byte {
	end := append([]byte(nil), pfx...)
	end[len(end)-1]++
	return end
}

// OpenRenewalJob returns the unfinished Issuance or Renewal job of a
// certificate, or nil when it has none. One seek of the open-jobs index: the
// renewal check asks it before proposing a RequestRenewal that would only be
// refused.
func (f *FSM) OpenRenewalJob(certID string) (*Job, error) {
	var out *Job
	err := f.view(func(tx *bolt.Tx) (err error) {
		out, err = jobStore{&txn{tx: tx}}.openJob(certID, openSlot(JobRenewal))
		return err
	})
	return out, err
}

// DeploymentJobIDs returns the ids of the jobs a RequestDeployment with
// JobID base created (base itself, or base-1, base-2, ...), none if it
// created none.
func (f *FSM) DeploymentJobIDs(base string) ([]string, error) {
	var out []string
	err := f.view(func(tx *bolt.Tx) error {
		jobs := tx.Bucket(bucketJobs)
		if jobs.Get([]byte(base)) != nil {
			out = []string{base}
			return nil
		}
		for i := 1; i <= MaxTargets; i++ {
			id := fmt.Sprintf("%s-%d", base, i)
			if jobs.Get([]byte(id)) == nil {
				break
			}
			out = append(out, id)
		}
		return nil
	})
	return out, err
}

// RenewalJob returns the id of the job that renews a certificate after a
// RequestRenewal with jobID was applied: jobID if it created it, else the
// certificate's open Issuance or Renewal job it answered with; CodeState
// should that job have finished meanwhile.
func (f *FSM) RenewalJob(certID, jobID string) (string, error) {
	var out string
	err := f.view(func(tx *bolt.Tx) error {
		if tx.Bucket(bucketJobs).Get([]byte(jobID)) != nil {
			out = jobID
			return nil
		}
		j, err := jobStore{&txn{tx: tx}}.openJob(certID, openSlot(JobRenewal))
		if err != nil {
			return err
		}
		if j == nil {
			return statef("certificate", certID, "the renewal of certificate %q has already finished; renew it again if needed", certID)
		}
		out = j.ID
		return nil
	})
	return out, err
}
