package node

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/hashicorp/raft"

	"github.com/certctl/certctl/fsm"
)

// JoinRequest asks the leader to add a node as a voter.
type JoinRequest struct {
	NodeID   string `json:"node_id"`
	RaftAddr string `json:"raft_addr"`
	APIAddr  string `json:"api_addr"`
	// Token is the bearer token the request carried; the API sets it from
	// the Authorization header.
	Token string `json:"-"`
	// ForwardedBy is the ForwardedHeader of the request: set, the request
	// came from another node and is never forwarded again.
	ForwardedBy string `json:"-"`
}

// JoinResponse is the leader's answer to a join.
type JoinResponse struct {
	ClusterID string     `json:"cluster_id"`
	Leader    LeaderInfo `json:"leader"`
}

// LeaderInfo names a node and its addresses.
type LeaderInfo struct {
	NodeID   string `json:"node_id"`
	RaftAddr string `json:"raft_addr"`
	APIAddr  string `json:"api_addr"`
}

func (req JoinRequest) validate() error {
	if err := fsm.ValidID("node_id", req.NodeID); err != nil {
		return err
	}
	for _, f := range []struct{ name, v string }{{"raft_addr", req.RaftAddr}, {"api_addr", req.APIAddr}} {
		if _, _, err := net.SplitHostPort(f.v); err != nil {
			return &fsm.Error{Code: fsm.CodeInvalid, Field: f.name, Message: fmt.Sprintf("%s %q is not host:port", f.name, f.v)}
		}
	}
	return nil
}

// HandleJoin adds the node described by req to the cluster as a voter and
// records its addresses, and answers the cluster id. It checks req.Token in
// constant time. On a follower it forwards req once to the leader, unless
// req.ForwardedBy is set (then ErrNotLeader). It is idempotent: a node already
// a voter at the same address is left alone; a known node id at a new address
// is removed and added again, and a different node id at the same raft
// address replaces the old one.
func (n *Node) HandleJoin(ctx context.Context, req JoinRequest) (JoinResponse, error) {
	if !n.CheckJoinToken(req.Token) {
		return JoinResponse{}, ErrUnauthorized
	}
	if err := req.validate(); err != nil {
		return JoinResponse{}, err
	}
	r, err := n.raftOrErr()
	if err != nil {
		return JoinResponse{}, err
	}
	if r.State() != raft.Leader {
		if req.ForwardedBy != "" {
			return JoinResponse{}, ErrNotLeader
		}
		l, err := n.waitLeader(ctx, r)
		if err != nil {
			return JoinResponse{}, err
		}
		if !l.self {
			return n.postJoin(ctx, l.apiAddr, req, n.cfg.NodeID)
		}
	}
	if req.NodeID == n.cfg.NodeID || req.RaftAddr == n.RaftAddr() {
		return JoinResponse{}, &fsm.Error{Code: fsm.CodeConflict, Resource: "cluster_member", ID: req.NodeID,
			Message: fmt.Sprintf("node %s at %s is the leader of this cluster; a joining node needs its own id and address", n.cfg.NodeID, n.RaftAddr())}
	}
	clusterID, err := n.waitClusterID(ctx)
	if err != nil {
		return JoinResponse{}, err
	}
	if err := n.addVoter(ctx, r, req); err != nil {
		return JoinResponse{}, err
	}
	m := fsm.Member{NodeID: req.NodeID, RaftAddr: req.RaftAddr, APIAddr: req.APIAddr}
	if _, err := n.proposeSystem(ctx, &fsm.RegisterMember{Member: m}); err != nil {
		return JoinResponse{}, fmt.Errorf("node: record member %s: %w", req.NodeID, err)
	}
	n.log.Info("node joined", "joiner", req.NodeID, "raft_addr", req.RaftAddr, "api_addr", req.APIAddr)
	return JoinResponse{
		ClusterID: clusterID,
		Leader:    LeaderInfo{NodeID: n.cfg.NodeID, RaftAddr: n.RaftAddr(), APIAddr: n.cfg.APIAddr},
	}, nil
}

// waitClusterID waits for the leader's first duty (InitCluster) to land.
func (n *Node) waitClusterID(ctx context.Context) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	for {
		id, err := n.fsm.ClusterID()
		if err != nil {
			return "", err
		}
		if id != "" {
			return id, nil
		}
		if !sleepCtx(ctx, 20*time.Millisecond) {
			return "", fmt.Errorf("%w: the cluster has no id yet: %w", ErrNoLeader, ctx.Err())
		}
	}
}

