package api

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/certctl/certctl/api/wire"
	"github.com/certctl/certctl/fsm"
	"github.com/certctl/certctl/node"
	"github.com/certctl/certctl/node/clusterca"
	"github.com/gin-gonic/gin"
)

// Cluster is the raft side of the node the API needs.
type Cluster interface {
	Propose(ctx context.Context, cmd *fsm.Command) (uint64, error)
	Ready() bool
	Stats() node.NodeStats
	Servers(ctx context.Context) ([]node.Server, error)
	Leader() (id, raftAddr, apiAddr string)
	IsLeader() bool
	Barrier(ctx context.Context) error
	Remove(ctx context.Context, nodeID string) error
	// TransferLeadershipTo hands leadership to the voter nodeID, or to the
	// most up-to-date follower for "", on the leader (node.ErrNotLeader
	// elsewhere), and returns the leader after it.
	TransferLeadershipTo(ctx context.Context, nodeID string) (node.LeaderInfo, error)
	// Restore replaces every node's state with a snapshot file read from r
	// (leader only; see node.Node.Restore).
	Restore(ctx context.Context, r io.Reader, opts node.RestoreOptions) (*node.RestoreResult, error)
	ProposeHandler() http.Handler
	JoinHandler() http.Handler
	AddVoterHandler() http.Handler
	// LeaveHandler serves a node's request to be removed from the cluster
	// (leave_on_terminate), node certificate only.
	LeaveHandler() http.Handler

	// PeerNode returns the node of this cluster whose certificate the
	// request's TLS connection presented, or an error.
	PeerNode(r *http.Request) (string, error)
	// PeerTransport carries node-to-node HTTP (mutual TLS); PeerURL is the
	// URL of a path on another node's API.
	PeerTransport() http.RoundTripper
	PeerURL(apiAddr, path string) *url.URL
	// CACertPEM is the cluster CA's certificate (PEM), nil before the node
	// has a TLS identity.
	CACertPEM() []byte
	// NewJoinToken makes a fresh join token for this cluster; it is valid
	// once fsm.CreateJoinToken with its id and hash is committed.
	NewJoinToken() (clusterca.JoinToken, error)
}

// clusterStatus names the members, the leader and each node's raft progress,
// asking every member for its own applied index.
func (s *Server) clusterStatus(c *gin.Context) {
	clusterID, err := s.state.ClusterID()
	if err != nil {
		fail(c, err)
		return
	}
	self := s.cluster.Stats()
	body := wire.ClusterStatus{ClusterID: clusterID, NodeID: self.NodeID, Members: []wire.ClusterMember{}}
	if id, raftAddr, apiAddr := s.cluster.Leader(); id != "" {
		body.Leader = &wire.ClusterLeader{NodeID: id, RaftAddr: raftAddr, APIAddr: apiAddr}
	}
	ctx, cancel := context.WithTimeout(c.Request.Context(), 2*time.Second)
	defer cancel()
	servers, err := s.cluster.Servers(ctx)
	if err != nil {
		fail(c, err)
		return
	}
	stats := s.memberStats(ctx, self, servers)
	body.Members = make([]wire.ClusterMember, len(servers))
	if s.cluster.IsLeader() {
		body.Snapshots = s.snapshotStatus()
	}
	for i, srv := range servers {
		m := wire.ClusterMember{NodeID: srv.NodeID, RaftAddr: srv.RaftAddr, APIAddr: srv.APIAddr, Suffrage: strings.ToLower(srv.Suffrage)}
		if err := stats[i].err; err != nil {
			m.State, m.Error = "unreachable", err.Error()
		} else {
			fillMember(&m, stats[i].st)
			if body.Leader != nil && m.NodeID == body.Leader.NodeID && stats[i].snaps != nil {
				body.Snapshots = stats[i].snaps
			}
		}
		body.Members[i] = m
	}
	c.JSON(http.StatusOK, body)
}

// memberStat is one member's own report of its progress, or why it could
// not be asked.
type memberStat struct {
	st    node.NodeStats
	snaps *wire.SnapshotStatus // the member's scheduled snapshots, if it reports them
	err   error
}

