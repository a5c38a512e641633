package node

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/hashicorp/raft"

	"github.com/certctl/certctl/fsm"
)

// LeavePath receives a node's request to be taken out of the cluster: POST
// with no body, from that node only (its node certificate), on the leader.
// A node may remove only itself; removing another is an admin's act
// (Remove, through the API).
const LeavePath = "/internal/v1/leave"

// TransferLeadershipTo hands leadership to the voter nodeID, or to the most
// up-to-date follower when nodeID is "", and waits until this node sees
// another leader; it returns the leader it then knows. It runs on the leader
// (ErrNotLeader elsewhere). Naming the leader itself changes nothing and
// returns it; an unknown id is a not-found error and a non-voter an invalid
// one, both naming the field node_id.
func (n *Node) TransferLeadershipTo(ctx context.Context, nodeID string) (LeaderInfo, error) {
	r, err := n.raftOrErr()
	if err != nil {
		return LeaderInfo{}, err
	}
	if r.State() != raft.Leader {
		return LeaderInfo{}, ErrNotLeader
	}
	self := LeaderInfo{NodeID: n.cfg.NodeID, RaftAddr: n.RaftAddr(), APIAddr: n.cfg.APIAddr}
	if nodeID == "" {
		if n.otherVoters(r) == 0 {
			return LeaderInfo{}, &fsm.Error{Code: fsm.CodeState, Resource: "cluster_member", ID: n.cfg.NodeID,
				Message: fmt.Sprintf("node %s is the only voter of this cluster: there is no other node to lead; add one first (join token)", n.cfg.NodeID)}
		}
		if err := n.TransferLeadership(ctx); err != nil {
			return LeaderInfo{}, err
		}
		return n.leaderInfo(), nil
	}
	if nodeID == n.cfg.NodeID {
		return self, nil
	}
	target, err := n.configServer(ctx, r, nodeID)
	if err != nil {
		return LeaderInfo{}, err
	}
	if target.Suffrage != raft.Voter {
		return LeaderInfo{}, &fsm.Error{Code: fsm.CodeInvalid, Field: "node_id",
			Message: fmt.Sprintf("node %s is a %s: only a voter can lead; name a voter (certctl operator raft list-peers)", nodeID, suffrageName(target.Suffrage))}
	}
	changed := n.leaderChange()
	if err := waitFuture(ctx, r.LeadershipTransferToServer(target.ID, target.Address)); err != nil {
		return LeaderInfo{}, n.raftError(ctx, fmt.Errorf("leadership transfer to %s: %w", nodeID, err))
	}
	for {
		if _, id := r.LeaderWithID(); id != "" && string(id) != n.cfg.NodeID {
			return n.leaderInfo(), nil
		}
		select {
		case <-changed:
			changed = n.leaderChange()
		case <-ctx.Done():
			return LeaderInfo{}, fmt.Errorf("node: no new leader seen after the transfer to %s: %w", nodeID, ctx.Err())
		}
	}
}

// leaderInfo is the leader as this node knows it now.
func (n *Node) leaderInfo() LeaderInfo {
	id, raftAddr, apiAddr := n.Leader()
	return LeaderInfo{NodeID: id, RaftAddr: raftAddr, APIAddr: apiAddr}
}

// configServer returns nodeID's entry in the latest raft configuration, or
// a not-found error naming it.
func (n *Node) configServer(ctx context.Context, r *raft.Raft, nodeID string) (raft.Server, error) {
	cf := r.GetConfiguration()
	if err := waitFuture(ctx, cf); err != nil {
		return raft.Server{}, n.raftError(ctx, err)
	}
	for _, s := range cf.Configuration().Servers {
		if string(s.ID) == nodeID {
			return s, nil
		}
	}
	return raft.Server{}, &fsm.Error{Code: fsm.CodeNotFound, Resource: "cluster_member", ID: nodeID, Field: "node_id",
		Message: fmt.Sprintf("node %s is not a member of this cluster (certctl operator raft list-peers names them)", nodeID)}
}