// addVoter makes req a voter, cleaning up stale entries for its id or address.
func (n *Node) addVoter(ctx context.Context, r *raft.Raft, req JoinRequest) error {
	id, addr := raft.ServerID(req.NodeID), raft.ServerAddress(req.RaftAddr)
	cf := r.GetConfiguration()
	if err := waitFuture(ctx, cf); err != nil {
		return n.raftError(ctx, err)
	}
	for _, s := range cf.Configuration().Servers {
		switch {
		case s.ID == id && s.Address == addr:
			if s.Suffrage == raft.Voter {
				return nil
			}
			// A non-voter at the right address: AddVoter promotes it.
		case s.ID == id || s.Address == addr:
			n.log.Info("removing stale server before join", "id", s.ID, "addr", s.Address, "joiner", id)
			if err := waitFuture(ctx, r.RemoveServer(s.ID, 0, n.cfg.ApplyTimeout)); err != nil {
				return n.raftError(ctx, err)
			}
			if s.ID != id {
				if err := n.removeMember(ctx, string(s.ID)); err != nil {
					return err
				}
			}
		}
	}
	if err := waitFuture(ctx, r.AddVoter(id, addr, 0, n.cfg.ApplyTimeout)); err != nil {
		return n.raftError(ctx, err)
	}
	return nil
}

// Remove takes a node out of the cluster: out of the raft configuration and
// out of the members bucket. It runs on the leader (ErrNotLeader elsewhere).
// Removing the leader itself records the removal first; the leader then
// steps down and shuts its raft down. A node id unknown to both returns the
// fsm's not-found error.
func (n *Node) Remove(ctx context.Context, nodeID string) error {
	r, err := n.raftOrErr()
	if err != nil {
		return err
	}
	if r.State() != raft.Leader {
		return ErrNotLeader
	}
	cf := r.GetConfiguration()
	if err := waitFuture(ctx, cf); err != nil {
		return n.raftError(ctx, err)
	}
	inConfig := false
	for _, s := range cf.Configuration().Servers {
		inConfig = inConfig || string(s.ID) == nodeID
	}
	if !inConfig {
		_, err := n.proposeSystem(ctx, &fsm.RemoveMember{NodeID: nodeID})
		return err
	}
	if nodeID == n.cfg.NodeID {
		if err := n.removeMember(ctx, nodeID); err != nil {
			return err
		}
		return n.raftError(ctx, waitFuture(ctx, r.RemoveServer(raft.ServerID(nodeID), 0, n.cfg.ApplyTimeout)))
	}
	if err := waitFuture(ctx, r.RemoveServer(raft.ServerID(nodeID), 0, n.cfg.ApplyTimeout)); err != nil {
		return n.raftError(ctx, err)
	}
	n.log.Info("node removed", "removed", nodeID)
	return n.removeMember(ctx, nodeID)
}

// removeMember proposes RemoveMember, treating an absent member as done.
func (n *Node) removeMember(ctx context.Context, nodeID string) error {
	_, err := n.proposeSystem(ctx, &fsm.RemoveMember{NodeID: nodeID})
	if errors.Is(err, fsm.ErrNotFound) {
		return nil
	}
	return err
}

// join asks the nodes at Config.JoinAddrs, in turn and with backoff, to add
// this node, for up to Config.JoinTimeout. A wrong token or a refused request
// ends it at once. If the data dir already names a cluster (local), a node
// answering for another cluster ends it with a *ClusterMismatchError.
func (n *Node) join(ctx context.Context, raftAddr, local string) (JoinResponse, error) {
	ctx, cancel := context.WithTimeout(ctx, n.cfg.JoinTimeout)
	defer cancel()
	req := JoinRequest{NodeID: n.cfg.NodeID, RaftAddr: raftAddr, APIAddr: n.cfg.APIAddr, Token: n.cfg.JoinToken}
	backoff := 100 * time.Millisecond
	var lastErr error
	for {
		for _, addr := range n.cfg.JoinAddrs {
			if local != "" {
				remote, err := n.remoteClusterID(ctx, addr)
				if err != nil {
					lastErr = err
					continue
				}
				if remote != "" && remote != local {
					return JoinResponse{}, &ClusterMismatchError{DataDir: n.cfg.DataDir, LocalCluster: local, JoinAddr: addr, RemoteCluster: remote}
				}
			}
			resp, err := n.postJoin(ctx, addr, req, "")
			if err == nil {
				if local != "" && resp.ClusterID != local {
					return JoinResponse{}, &ClusterMismatchError{DataDir: n.cfg.DataDir, LocalCluster: local, JoinAddr: addr, RemoteCluster: resp.ClusterID}
				}
				return resp, nil
			}
			if fatalJoinError(err) {
				return JoinResponse{}, fmt.Errorf("node: join via %s refused: %w", addr, err)
			}
			n.log.Debug("join attempt failed", "addr", addr, "err", err)
			lastErr = err
		}
		if !sleepCtx(ctx, backoff) {
			return JoinResponse{}, fmt.Errorf("node: could not join the cluster via %s within %s: %w",
				strings.Join(n.cfg.JoinAddrs, ", "), n.cfg.JoinTimeout, lastErr)
		}
		backoff = min(2*backoff, 3*time.Second)
	}
}

