package node_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/certctl/certctl/fsm"
	"github.com/certctl/certctl/node"
	"github.com/certctl/certctl/node/nodetest"
)

// TestNode_JoinThroughFollower joins a fourth node that knows only a
// follower's address: the follower forwards the join to the leader once.
func TestNode_JoinThroughFollower(t *testing.T) {
	c := nodetest.NewCluster(t, 3)
	ctx := testCtx(t)
	follower := c.Followers()[0]

	cfg := nodetest.Config(t, "n4")
	cfg.JoinAddrs = []string{follower.Config.APIAddr}
	m := nodetest.NewMember(t, cfg)
	require.NoError(t, m.Start(ctx))
	c.Members = append(c.Members, m)
	c.WaitConverged(t)

	servers, err := c.Leader(t).Node().Servers(ctx)
	require.NoError(t, err)
	assert.Len(t, servers, 4)
	want, _ := c.Members[0].Node().FSM().ClusterID()
	got, _ := m.Node().FSM().ClusterID()
	assert.Equal(t, want, got)

	// Joining again with the same id and address changes nothing.
	resp, err := c.Leader(t).Node().HandleJoin(ctx, node.JoinRequest{
		NodeID: "n4", RaftAddr: m.Node().RaftAddr(), APIAddr: m.Config.APIAddr, Token: nodetest.Token,
	})
	require.NoError(t, err)
	assert.Equal(t, want, resp.ClusterID)
	servers, err = c.Leader(t).Node().Servers(ctx)
	require.NoError(t, err)
	assert.Len(t, servers, 4)
}

func TestNode_HandleJoinRefusals(t *testing.T) {
	c := nodetest.NewCluster(t, 3)
	ctx := testCtx(t)
	leader, follower := c.Leader(t), c.Followers()[0]

	_, err := leader.Node().HandleJoin(ctx, node.JoinRequest{NodeID: "x", RaftAddr: "127.0.0.1:1", APIAddr: "127.0.0.1:2", Token: "wrong"})
	require.ErrorIs(t, err, node.ErrUnauthorized)

	_, err = leader.Node().HandleJoin(ctx, node.JoinRequest{NodeID: "bad id!", RaftAddr: "127.0.0.1:1", APIAddr: "127.0.0.1:2", Token: nodetest.Token})
	require.ErrorIs(t, err, fsm.ErrInvalid)

	// The hop guard: a forwarded join reaching a follower goes no further.
	_, err = follower.Node().HandleJoin(ctx, node.JoinRequest{NodeID: "x", RaftAddr: "127.0.0.1:1", APIAddr: "127.0.0.1:2", Token: nodetest.Token, ForwardedBy: "n9"})
	require.ErrorIs(t, err, node.ErrNotLeader)

	// Over HTTP a wrong token is a 401 with a code.
	body, _ := json.Marshal(node.JoinRequest{NodeID: "x", RaftAddr: "127.0.0.1:1", APIAddr: "127.0.0.1:2"})
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+leader.Config.APIAddr+node.JoinPath, bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer wrong")
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	assert.Equal(t, http.StatusUnauthorized, res.StatusCode)
}

func TestNode_JoinWithWrongTokenFailsFast(t *testing.T) {
	c := nodetest.NewCluster(t, 1)
	cfg := nodetest.Config(t, "n2")
	cfg.JoinAddrs = []string{c.Members[0].Config.APIAddr}
	cfg.JoinToken = "not-the-token"
	m := nodetest.NewMember(t, cfg)
	err := m.Start(testCtx(t))
	require.ErrorIs(t, err, node.ErrUnauthorized)
}

func TestNode_Remove(t *testing.T) {
	c := nodetest.NewCluster(t, 3)
	ctx := testCtx(t)
	leader := c.Leader(t)
	gone := c.Followers()[0]

	require.ErrorIs(t, gone.Node().Remove(ctx, leader.ID()), node.ErrNotLeader)
	require.NoError(t, leader.Node().Remove(ctx, gone.ID()))

	servers, err := leader.Node().Servers(ctx)
	require.NoError(t, err)
	assert.Len(t, servers, 2)
	members, err := leader.Node().FSM().Members()
	require.NoError(t, err)
	assert.Len(t, members, 2)
	_, err = leader.Node().FSM().Member(gone.ID())
	assert.ErrorIs(t, err, fsm.ErrNotFound)

	require.ErrorIs(t, leader.Node().Remove(ctx, "nobody"), fsm.ErrNotFound)

	// The two remaining voters still commit.
	_, err = leader.Node().Propose(ctx, createTeam(t, "t-after-remove", ""))
	require.NoError(t, err)
}
