package wire

import "time"

// SnapshotRestored answers POST /api/v1/cluster/snapshot/restore: the
// snapshot that now is every node's state, and the raft index from which it
// is.
type SnapshotRestored struct {
	ClusterID     string    `json:"cluster_id"`     // the snapshot's cluster
	Index         uint64    `json:"index"`          // the snapshot's raft index
	Term          uint64    `json:"term"`           // the snapshot's raft term
	NodeID        string    `json:"node_id"`        // the node it was saved from
	CreatedAt     time.Time `json:"created_at"`     // when it was saved
	SchemaVersion uint64    `json:"schema_version"` // its stored schema
	Records       int64     `json:"records"`        // records in its tables
	RestoredIndex uint64    `json:"restored_index"` // the raft index of the restore
}
