package node_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/certctl/certctl/fsm"
	"github.com/certctl/certctl/node"
	"github.com/certctl/certctl/node/nodetest"
)

func TestNode_ProposeOnFollowerAppliesEverywhere(t *testing.T) {
	c := nodetest.NewCluster(t, 3)
	ctx := testCtx(t)
	follower := c.Followers()[0]

	idx, err := follower.Node().Propose(ctx, createTeam(t, "t-follower", "req-1"))
	require.NoError(t, err)
	assert.NotZero(t, idx)
	// Read-your-write on the node that took the write.
	assert.True(t, hasTeam(follower, "t-follower"), "follower applied its own write before Propose returned")
	assert.GreaterOrEqual(t, follower.Node().FSM().AppliedIndex(), idx)

	for _, m := range c.Members {
		nodetest.WaitFor(t, "team on "+m.ID(), func() bool { return hasTeam(m, "t-follower") })
	}
}

func TestNode_ProposeReturnsDomainErrors(t *testing.T) {
	c := nodetest.NewCluster(t, 3)
	ctx := testCtx(t)
	for _, m := range []*nodetest.Member{c.Leader(t), c.Followers()[0]} {
		_, err := m.Node().Propose(ctx, createTeam(t, "t-"+m.ID(), ""))
		require.NoError(t, err)
		idx, err := m.Node().Propose(ctx, createTeam(t, "t-"+m.ID(), ""))
		require.ErrorIs(t, err, fsm.ErrConflict, "through %s", m.ID())
		assert.NotZero(t, idx, "a rejected command still has its entry")
		assert.Equal(t, fsm.CodeConflict, fsm.CodeOf(err))
	}
}

func TestNode_DuplicateRequestIDIsNoOp(t *testing.T) {
	c := nodetest.NewCluster(t, 3)
	ctx := testCtx(t)
	leader, follower := c.Leader(t), c.Followers()[0]

	_, err := follower.Node().Propose(ctx, createTeam(t, "t-dup", "req-dup"))
	require.NoError(t, err)
	// The same request again, through another node: a no-op, not a conflict.
	_, err = leader.Node().Propose(ctx, createTeam(t, "t-dup", "req-dup"))
	require.NoError(t, err)
	_, err = follower.Node().Propose(ctx, createTeam(t, "t-dup", "req-dup"))
	require.NoError(t, err)
	assert.Equal(t, 1, teamCount(t, follower))

	// A new request for the same team is a real duplicate.
	_, err = follower.Node().Propose(ctx, createTeam(t, "t-dup", "req-other"))
	require.ErrorIs(t, err, fsm.ErrConflict)
}

func TestNode_ProposeWithoutLeaderReturnsErrNoLeader(t *testing.T) {
	c := nodetest.NewCluster(t, 3)
	survivor := c.Followers()[0]
	for _, m := range c.Members {
		if m != survivor {
			require.NoError(t, m.Stop())
		}
	}

	// The last leader may have handed over to the survivor, which then
	// steps down for want of a quorum.
	nodetest.WaitFor(t, "the survivor to see no leader", func() bool {
		id, _, _ := survivor.Node().Leader()
		return id == "" && !survivor.Node().IsLeader()
	})

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	start := time.Now()
	_, err := survivor.Node().Propose(ctx, createTeam(t, "t-lost", "req-lost"))
	took := time.Since(start)
	require.ErrorIs(t, err, node.ErrNoLeader)
	assert.Less(t, took, 2500*time.Millisecond, "Propose returns within its ctx")
	assert.False(t, survivor.Node().Ready())
}

func TestNode_ForwardedProposeIsNeverForwardedAgain(t *testing.T) {
	c := nodetest.NewCluster(t, 3)
	ctx := testCtx(t)
	follower := c.Followers()[0]
	body, err := createTeam(t, "t-hop", "").Encode()
	require.NoError(t, err)

	_, err = follower.Node().ApplyForwarded(ctx, "n9", body)
	require.ErrorIs(t, err, node.ErrNotLeader)

	post := func(m *nodetest.Member, client *http.Client, token string) (*http.Response, node.ForwardResponse) {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, "https://"+m.Config.APIAddr+node.ProposePath, bytes.NewReader(body))
		require.NoError(t, err)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		req.Header.Set(node.ForwardedHeader, "test")
		res, err := client.Do(req)
		require.NoError(t, err)
		defer res.Body.Close()
		var fr node.ForwardResponse
		require.NoError(t, json.NewDecoder(res.Body).Decode(&fr))
		return res, fr
	}
	sender := c.Followers()[1]
	asNode := nodetest.HTTPClient(t, sender.Config.DataDir, true)
	res, fr := post(follower, asNode, "")
	assert.Equal(t, http.StatusServiceUnavailable, res.StatusCode)
	require.NotNil(t, fr.Error)
	assert.Equal(t, fsm.Code(node.CodeNoLeader), fr.Error.Code)

	// A token, whatever it is, is never a node's credential.
	noCert := nodetest.HTTPClient(t, sender.Config.DataDir, false)
	res, _ = post(c.Leader(t), noCert, c.JoinToken(t))
	assert.Equal(t, http.StatusUnauthorized, res.StatusCode)
	res, _ = post(c.Leader(t), noCert, "")
	assert.Equal(t, http.StatusUnauthorized, res.StatusCode)

	res, fr = post(c.Leader(t), asNode, "")
	assert.Equal(t, http.StatusOK, res.StatusCode)
	assert.Nil(t, fr.Error)
	assert.NotZero(t, fr.Index)
	// The leader records which node vouched for the actor.
	nodetest.WaitFor(t, "the team on the leader", func() bool { return hasTeam(c.Leader(t), "t-hop") })
	events, err := c.Leader(t).Node().FSM().AuditEvents(fsm.AuditFilter{ResourceID: "t-hop"}, fsm.Page{})
	require.NoError(t, err)
	require.NotEmpty(t, events.Items)
	assert.Equal(t, sender.ID(), events.Items[0].Via)
}

