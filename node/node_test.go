package node_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/certctl/certctl/node"
	"github.com/certctl/certctl/node/nodetest"
)

func TestNode_ClusterFormsByJoin(t *testing.T) {
	c := nodetest.NewCluster(t, 3)
	ctx := testCtx(t)

	leader := c.Leader(t)
	clusterID, err := leader.Node().FSM().ClusterID()
	require.NoError(t, err)
	assert.Len(t, clusterID, 16)

	for _, m := range c.Members {
		servers, err := m.Node().Servers(ctx)
		require.NoError(t, err)
		require.Len(t, servers, 3, "servers seen by %s", m.ID())
		for _, s := range servers {
			assert.Equal(t, "Voter", s.Suffrage)
			assert.NotEmpty(t, s.APIAddr, "api address of %s", s.NodeID)
		}

		members, err := m.Node().FSM().Members()
		require.NoError(t, err)
		require.Len(t, members, 3)
		for i, mem := range members {
			want := c.Members[i]
			assert.Equal(t, want.ID(), mem.NodeID)
			assert.Equal(t, want.Config.APIAddr, mem.APIAddr)
			assert.Equal(t, want.Node().RaftAddr(), mem.RaftAddr)
		}

		nodetest.WaitFor(t, "node.json of "+m.ID(), func() bool {
			b, err := os.ReadFile(filepath.Join(m.Config.DataDir, "node.json"))
			if err != nil {
				return false
			}
			var ident struct {
				NodeID    string `json:"node_id"`
				ClusterID string `json:"cluster_id"`
			}
			return json.Unmarshal(b, &ident) == nil && ident.NodeID == m.ID() && ident.ClusterID == clusterID
		})
		assert.True(t, m.Node().Ready(), "%s ready", m.ID())
	}
}

func TestNode_RestartKeepsStateAndDoesNotBootstrapAgain(t *testing.T) {
	c := nodetest.NewCluster(t, 3)
	ctx := testCtx(t)
	_, err := c.Members[1].Node().Propose(ctx, createTeam(t, "t-before", "req-before"))
	require.NoError(t, err)
	clusterID, err := c.Members[0].Node().FSM().ClusterID()
	require.NoError(t, err)

	c.Close()
	for _, m := range c.Members {
		require.NoError(t, m.Start(ctx), "restart %s", m.ID())
	}
	c.WaitConverged(t)

	for _, m := range c.Members {
		id, err := m.Node().FSM().ClusterID()
		require.NoError(t, err)
		assert.Equal(t, clusterID, id, "cluster id of %s", m.ID())
		nodetest.WaitFor(t, "t-before on "+m.ID(), func() bool { return hasTeam(m, "t-before") })
		servers, err := m.Node().Servers(ctx)
		require.NoError(t, err)
		assert.Len(t, servers, 3, "n1 bootstrapped again on %s", m.ID())
	}
	_, err = c.Members[2].Node().Propose(ctx, createTeam(t, "t-after", "req-after"))
	require.NoError(t, err)
	for _, m := range c.Members {
		nodetest.WaitFor(t, "t-after on "+m.ID(), func() bool { return hasTeam(m, "t-after") })
		assert.Equal(t, 2, teamCount(t, m))
	}
}

func TestNode_SingleNodeRestart(t *testing.T) {
	c := nodetest.NewCluster(t, 1)
	ctx := testCtx(t)
	m := c.Members[0]
	_, err := m.Node().Propose(ctx, createTeam(t, "t-one", ""))
	require.NoError(t, err)
	applied := m.Node().FSM().AppliedIndex()

	require.NoError(t, m.Stop())
	require.NoError(t, m.Start(ctx))
	c.Leader(t)
	assert.True(t, hasTeam(m, "t-one"))
	assert.GreaterOrEqual(t, m.Node().FSM().AppliedIndex(), applied)
	_, err = m.Node().Propose(ctx, createTeam(t, "t-two", ""))
	require.NoError(t, err)
	assert.Equal(t, 2, teamCount(t, m))
}

