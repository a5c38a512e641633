package node

import (
	"context"
	"fmt"
	"os"
)

// NodeStats is a snapshot of this node's raft and state-machine progress.
type NodeStats struct {
	NodeID       string `json:"node_id"`
	State        string `json:"state"` // Follower, Candidate, Leader, Shutdown; "Closed" before Open
	Term         uint64 `json:"term"`
	CommitIndex  uint64 `json:"commit_index"`
	AppliedIndex uint64 `json:"applied_index"` // the state machine's, persisted
	LastLogIndex uint64 `json:"last_log_index"`
	LeaderID     string `json:"leader_id"`
	// ReplicationStalled is the stall check's verdict (Config.StallTimeout):
	// on the leader, some follower answers but its log has not advanced
	// while the commit index is past it (StalledFollowers names them); on a
	// follower, the leader's heartbeats arrive but its entries do not.
	ReplicationStalled bool     `json:"replication_stalled"`
	StalledFollowers   []string `json:"stalled_followers,omitempty"`
	// ReplicationStalls counts the stalls this node has seen since it started.
	ReplicationStalls uint64 `json:"replication_stalls"`
	// DataSizeBytes is the size on disk of this node's state file and raft
	// log (snapshots not included).
	DataSizeBytes int64 `json:"data_size_bytes"`
}

// dataSize is the size of the state file and the raft log under dataDir;
// a file that cannot be read counts 0.
func dataSize(dataDir string) int64 {
	var n int64
	for _, p := range []string{statePath(dataDir), raftDBPath(dataDir)} {
		if fi, err := os.Stat(p); err == nil {
			n += fi.Size()
		}
	}
	return n
}

// Stats returns this node's current progress.
func (n *Node) Stats() NodeStats {
	s := NodeStats{NodeID: n.cfg.NodeID, State: "Closed", AppliedIndex: n.fsm.AppliedIndex(), DataSizeBytes: dataSize(n.cfg.DataDir)}
	s.ReplicationStalled, s.StalledFollowers, s.ReplicationStalls = n.watch.stallStats()
	r := n.raft.Load()
	if r == nil {
		return s
	}
	_, lid := r.LeaderWithID()
	s.State = r.State().String()
	s.Term = r.CurrentTerm()
	s.CommitIndex = r.CommitIndex()
	s.LastLogIndex = r.LastIndex()
	s.LeaderID = string(lid)
	return s
}

// Ready reports whether this node can serve: a leader is known and the
// state machine has caught up with the commit index this node first saw
// once a leader was known. Catching up is checked once (it would otherwise
// flicker under load, where a follower always trails by a few entries);
// afterwards Ready follows only whether a leader is known.
func (n *Node) Ready() bool {
	r := n.raft.Load()
	if r == nil {
		return false
	}
	if _, lid := r.LeaderWithID(); lid == "" {
		return false
	}
	if n.caughtUp.Load() {
		return true
	}
	// raft's own applied index counts the entries that never reach the
	// state machine (a new term's no-op, configuration changes), which the
	// state machine's index does not: after a restart with no new writes the
	// latter stays below the commit index for good.
	commit := r.CommitIndex()
	if commit == 0 || r.AppliedIndex() < commit {
		return false
	}
	n.caughtUp.Store(true)
	return true
}

// Server is one member of the raft configuration.
type Server struct {
	NodeID   string `json:"node_id"`
	RaftAddr string `json:"raft_addr"`
	APIAddr  string `json:"api_addr"` // from the members bucket; "" if not recorded
	Suffrage string `json:"suffrage"` // Voter, Nonvoter, Staging
	Leader   bool   `json:"leader"`
}

// Servers returns the latest raft configuration, with each server's API
// address as recorded in the state machine.
func (n *Node) Servers(ctx context.Context) ([]Server, error) {
	r, err := n.raftOrErr()
	if err != nil {
		return nil, err
	}
	f := r.GetConfiguration()
	if err := waitFuture(ctx, f); err != nil {
		return nil, n.raftError(ctx, err)
	}
	_, lid := r.LeaderWithID()
	members, err := n.fsm.Members()
	if err != nil {
		return nil, fmt.Errorf("node: read members: %w", err)
	}
	api := make(map[string]string, len(members))
	for _, m := range members {
		api[m.NodeID] = m.APIAddr
	}
	var out []Server
	for _, s := range f.Configuration().Servers {
		out = append(out, Server{
			NodeID:   string(s.ID),
			RaftAddr: string(s.Address),
			APIAddr:  api[string(s.ID)],
			Suffrage: s.Suffrage.String(),
			Leader:   s.ID == lid,
		})
	}
	return out, nil
}