func TestNode_ConcurrentProposalsThroughEveryNode(t *testing.T) {
	c := nodetest.NewCluster(t, 3)
	ctx := testCtx(t)
	const workers, each = 24, 20
	errs := make(chan error, workers)
	for w := range workers {
		m := c.Members[w%len(c.Members)]
		go func() {
			for i := range each {
				id := fmt.Sprintf("t-%d-%d", w, i)
				if _, err := m.Node().Propose(ctx, createTeam(t, id, "req-"+id)); err != nil {
					errs <- fmt.Errorf("%s via %s: %w", id, m.ID(), err)
					return
				}
				if !hasTeam(m, id) {
					errs <- fmt.Errorf("%s not readable on %s right after its write", id, m.ID())
					return
				}
			}
			errs <- nil
		}()
	}
	for range workers {
		require.NoError(t, <-errs)
	}
	for _, m := range c.Members {
		nodetest.WaitFor(t, "every team on "+m.ID(), func() bool { return teamCount(t, m) == workers*each })
	}
}

func TestNode_MalformedForwardedCommandNeverReachesTheLog(t *testing.T) {
	c := nodetest.NewCluster(t, 1)
	leader := c.Leader(t).Node()
	before := leader.Stats().LastLogIndex
	for _, body := range [][]byte{[]byte("not json"), []byte(`{"type":9999,"time":"2026-01-01T00:00:00Z"}`), []byte(`{"type":10,"payload":{}}`)} {
		resp, err := leader.ApplyForwarded(context.Background(), "n2", body)
		require.NoError(t, err)
		require.NotNil(t, resp.Error, "%s", body)
		assert.Equal(t, fsm.CodeInvalid, resp.Error.Code)
	}
	assert.Equal(t, before, leader.Stats().LastLogIndex, "no entry was appended")
}

// A node may change only its own member record, and never the cluster's
// id, CA or membership: those are the leader's own acts.
func TestNode_ForwardedCommandsANodeMayNotSend(t *testing.T) {
	c := nodetest.NewCluster(t, 1)
	leader := c.Leader(t).Node()
	// The node's own member record gets its addresses by a write of its
	// own after bootstrap; compare with that one.
	var self fsm.Member
	nodetest.WaitFor(t, "n1's member record with its addresses", func() bool {
		m, err := leader.FSM().Member("n1")
		self = m
		return err == nil && m.RaftAddr != ""
	})
	clusterID, _ := leader.FSM().ClusterID()
	for _, p := range []fsm.Payload{
		&fsm.RegisterMember{Member: fsm.Member{NodeID: "n1", RaftAddr: "10.9.9.9:1", APIAddr: "10.9.9.9:2"}},
		&fsm.RecordNodeCert{NodeID: "n1", Serial: "0a", NotAfter: time.Now().Add(time.Hour)},
		&fsm.RemoveMember{NodeID: "n1"},
		&fsm.InitCluster{ClusterID: "other"},
	} {
		body, err := command(t, p).Encode()
		require.NoError(t, err)
		_, err = leader.ApplyForwarded(context.Background(), "n2", body)
		require.ErrorIs(t, err, node.ErrForbidden, "%T", p)
	}
	after, err := leader.FSM().Member("n1")
	require.NoError(t, err, "n1 is still a member")
	assert.Equal(t, self.RaftAddr, after.RaftAddr)
	assert.NotContains(t, after.CertSerials, "0a")
	id, _ := leader.FSM().ClusterID()
	assert.Equal(t, clusterID, id)
	body, err := command(t, &fsm.RegisterMember{Member: fsm.Member{NodeID: "n2", RaftAddr: "10.9.9.9:1", APIAddr: "10.9.9.9:2"}}).Encode()
	require.NoError(t, err)
	resp, err := leader.ApplyForwarded(context.Background(), "n2", body)
	require.NoError(t, err)
	assert.Nil(t, resp.Error, "its own record it may change")
}