// fatalJoinError reports whether retrying a join cannot help.
func fatalJoinError(err error) bool {
	if errors.Is(err, ErrUnauthorized) {
		return true
	}
	var re *RemoteError
	return errors.As(err, &re) && re.Status >= 400 && re.Status < 500 && re.Status != http.StatusRequestTimeout && re.Status != http.StatusTooManyRequests
}

// postJoin sends req to the join endpoint at addr.
func (n *Node) postJoin(ctx context.Context, addr string, req JoinRequest, forwardedBy string) (JoinResponse, error) {
	body, err := json.Marshal(req)
	if err != nil {
		return JoinResponse{}, fmt.Errorf("node: encode join request: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	hr, err := http.NewRequestWithContext(ctx, http.MethodPost, n.apiURL(addr, JoinPath), bytes.NewReader(body))
	if err != nil {
		return JoinResponse{}, fmt.Errorf("node: join request: %w", err)
	}
	hr.Header.Set("Content-Type", "application/json")
	hr.Header.Set("Authorization", "Bearer "+req.Token)
	if forwardedBy != "" {
		hr.Header.Set(ForwardedHeader, forwardedBy)
	}
	res, err := n.http.Do(hr)
	if err != nil {
		return JoinResponse{}, fmt.Errorf("node: join via %s: %w", addr, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	if err != nil {
		return JoinResponse{}, fmt.Errorf("node: join via %s: %w", addr, err)
	}
	if res.StatusCode != http.StatusOK {
		return JoinResponse{}, remoteError(addr, res.StatusCode, b)
	}
	var resp JoinResponse
	if err := json.Unmarshal(b, &resp); err != nil {
		return JoinResponse{}, fmt.Errorf("node: undecodable join answer from %s: %w", addr, err)
	}
	if resp.ClusterID == "" {
		return JoinResponse{}, fmt.Errorf("node: join answer from %s has no cluster id", addr)
	}
	return resp, nil
}

// clusterCheckTimeout bounds the start-up check of the cluster id, so a
// restart is never held up by unreachable peers.
const clusterCheckTimeout = 5 * time.Second

// checkCluster asks the nodes at JoinAddrs which cluster they belong to and
// refuses to start if the first that answers names another one than local.
// If none answers in time the node starts anyway.
func (n *Node) checkCluster(ctx context.Context, local string) error {
	ctx, cancel := context.WithTimeout(ctx, clusterCheckTimeout)
	defer cancel()
	for _, addr := range n.cfg.JoinAddrs {
		remote, err := n.remoteClusterID(ctx, addr)
		if err != nil {
			n.log.Debug("cluster id check: no answer", "addr", addr, "err", err)
			continue
		}
		if remote == "" {
			continue
		}
		if remote != local {
			return &ClusterMismatchError{DataDir: n.cfg.DataDir, LocalCluster: local, JoinAddr: addr, RemoteCluster: remote}
		}
		return nil
	}
	n.log.Warn("no join address answered; starting without checking the cluster id", "join_addrs", n.cfg.JoinAddrs)
	return nil
}

// remoteClusterID reads the cluster id the API at addr reports.
func (n *Node) remoteClusterID(ctx context.Context, addr string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	hr, err := http.NewRequestWithContext(ctx, http.MethodGet, n.apiURL(addr, ClusterPath), nil)
	if err != nil {
		return "", err
	}
	hr.Header.Set("Authorization", "Bearer "+n.cfg.JoinToken)
	res, err := n.http.Do(hr)
	if err != nil {
		return "", err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	if err != nil {
		return "", err
	}
	if res.StatusCode != http.StatusOK {
		return "", remoteError(addr, res.StatusCode, b)
	}
	var info struct {
		ClusterID string `json:"cluster_id"`
	}
	if err := json.Unmarshal(b, &info); err != nil {
		return "", fmt.Errorf("node: undecodable cluster info from %s: %w", addr, err)
	}
	return info.ClusterID, nil
}
