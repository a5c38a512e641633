package node_test

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/certctl/certctl/node"
	"github.com/certctl/certctl/node/nodetest"
)

func smallSnapshots(cfg *node.Config) {
	cfg.SnapshotThreshold = 32
	cfg.SnapshotInterval = 50 * time.Millisecond
	cfg.TrailingLogs = 8
}

func snapshotCount(dataDir string) int {
	entries, _ := os.ReadDir(filepath.Join(dataDir, "raft", "snapshots"))
	return len(entries)
}

// TestNode_SnapshotsTruncateAndSeedNewNodes writes past the snapshot
// threshold, so raft truncates its log; a node that joins afterwards can only
// get the state through a snapshot, and a node that lost its state file gets
// it back from its own snapshot.
func TestNode_SnapshotsTruncateAndSeedNewNodes(t *testing.T) {
	c := nodetest.NewCluster(t, 1, nodetest.WithConfig(smallSnapshots))
	ctx := testCtx(t)
	first := c.Members[0]
	const teams = 100
	for i := range teams {
		_, err := first.Node().Propose(ctx, createTeam(t, fmt.Sprintf("t-%03d", i), ""))
		require.NoError(t, err)
	}
	nodetest.WaitFor(t, "a snapshot", func() bool { return snapshotCount(first.Config.DataDir) > 0 })

	cfg := nodetest.Config(t, "n2")
	smallSnapshots(&cfg)
	cfg.JoinAddrs = []string{first.Config.APIAddr}
	cfg.JoinToken = c.JoinToken(t)
	second := nodetest.NewMember(t, cfg)
	require.NoError(t, second.Start(ctx))
	c.Members = append(c.Members, second)
	nodetest.WaitFor(t, "state on the new node", func() bool { return hasTeam(second, "t-099") })
	assert.Equal(t, teams, teamCount(t, second))

	// Lose the first node's state file: on restart it is rebuilt from the
	// newest snapshot plus the log after it.
	require.NoError(t, first.Stop())
	require.NoError(t, os.Remove(filepath.Join(first.Config.DataDir, "state.db")))
	require.NoError(t, first.Start(ctx))
	c.WaitConverged(t)
	nodetest.WaitFor(t, "state rebuilt on "+first.ID(), func() bool { return teamCount(t, first) == teams })
	_, err := first.Node().Propose(ctx, createTeam(t, "t-after", ""))
	require.NoError(t, err)
}

// TestNode_RestartTakesDueSnapshot checks that a restart does not reset the
// way to log truncation: with a snapshot interval far beyond the test, the
// snapshot due before the restart is taken right after it.
func TestNode_RestartTakesDueSnapshot(t *testing.T) {
	c := nodetest.NewCluster(t, 1, nodetest.WithConfig(func(cfg *node.Config) {
		cfg.SnapshotThreshold = 32
		cfg.SnapshotInterval = time.Hour
		cfg.TrailingLogs = 8
	}))
	ctx := testCtx(t)
	m := c.Members[0]
	for i := range 50 {
		_, err := m.Node().Propose(ctx, createTeam(t, fmt.Sprintf("t-%03d", i), ""))
		require.NoError(t, err)
	}
	require.Zero(t, snapshotCount(m.Config.DataDir))

	require.NoError(t, m.Stop())
	require.NoError(t, m.Start(ctx))
	c.Leader(t)
	// Raft snapshots once it has applied an entry since the restart.
	_, err := m.Node().Propose(ctx, createTeam(t, "t-after", ""))
	require.NoError(t, err)
	nodetest.WaitFor(t, "a snapshot after the restart", func() bool { return snapshotCount(m.Config.DataDir) > 0 })
	assert.Equal(t, 51, teamCount(t, m))
}