func TestNode_ForeignClusterDataDirRefused(t *testing.T) {
	a := nodetest.NewCluster(t, 1)
	b := nodetest.NewCluster(t, 1)
	ctx := testCtx(t)
	idA, _ := a.Members[0].Node().FSM().ClusterID()
	idB, _ := b.Members[0].Node().FSM().ClusterID()
	require.NotEqual(t, idA, idB)

	m := a.Members[0]
	require.NoError(t, m.Stop())
	m.Config.Bootstrap = false
	m.Config.JoinAddrs = []string{b.Members[0].Config.APIAddr}
	err := m.Start(ctx)
	require.Error(t, err)

	var mismatch *node.ClusterMismatchError
	require.ErrorAs(t, err, &mismatch)
	assert.Equal(t, idA, mismatch.LocalCluster)
	assert.Contains(t, mismatch.RemoteCluster, "not from this cluster's CA", "cluster %s is not even reachable over mutual TLS", idB)
	assert.Contains(t, err.Error(), "belongs to cluster "+idA)
	assert.Contains(t, err.Error(), "use an empty data dir to join it")
}

func TestNode_NodeIDMismatchRefused(t *testing.T) {
	c := nodetest.NewCluster(t, 1)
	m := c.Members[0]
	require.NoError(t, m.Stop())

	cfg := m.Config
	cfg.NodeID = "someone-else"
	_, err := node.New(cfg)
	var mismatch *node.NodeIDMismatchError
	require.ErrorAs(t, err, &mismatch)
	assert.Equal(t, "n1", mismatch.Recorded)
	assert.Equal(t, "someone-else", mismatch.Configured)
}

func TestNode_OpenAfterCloseFails(t *testing.T) {
	cfg := nodetest.Config(t, "solo")
	cfg.APIAddr = "127.0.0.1:1"
	cfg.Bootstrap = true
	n, err := node.New(cfg)
	require.NoError(t, err)
	require.NoError(t, n.Close())
	require.NoError(t, n.Close(), "Close is idempotent")
	assert.True(t, errors.Is(n.Open(context.Background()), node.ErrClosed))
}

// A data dir and raft's directories readable by others (an operator's
// mkdir, an old install, raft's own 0755) are private once the node runs.
func TestNode_DataDirsTightenedTo0700(t *testing.T) {
	cfg := nodetest.Config(t, "solo")
	cfg.Bootstrap = true
	dirs := []string{cfg.DataDir, filepath.Join(cfg.DataDir, "raft"), filepath.Join(cfg.DataDir, "raft", "snapshots")}
	for _, d := range dirs {
		require.NoError(t, os.MkdirAll(d, 0o755))
		require.NoError(t, os.Chmod(d, 0o755))
	}
	m := nodetest.NewMember(t, cfg)
	n, err := node.New(m.Config)
	require.NoError(t, err)
	fi, err := os.Stat(cfg.DataDir)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o700), fi.Mode().Perm(), "data dir after New")
	require.NoError(t, n.Close())
	require.NoError(t, m.Start(testCtx(t)))
	for _, d := range dirs {
		fi, err := os.Stat(d)
		require.NoError(t, err)
		assert.Equal(t, os.FileMode(0o700), fi.Mode().Perm(), d)
	}

	// A data dir that does not exist yet is made 0700, parents included.
	cfg2 := nodetest.Config(t, "fresh")
	cfg2.DataDir, cfg2.APIAddr = filepath.Join(cfg2.DataDir, "new", "data"), "127.0.0.1:1"
	n2, err := node.New(cfg2)
	require.NoError(t, err)
	t.Cleanup(func() { n2.Close() })
	fi, err = os.Stat(cfg2.DataDir)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o700), fi.Mode().Perm())
}
