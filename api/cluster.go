package api

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/certctl/certctl/api/wire"
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
	body.Members = make([]wire.ClusterMember, len(servers))
	var wg sync.WaitGroup
	for i, srv := range servers {
		m := wire.ClusterMember{NodeID: srv.NodeID, RaftAddr: srv.RaftAddr, APIAddr: srv.APIAddr, Suffrage: strings.ToLower(srv.Suffrage)}
		if srv.NodeID == self.NodeID {
			fillMember(&m, self)
			body.Members[i] = m
			continue
		}
		wg.Add(1)
		go func(i int, m wire.ClusterMember) {
			defer wg.Done()
			st, err := s.fetchNodeStatus(ctx, m.APIAddr, c.GetHeader("Authorization"))
			if err != nil {
				m.State, m.Error = "unreachable", err.Error()
			} else {
				fillMember(&m, st)
			}
			body.Members[i] = m
		}(i, m)
	}
	wg.Wait()
	c.JSON(http.StatusOK, body)
}

// fillMember sets a member's progress from its own stats.
func fillMember(m *wire.ClusterMember, st node.NodeStats) {
	m.State = strings.ToLower(st.State)
	m.Term, m.CommitIndex, m.AppliedIndex, m.LastLogIndex = st.Term, st.CommitIndex, st.AppliedIndex, st.LastLogIndex
	m.Healthy = (st.State == "Leader" || st.State == "Follower") && st.LeaderID != ""
	m.ReplicationStalled, m.StalledFollowers, m.ReplicationStalls = st.ReplicationStalled, st.StalledFollowers, st.ReplicationStalls
}

// fetchNodeStatus asks a member for its own progress, presenting the
// caller's credentials, which are valid cluster-wide.
func (s *Server) fetchNodeStatus(ctx context.Context, apiAddr, authorization string) (node.NodeStats, error) {
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
	resp, err := s.peers.Do(req)
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