// memberStats asks every server but this node (self) for its own progress,
// all at once, within ctx.
func (s *Server) memberStats(ctx context.Context, self node.NodeStats, servers []node.Server) []memberStat {
	out := make([]memberStat, len(servers))
	var wg sync.WaitGroup
	for i, srv := range servers {
		if srv.NodeID == self.NodeID {
			out[i].st = self
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			body, err := s.fetchNodeStatus(ctx, srv.NodeID, srv.APIAddr)
			out[i].st, out[i].snaps, out[i].err = body.NodeStats, body.Snapshots, err
		}()
	}
	wg.Wait()
	return out
}

// healthy reports whether a member reporting st can serve: a leader, or a
// follower that knows the leader.
func healthy(st node.NodeStats) bool {
	return (st.State == "Leader" || st.State == "Follower") && st.LeaderID != ""
}

// clusterPeers is GET /api/v1/cluster/peers: the raft configuration, each
// server with its last log index and health as it reports them itself.
func (s *Server) clusterPeers(c *gin.Context) {
	clusterID, err := s.state.ClusterID()
	if err != nil {
		fail(c, err)
		return
	}
	self := s.cluster.Stats()
	ctx, cancel := context.WithTimeout(c.Request.Context(), 2*time.Second)
	defer cancel()
	servers, err := s.cluster.Servers(ctx)
	if err != nil {
		fail(c, err)
		return
	}
	stats := s.memberStats(ctx, self, servers)
	body := wire.RaftPeers{ClusterID: clusterID, NodeID: self.NodeID, Peers: make([]wire.RaftPeer, len(servers))}
	for i, srv := range servers {
		p := wire.RaftPeer{NodeID: srv.NodeID, RaftAddr: srv.RaftAddr, APIAddr: srv.APIAddr, Suffrage: strings.ToLower(srv.Suffrage), Leader: srv.Leader}
		if err := stats[i].err; err != nil {
			p.Error = err.Error()
		} else {
			p.LastIndex, p.Healthy = stats[i].st.LastLogIndex, healthy(stats[i].st)
		}
		body.Peers[i] = p
	}
	c.JSON(http.StatusOK, body)
}

// clusterTransferLeader is POST /api/v1/cluster/transfer-leader, on the
// leader: it hands leadership to the voter named, or to the most
// up-to-date follower, and answers the new leader.
func (s *Server) clusterTransferLeader(c *gin.Context) {
	var req wire.TransferLeaderRequest
	if c.Request.ContentLength != 0 && !bindJSON(c, &req) {
		return
	}
	if req.NodeID != "" {
		if err := fsm.ValidID("node_id", req.NodeID); err != nil {
			fail(c, err)
			return
		}
	}
	ctx, cancel := context.WithTimeout(c.Request.Context(), s.cfg.WriteTimeout)
	defer cancel()
	l, err := s.cluster.TransferLeadershipTo(ctx, req.NodeID)
	if err != nil {
		fail(c, err)
		return
	}
	c.JSON(http.StatusOK, wire.TransferLeaderResponse{Leader: wire.ClusterLeader{NodeID: l.NodeID, RaftAddr: l.RaftAddr, APIAddr: l.APIAddr}})
}

// fillMember sets a member's progress from its own stats.
func fillMember(m *wire.ClusterMember, st node.NodeStats) {
	m.State = strings.ToLower(st.State)
	m.Term, m.CommitIndex, m.AppliedIndex, m.LastLogIndex = st.Term, st.CommitIndex, st.AppliedIndex, st.LastLogIndex
	m.Healthy = healthy(st)
	m.DataSizeBytes = st.DataSizeBytes
	m.ReplicationStalled, m.StalledFollowers, m.ReplicationStalls = st.ReplicationStalled, st.StalledFollowers, st.ReplicationStalls
}

// fetchNodeStatus asks a member for its own progress over mutual TLS, as
// this node: the caller's credentials never leave this node, so a member
// record pointing anywhere learns nothing from it.
func (s *Server) fetchNodeStatus(ctx context.Context, nodeID, apiAddr string) (nodeStatusBody, error) {
	var st nodeStatusBody
	if apiAddr == "" {
		return st, errNoAPIAddr
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.cluster.PeerURL(apiAddr, "/api/v1/cluster/node").String(), nil)
	if err != nil {
		return st, err
	}
	resp, err := s.peers.Do(req)
	if err != nil {
		return st, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return st, &peerError{status: resp.StatusCode}
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&st); err != nil {
		return st, err
	}
	if st.NodeID != nodeID {
		return nodeStatusBody{}, fmt.Errorf("the node at %s is %s, not %s", apiAddr, st.NodeID, nodeID)
	}
	return st, nil
}

