package wire

import "time"

// ClusterStatus is the answer of GET /api/v1/cluster: the cluster's id, the
// node that answered, the leader (nil while none is known) and every member
// with its own view of its raft progress.
type ClusterStatus struct {
	ClusterID string          `json:"cluster_id"`
	NodeID    string          `json:"node_id"`
	Leader    *ClusterLeader  `json:"leader,omitempty"`
	Members   []ClusterMember `json:"members"`
	// Snapshots is the scheduled snapshots' last outcome on the leader
	// (snapshot_interval); nil when the leader takes none or is not known.
	Snapshots *SnapshotStatus `json:"snapshots,omitempty"`
}

// SnapshotStatus is the outcome of a node's scheduled snapshots
// (snapshot_interval, snapshot_dir, snapshot_retain): the last file written,
// the last failure and how many failed since the node started. Times are nil
// when nothing has happened yet.
type SnapshotStatus struct {
	NodeID           string     `json:"node_id"`
	Interval         string     `json:"interval"`
	Dir              string     `json:"dir"`
	Retain           int        `json:"retain"`
	LastSuccessAt    *time.Time `json:"last_success_at,omitempty"`
	LastSuccessFile  string     `json:"last_success_file,omitempty"`
	LastSuccessIndex uint64     `json:"last_success_index,omitempty"`
	LastFailureAt    *time.Time `json:"last_failure_at,omitempty"`
	LastError        string     `json:"last_error,omitempty"`
	Failures         uint64     `json:"failures"`
}

// ClusterLeader names the current leader and its addresses.
type ClusterLeader struct {
	NodeID   string `json:"node_id"`
	RaftAddr string `json:"raft_addr"`
	APIAddr  string `json:"api_addr"`
}

// ClusterMember is one member of the cluster. Suffrage is voter, nonvoter or
// staging; State is leader, follower, candidate, shutdown or unreachable, in
// which case Error says why the member could not be asked.
type ClusterMember struct {
	NodeID       string `json:"node_id"`
	RaftAddr     string `json:"raft_addr"`
	APIAddr      string `json:"api_addr"`
	Suffrage     string `json:"suffrage"`
	State        string `json:"state"`
	Term         uint64 `json:"term"`
	CommitIndex  uint64 `json:"commit_index"`
	AppliedIndex uint64 `json:"applied_index"`
	LastLogIndex uint64 `json:"last_log_index"`
	Healthy      bool   `json:"healthy"`
	// DataSizeBytes is the member's own report of its state file and raft
	// log on disk.
	DataSizeBytes int64  `json:"data_size_bytes"`
	Error         string `json:"error,omitempty"`
	// ReplicationStalled is the member's own stall check: as leader, some
	// follower answers but its log does not advance (StalledFollowers names
	// them); as follower, the leader's heartbeats arrive but its entries do
	// not. ReplicationStalls counts the stalls it has seen since it started.
	ReplicationStalled bool     `json:"replication_stalled"`
	StalledFollowers   []string `json:"stalled_followers,omitempty"`
	ReplicationStalls  uint64   `json:"replication_stalls"`
}

// RaftPeers is the answer of GET /api/v1/cluster/peers: every server of the
// raft configuration, as the answering node (NodeID) sees it.
type RaftPeers struct {
	ClusterID string     `json:"cluster_id"`
	NodeID    string     `json:"node_id"`
	Peers     []RaftPeer `json:"peers"`
}

// RaftPeer is one server of the raft configuration. Suffrage is voter,
// nonvoter or staging; Leader marks the leader the answering node knows.
// LastIndex is the last index of the peer's own log and Healthy whether it
// is a leader or a follower that knows the leader, both as the peer itself
// reports them; Error says why it could not be asked (then Healthy is false).
type RaftPeer struct {
	NodeID    string `json:"node_id"`
	RaftAddr  string `json:"raft_addr"`
	APIAddr   string `json:"api_addr"`
	Suffrage  string `json:"suffrage"`
	Leader    bool   `json:"leader"`
	LastIndex uint64 `json:"last_index"`
	Healthy   bool   `json:"healthy"`
	Error     string `json:"error,omitempty"`
}

// TransferLeaderRequest is the body of POST /api/v1/cluster/transfer-leader:
// the voter to hand leadership to, or none for the most up-to-date one.
type TransferLeaderRequest struct {
	NodeID string `json:"node_id,omitempty"`
}

// TransferLeaderResponse names the leader after the transfer.
type TransferLeaderResponse struct {
	Leader ClusterLeader `json:"leader"`
}
