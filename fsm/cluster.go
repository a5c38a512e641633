package fsm

import (
	"encoding/json"

	bolt "go.etcd.io/bbolt"
)

// InitCluster names the cluster. It is the first command of a new cluster; a
// node refuses to join a cluster whose id differs from the one it holds.
type InitCluster struct {
	ClusterID string `json:"cluster_id"`
}

func (InitCluster) CommandType() CommandType { return CommandInitCluster }
func (p InitCluster) Validate() error        { return ValidID("cluster_id", p.ClusterID) }
func (p InitCluster) apply(t *txn) (any, error) {
	meta := t.bucket(bucketMeta)
	if cur := string(meta.Get(metaClusterID)); cur != "" {
		if cur == p.ClusterID {
			return nil, nil
		}
		return nil, conflictf("cluster", cur, "cluster is already initialised as %s", cur)
	}
	must(meta.Put(metaClusterID, []byte(p.ClusterID)))
	t.audit("cluster_initialized", "cluster", p.ClusterID, nil)
	return nil, nil
}

// RegisterMember records (or updates) a node's addresses.
type RegisterMember struct {
	Member Member `json:"member"`
}

func (RegisterMember) CommandType() CommandType { return CommandRegisterMember }
func (p RegisterMember) Validate() error {
	if err := ValidID("node_id", p.Member.NodeID); err != nil {
		return err
	}
	if err := ValidText("raft_addr", p.Member.RaftAddr, MaxNameLength, true); err != nil {
		return err
	}
	return ValidText("api_addr", p.Member.APIAddr, MaxNameLength, true)
}
func (p RegisterMember) apply(t *txn) (any, error) {
	b := t.bucket(bucketMembers)
	var old Member
	found, err := getJSON(b, []byte(p.Member.NodeID), &old)
	if err != nil {
		return nil, err
	}
	m := p.Member
	if found {
		if old.RaftAddr == m.RaftAddr && old.APIAddr == m.APIAddr {
			return old, nil
		}
		m.JoinedAt = old.JoinedAt
		// Certificates are recorded by RecordNodeCert only.
		m.CertSerials, m.CertNotAfter = old.CertSerials, old.CertNotAfter
	} else {
		m.CertSerials, m.CertNotAfter = nil, nil
		m.JoinedAt = t.now()
	}
	putJSON(b, []byte(m.NodeID), &m)
	action := "member_joined"
	if found {
		action = "member_updated"
	}
	t.audit(action, "cluster_member", m.NodeID, map[string]string{"raft_addr": m.RaftAddr, "api_addr": m.APIAddr})
	return m, nil
}

// RemoveMember forgets a node that has left the raft configuration.
type RemoveMember struct {
	NodeID string `json:"node_id"`
}

func (RemoveMember) CommandType() CommandType { return CommandRemoveMember }
func (p RemoveMember) Validate() error        { return ValidID("node_id", p.NodeID) }
func (p RemoveMember) apply(t *txn) (any, error) {
	b := t.bucket(bucketMembers)
	var m Member
	found, err := getJSON(b, []byte(p.NodeID), &m)
	if err != nil {
		return nil, err
	}
	if !found {
		return nil, notFound("cluster member", p.NodeID)
	}
	// A node that left never speaks for the cluster again: its
	// certificates are refused from now on, even before they expire.
	revokeNodeCerts(t, &m)
	must(b.Delete([]byte(p.NodeID)))
	t.audit("member_removed", "cluster_member", p.NodeID, map[string]any{"revoked_cert_serials": m.CertSerials})
	return nil, nil
}

// ClusterID returns the id of the cluster this state belongs to, or "".
func (f *FSM) ClusterID() (string, error) {
	var id string
	err := f.view(func(tx *bolt.Tx) error {
		id = string(tx.Bucket(bucketMeta).Get(metaClusterID))
		return nil
	})
	return id, err
}

// Members returns every recorded member, ordered by node id.
func (f *FSM) Members() ([]Member, error) {
	var out []Member
	err := f.view(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketMembers).ForEach(func(_, v []byte) error {
			var m Member
			if err := json.Unmarshal(v, &m); err != nil {
				return err
			}
			out = append(out, m)
			return nil
		})
	})
	return out, err
}

// Member returns the recorded member with that node id.
func (f *FSM) Member(nodeID string) (Member, error) {
	var m Member
	err := f.view(func(tx *bolt.Tx) error {
		found, err := getJSON(tx.Bucket(bucketMembers), []byte(nodeID), &m)
		if err == nil && !found {
			err = notFound("cluster member", nodeID)
		}
		return err
	})
	return m, err
}