// suffrageName is a raft suffrage as the API spells it.
func suffrageName(s raft.ServerSuffrage) string {
	switch s {
	case raft.Voter:
		return "voter"
	case raft.Nonvoter:
		return "nonvoter"
	default:
		return "staging"
	}
}

// Leave takes this node out of the cluster for good, before it stops: a
// leader first hands leadership over, then the leader removes this node from
// the raft configuration and the members bucket (LeavePath). The last voter
// of a cluster cannot leave it (there would be no cluster left): that is an
// error and nothing changes. Leave retries on a change of leader until ctx
// ends. The data dir is no use afterwards: to come back, the node starts
// with an empty one and a join token.
func (n *Node) Leave(ctx context.Context) error {
	r, err := n.raftOrErr()
	if err != nil {
		return err
	}
	if r.State() == raft.Leader {
		if n.otherVoters(r) == 0 {
			return &fsm.Error{Code: fsm.CodeState, Resource: "cluster_member", ID: n.cfg.NodeID,
				Message: fmt.Sprintf("node %s is the only voter: the last node cannot leave its cluster", n.cfg.NodeID)}
		}
		if err := n.TransferLeadership(ctx); err != nil {
			return fmt.Errorf("node: hand leadership over before leaving: %w", err)
		}
	}
	backoff := 50 * time.Millisecond
	for {
		err := n.leaveOnce(ctx, r)
		if err == nil {
			n.log.Info("left the cluster")
			return nil
		}
		if !errors.Is(err, ErrNotLeader) && !errors.Is(err, ErrNoLeader) && !errors.Is(err, ErrLeadershipLost) {
			return err
		}
		n.log.Debug("leave: retrying on the next leader", "err", err)
		if !sleepCtx(ctx, backoff) {
			return fmt.Errorf("node: leave the cluster: %w (last: %v)", ctx.Err(), err)
		}
		backoff = min(2*backoff, time.Second)
	}
}

func (n *Node) leaveOnce(ctx context.Context, r *raft.Raft) error {
	if _, err := n.configServer(ctx, r, n.cfg.NodeID); err != nil {
		var domain *fsm.Error
		if errors.As(err, &domain) && domain.Code == fsm.CodeNotFound {
			return nil // removed already: a retry after a lost answer
		}
		return err
	}
	l, err := n.waitLeader(ctx, r)
	if err != nil {
		return err
	}
	if l.self {
		return ErrNotLeader // a leadership regained: hand it over again
	}
	var out struct{}
	return postJSON(ctx, n.peers, n.apiURL(l.apiAddr, LeavePath), struct{}{}, &out, func(h http.Header) {
		h.Set(ForwardedHeader, n.cfg.NodeID)
	})
}

// HandleLeave removes node peer, which asked for itself (LeavePath), on the
// leader; elsewhere it returns ErrNotLeader. The leader itself cannot leave
// this way: it hands leadership over first (Leave).
func (n *Node) HandleLeave(ctx context.Context, peer string) error {
	if peer == n.cfg.NodeID {
		return &fsm.Error{Code: fsm.CodeState, Resource: "cluster_member", ID: peer,
			Message: fmt.Sprintf("node %s leads the cluster: it hands leadership over before it leaves", peer)}
	}
	if err := n.Remove(ctx, peer); err != nil {
		return err
	}
	n.log.Info("node left the cluster", "left", peer)
	return nil
}

// LeaveHandler serves LeavePath for nodes only (PeerNode): the node that
// presents its certificate is removed from the cluster.
func (n *Node) LeaveHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", http.MethodPost)
			writeError(w, errUsePost)
			return
		}
		peer, err := n.PeerNode(r)
		if err != nil {
			writeError(w, fmt.Errorf("%w: %s takes a node certificate of this cluster only: %v", ErrUnauthorized, LeavePath, err))
			return
		}
		if err := n.HandleLeave(r.Context(), peer); err != nil {
			writeError(w, err)
			return
		}
		writeJSON(w, http.StatusOK, struct{}{})
	})
}
