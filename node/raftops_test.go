package node_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/certctl/certctl/fsm"
	"github.com/certctl/certctl/node"
	"github.com/certctl/certctl/node/nodetest"
)

func TestNode_TransferLeadershipTo(t *testing.T) {
	c := nodetest.NewCluster(t, 3)
	ctx := testCtx(t)
	leader := c.Leader(t)
	target := c.Followers()[1]

	_, err := target.Node().TransferLeadershipTo(ctx, "")
	require.ErrorIs(t, err, node.ErrNotLeader)
	_, err = leader.Node().TransferLeadershipTo(ctx, "nobody")
	require.ErrorIs(t, err, fsm.ErrNotFound)
	same, err := leader.Node().TransferLeadershipTo(ctx, leader.ID())
	require.NoError(t, err)
	assert.Equal(t, leader.ID(), same.NodeID)

	got, err := leader.Node().TransferLeadershipTo(ctx, target.ID())
	require.NoError(t, err)
	assert.Equal(t, target.ID(), got.NodeID)
	assert.Equal(t, target.ID(), c.Leader(t).ID())

	// And to whichever follower is most up to date.
	got, err = target.Node().TransferLeadershipTo(ctx, "")
	require.NoError(t, err)
	assert.NotEqual(t, target.ID(), got.NodeID)
}

// TestNode_Leave: a follower and then the leader leave; each is gone from
// the configuration and the member records, and the rest still commit.
func TestNode_Leave(t *testing.T) {
	c := nodetest.NewCluster(t, 3)
	ctx := testCtx(t)
	follower := c.Followers()[0]
	require.NoError(t, follower.Node().Leave(ctx))
	leader := c.Leader(t)
	var two []string
	for _, m := range c.Members {
		if m != follower {
			two = append(two, m.ID())
		}
	}
	requireServers(t, leader, two...)
	_, err := leader.Node().FSM().Member(follower.ID())
	assert.ErrorIs(t, err, fsm.ErrNotFound)
	require.NoError(t, follower.Stop())

	require.NoError(t, leader.Node().Leave(ctx))
	var rest *nodetest.Member
	for _, m := range c.Members {
		if m != leader && m != follower {
			rest = m
		}
	}
	nodetest.WaitFor(t, "the last member leads", func() bool { return rest.Node().IsLeader() })
	requireServers(t, rest, rest.ID())
	_, err = rest.Node().Propose(ctx, createTeam(t, "t-after-leave", ""))
	require.NoError(t, err, "a cluster of one commits")
	// The last voter cannot leave.
	require.ErrorIs(t, rest.Node().Leave(ctx), fsm.ErrState)
}

// requireServers waits until m's raft configuration is exactly want, in
// any order.
func requireServers(t *testing.T, m *nodetest.Member, want ...string) {
	t.Helper()
	nodetest.WaitFor(t, fmt.Sprintf("configuration %v", want), func() bool {
		servers, err := m.Node().Servers(testCtx(t))
		if err != nil || len(servers) != len(want) {
			return false
		}
		for _, s := range servers {
			found := false
			for _, id := range want {
				found = found || s.NodeID == id
			}
			if !found {
				return false
			}
		}
		return true
	})
}

// TestNode_RecoverLostQuorum loses two nodes of three for good, recovers
// the survivor offline, and checks that it keeps every write, leads alone,
// takes writes and admits a new node.
func TestNode_RecoverLostQuorum(t *testing.T) {
	c := nodetest.NewCluster(t, 3)
	ctx := testCtx(t)
	const writes = 50
	for i := range writes {
		// Acknowledged writes, through whichever node leads; a retry
		// carries the same request id, so it is applied once.
		id := fmt.Sprintf("t-before-%02d", i)
		cmd := createTeam(t, id, "req-"+id)
		nodetest.WaitFor(t, "write "+id+" acknowledged", func() bool {
			_, err := c.Leader(t).Node().Propose(ctx, cmd)
			return err == nil || errors.Is(err, fsm.ErrConflict)
		})
	}
	survivor := c.Followers()[0]
	nodetest.WaitFor(t, "the survivor holds every write", func() bool { return hasTeam(survivor, fmt.Sprintf("t-before-%02d", writes-1)) })
	for _, m := range c.Members {
		require.NoError(t, m.Stop())
	}

	_, err := node.Recover(node.RecoverConfig{DataDir: survivor.Config.DataDir, NodeID: "someone-else"})
	var mismatch *node.NodeIDMismatchError
	require.ErrorAs(t, err, &mismatch)
	_, err = node.Recover(node.RecoverConfig{DataDir: t.TempDir()})
	require.ErrorIs(t, err, node.ErrNoRaftState)

	res, err := node.Recover(node.RecoverConfig{DataDir: survivor.Config.DataDir, AuditKey: survivor.Config.AuditKey})
	require.NoError(t, err)
	assert.Equal(t, survivor.ID(), res.NodeID)
	assert.Len(t, res.Dropped, 2)
	assert.NotZero(t, res.Index)

	require.NoError(t, survivor.Start(ctx))
	nodetest.WaitFor(t, "the survivor leads alone", func() bool { return survivor.Node().IsLeader() })
	requireServers(t, survivor, survivor.ID())
	for i := range writes {
		require.True(t, hasTeam(survivor, fmt.Sprintf("t-before-%02d", i)), "write %d survives", i)
	}
	_, err = survivor.Node().Propose(ctx, createTeam(t, "t-after-recover", ""))
	require.NoError(t, err)
	v, err := survivor.Node().FSM().VerifyAudit()
	require.NoError(t, err)
	assert.True(t, v.Valid, "audit chain intact: %+v", v)
	assert.True(t, v.Keyed)

	// A new node joins the recovered cluster.
	cl := &nodetest.Cluster{Members: []*nodetest.Member{survivor}}
	cfg := nodetest.Config(t, "n4")
	cfg.JoinAddrs = []string{survivor.Config.APIAddr}
	cfg.JoinToken = cl.JoinToken(t)
	m := nodetest.NewMember(t, cfg)
	require.NoError(t, m.Start(ctx))
	requireServers(t, survivor, survivor.ID(), "n4")
	nodetest.WaitFor(t, "n4 holds the recovered data", func() bool { return hasTeam(m, "t-after-recover") && hasTeam(m, "t-before-00") })
}