type peerError struct{ status int }

func (e *peerError) Error() string { return "member answered " + http.StatusText(e.status) }

var errNoAPIAddr = &peerError{status: http.StatusServiceUnavailable}

// nodeStatusBody is the answer of GET /api/v1/cluster/node: the node's raft
// progress and its scheduled snapshots' outcome (nil when it takes none).
type nodeStatusBody struct {
	node.NodeStats
	Snapshots *wire.SnapshotStatus `json:"snapshots,omitempty"`
}

// nodeStatus is this node's own raft progress, for clusterStatus on others.
func (s *Server) nodeStatus(c *gin.Context) {
	c.JSON(http.StatusOK, nodeStatusBody{NodeStats: s.cluster.Stats(), Snapshots: s.snapshotStatus()})
}

// snapshotStatus is this node's scheduled snapshots' outcome, nil when it
// takes none.
func (s *Server) snapshotStatus() *wire.SnapshotStatus {
	if s.cfg.Snapshots == nil {
		return nil
	}
	st := s.cfg.Snapshots.Status()
	return &st
}

// clusterRemove removes a member from the raft configuration.
func (s *Server) clusterRemove(c *gin.Context) {
	ctx, cancel := context.WithTimeout(c.Request.Context(), s.cfg.WriteTimeout)
	defer cancel()
	if err := s.cluster.Remove(ctx, c.Param("id")); err != nil {
		fail(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}

// clusterCA is GET /.well-known/pki/cluster-ca: the CA of the nodes'
// certificates, PEM, for clients to trust (certctl ca bundle).
func (s *Server) clusterCA(c *gin.Context) {
	pemBytes := s.cluster.CACertPEM()
	if pemBytes == nil {
		fail(c, node.ErrClosed)
		return
	}
	c.Data(http.StatusOK, "application/x-pem-file", pemBytes)
}

func viewJoinToken(t fsm.JoinToken) wire.JoinToken {
	return wire.JoinToken{ID: t.ID, ExpiresAt: t.ExpiresAt, Uses: t.Uses, UsesLeft: t.UsesLeft, UsedBy: t.UsedBy,
		CreatedAt: t.CreatedAt, CreatedBy: t.CreatedBy, RevokedAt: t.RevokedAt}
}

func (s *Server) createJoinToken(c *gin.Context) {
	var req wire.CreateJoinTokenRequest
	if !bindJSON(c, &req) {
		return
	}
	if req.TTL == "" {
		req.TTL = "1h"
	}
	if req.Uses == 0 {
		req.Uses = 1
	}
	ttl, err := time.ParseDuration(req.TTL)
	if err != nil {
		fail(c, invalid("ttl", "ttl "+strconv.Quote(req.TTL)+" is not a duration; use e.g. 30m, 1h or 24h"))
		return
	}
	tok, err := s.cluster.NewJoinToken()
	if err != nil {
		fail(c, err)
		return
	}
	if !s.propose(c, &fsm.CreateJoinToken{ID: tok.ID, Hash: tok.SecretHash(), TTL: ttl, Uses: req.Uses}) {
		return
	}
	stored, err := s.state.JoinToken(tok.ID)
	if err != nil {
		fail(c, err)
		return
	}
	c.JSON(http.StatusCreated, wire.JoinTokenCreated{ID: stored.ID, Token: tok.String(), ExpiresAt: stored.ExpiresAt,
		Uses: stored.Uses, UsesLeft: stored.UsesLeft, CreatedAt: stored.CreatedAt, CreatedBy: stored.CreatedBy})
}

func (s *Server) listJoinTokens(c *gin.Context) {
	p, ok := pageOf(c)
	if !ok {
		return
	}
	l, err := s.state.JoinTokens(p)
	if err != nil {
		fail(c, err)
		return
	}
	views := make([]wire.JoinToken, len(l.Items))
	for i, t := range l.Items {
		views[i] = viewJoinToken(t)
	}
	respondList(c, p, fsm.List[wire.JoinToken]{Items: views, Total: l.Total})
}

func (s *Server) revokeJoinToken(c *gin.Context) {
	if s.propose(c, &fsm.RevokeJoinToken{ID: c.Param("id")}) {
		c.Status(http.StatusNoContent)
	}
}
