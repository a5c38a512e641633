package fsm

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// The cluster's own identity in the state: the cluster id and the cluster CA
// (in meta), the members with their node certificates, the join tokens and
// the revoked node certificates. A backup restored into a running cluster
// must not take these from the file: the nodes' certificates, node.json and
// the raft configuration belong to the cluster that runs, not to the one
// that was saved.
var identityBuckets = [][]byte{bucketMembers, bucketJoinTokens, bucketNodeCertRevoke}

// carriedBuckets are the buckets CarryIdentity writes into a restored file.
var carriedBuckets = [][]byte{bucketMembers, bucketJoinTokens, bucketNodeCertRevoke, bucketRevocations, bucketRevByCert}

// unionBuckets are kept from both sides on a restore: a revocation, of a
// node certificate or of a site certificate on an issuer's CRL, is never
// taken back by restoring a state saved before it.
var unionBuckets = [][]byte{bucketNodeCertRevoke, bucketRevocations, bucketRevByCert}
var identityMeta = [][]byte{metaClusterID, metaClusterCA}

// CarryIdentity writes f's cluster identity into the state file at path (a
// snapshot body about to be restored): the cluster id and cluster CA, the
// members whose node ids are in keep (nil: every member) and the join tokens
// replace the file's own; the file's revocations (of node certificates and
// of site certificates on the issuers' CRLs) are kept and f's are added, so a
// node removed, or a certificate revoked, since either state was taken stays
// refused. A certificate revoked since the file was saved keeps the file's
// status in the inventory; revoking it again there changes only its status.
// Every other record of path is left as it is. The file must not be open
// elsewhere.
func (f *FSM) CarryIdentity(path string, keep []string) error {
	type kv struct{ k, v []byte }
	cur := map[string][]kv{}
	var meta []kv
	err := f.view(func(tx *bolt.Tx) error {
		for _, name := range carriedBuckets {
			b := tx.Bucket(name)
			if b == nil {
				continue
			}
			err := b.ForEach(func(k, v []byte) error {
				if bytes.Equal(name, bucketMembers) && keep != nil && !containsString(keep, string(k)) {
					return nil
				}
				cur[string(name)] = append(cur[string(name)], kv{bytes.Clone(k), bytes.Clone(v)})
				return nil
			})
			if err != nil {
				return err
			}
		}
		for _, k := range identityMeta {
			if v := tx.Bucket(bucketMeta).Get(k); v != nil {
				meta = append(meta, kv{k, bytes.Clone(v)})
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("fsm: read the cluster's identity: %w", err)
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second, NoFreelistSync: true, FreelistType: bolt.FreelistMapType})
	if err != nil {
		return fmt.Errorf("fsm: open %s: %w", path, err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, name := range carriedBuckets {
			union := containsBucket(unionBuckets, name)
			if !union {
				if err := tx.DeleteBucket(name); err != nil && err != bolt.ErrBucketNotFound {
					return err
				}
			}
			b, err := tx.CreateBucketIfNotExists(name)
			if err != nil {
				return err
			}
			for _, r := range cur[string(name)] {
				if union && b.Get(r.k) != nil {
					continue // the file's own record of the same revocation stays
				}
				if err := b.Put(r.k, r.v); err != nil {
					return err
				}
			}
		}
		m := tx.Bucket(bucketMeta)
		if m == nil {
			return fmt.Errorf("state file lacks bucket %q", bucketMeta)
		}
		for _, k := range identityMeta {
			if err := m.Delete(k); err != nil {
				return err
			}
		}
		for _, r := range meta {
			if err := m.Put(r.k, r.v); err != nil {
				return err
			}
		}
		return nil
	})
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("fsm: carry the cluster's identity into %s: %w", path, err)
	}
	return nil
}

// ForgetMembers removes from the state file at path every member whose node
// id is not in keep and revokes the node certificates recorded for it, as
// RemoveMember would, at time now. It is for a state restored offline into a
// new cluster of one node: the saved cluster's other nodes are not members
// of it, and their certificates must not be accepted if those machines come
// back. It returns the node ids removed.
func ForgetMembers(path string, keep []string, now time.Time) ([]string, error) {
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second, NoFreelistSync: true, FreelistType: bolt.FreelistMapType})
	if err != nil {
		return nil, fmt.Errorf("fsm: open %s: %w", path, err)
	}
	var removed []string
	err = db.Update(func(tx *bolt.Tx) error {
		members := tx.Bucket(bucketMembers)
		revoked, err := tx.CreateBucketIfNotExists(bucketNodeCertRevoke)
		if err != nil || members == nil {
			return err
		}
		var drop []Member
		err = members.ForEach(func(k, v []byte) error {
			if containsString(keep, string(k)) {
				return nil
			}
			var m Member
			if err := json.Unmarshal(v, &m); err != nil {
				return fmt.Errorf("member %s: %w", k, err)
			}
			drop = append(drop, m)
			return nil
		})
		if err != nil {
			return err
		}
		for _, m := range drop {
			for _, s := range m.CertSerials {
				v, err := json.Marshal(&NodeCertRevocation{Serial: s, NodeID: m.NodeID, RevokedAt: now.UTC()})
				if err != nil {
					return err
				}
				if err := revoked.Put([]byte(s), v); err != nil {
					return err
				}
			}
			if err := members.Delete([]byte(m.NodeID)); err != nil {
				return err
			}
			removed = append(removed, m.NodeID)
		}
		return nil
	})
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, fmt.Errorf("fsm: forget the saved cluster's other members in %s: %w", path, err)
	}
	return removed, nil
}

func containsString(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func containsBucket(list [][]byte, name []byte) bool {
	for _, b := range list {
		if bytes.Equal(b, name) {
			return true
		}
	}
	return false
}
