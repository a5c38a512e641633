package api

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/certctl/certctl/fsm"
	"github.com/certctl/certctl/node"
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
	CheckJoinToken(token string) bool
	Remove(ctx context.Context, nodeID string) error
	ProposeHandler() http.Handler
	JoinHandler() http.Handler
}

// memberStatus is one member in GET /api/v1/cluster.
type memberStatus struct {
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
	Error        string `json:"error,omitempty"`
}

type leaderStatus struct {
	NodeID   string `json:"node_id"`
	RaftAddr string `json:"raft_addr"`
	APIAddr  string `json:"api_addr"`
}

type clusterBody struct {
	ClusterID string         `json:"cluster_id"`
	NodeID    string         `json:"node_id"`
	Leader    *leaderStatus  `json:"leader,omitempty"`
	Members   []memberStatus `json:"members"`
}

// peerClient asks other members for their own view; short timeouts keep the
// overview fast when a member is down.
var peerClient = &http.Client{Timeout: 1500 * time.Millisecond}

// clusterStatus names the members, the leader and each node's raft progress,
// asking every member for its own applied index.
func (s *Server) clusterStatus(c *gin.Context) {
	clusterID, err := s.state.ClusterID()
	if err != nil {
		fail(c, err)
		return
	}
	self := s.cluster.Stats()
	body := clusterBody{ClusterID: clusterID, NodeID: self.NodeID, Members: []memberStatus{}}
	if id, raftAddr, apiAddr := s.cluster.Leader(); id != "" {
		body.Leader = &leaderStatus{NodeID: id, RaftAddr: raftAddr, APIAddr: apiAddr}
	}
	ctx, cancel := context.WithTimeout(c.Request.Context(), 2*time.Second)
	defer cancel()
	servers, err := s.cluster.Servers(ctx)
	if err != nil {
		fail(c, err)
		return
	}
	body.Members = make([]memberStatus, len(servers))
	var wg sync.WaitGroup
	for i, srv := range servers {
		m := memberStatus{NodeID: srv.NodeID, RaftAddr: srv.RaftAddr, APIAddr: srv.APIAddr, Suffrage: strings.ToLower(srv.Suffrage)}
		if srv.NodeID == self.NodeID {
			m.fill(self)
			body.Members[i] = m
			continue
		}
		wg.Add(1)
		go func(i int, m memberStatus) {
			defer wg.Done()
			st, err := fetchNodeStatus(ctx, m.APIAddr, c.GetHeader("Authorization"))
			if err != nil {
				m.State, m.Error = "unreachable", err.Error()
			} else {
				m.fill(st)
			}
			body.Members[i] = m
		}(i, m)
	}
	wg.Wait()
	c.JSON(http.StatusOK, body)
}

func (m *memberStatus) fill(st node.NodeStats) {
	m.State = strings.ToLower(st.State)
	m.Term, m.CommitIndex, m.AppliedIndex, m.LastLogIndex = st.Term, st.CommitIndex, st.AppliedIndex, st.LastLogIndex
	m.Healthy = (st.State == "Leader" || st.State == "Follower") && st.LeaderID != ""
}

// fetchNodeStatus asks a member for its own progress, presenting the
// caller's credentials, which are valid cluster-wide.
func fetchNodeStatus(ctx context.Context, apiAddr, authorization string) (node.NodeStats, error) {
	var st node.NodeStats
	if apiAddr == "" {
		return st, errNoAPIAddr
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+apiAddr+"/api/v1/cluster/node", nil)
	if err != nil {
		return st, err
	}
	if authorization != "" {
		req.Header.Set("Authorization", authorization)
	}
	resp, err := peerClient.Do(req)
	if err != nil {
		return st, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return st, &peerError{status: resp.StatusCode}
	}
	err = json.NewDecoder(resp.Body).Decode(&st)
	return st, err
}

type peerError struct{ status int }

func (e *peerError) Error() string { return "member answered " + http.StatusText(e.status) }

var errNoAPIAddr = &peerError{status: http.StatusServiceUnavailable}

// nodeStatus is this node's own raft progress, for clusterStatus on others.
func (s *Server) nodeStatus(c *gin.Context) {
	c.JSON(http.StatusOK, s.cluster.Stats())
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
