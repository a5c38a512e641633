package node_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/certctl/certctl/fsm"
	"github.com/certctl/certctl/node/nodetest"
)

// TestNode_ReplicasKeepTheSameKeyedChain checks that Config.AuditKey reaches
// the state machine: every node writes keyed links, and since every node has
// the same key their heads agree at the same raft index.
func TestNode_ReplicasKeepTheSameKeyedChain(t *testing.T) {
	c := nodetest.NewCluster(t, 3)
	ctx := testCtx(t)
	idx, err := c.Followers()[0].Node().Propose(ctx, createTeam(t, "t-audit", "req-audit"))
	require.NoError(t, err)
	for _, m := range c.Members {
		require.NoError(t, m.Node().FSM().WaitApplied(ctx, idx))
	}

	var heads []fsm.AuditHead
	for _, m := range c.Members {
		v, err := m.Node().FSM().VerifyAudit()
		require.NoError(t, err)
		assert.True(t, v.Valid, "%s: %+v", m.ID(), v.Break)
		assert.True(t, v.Keyed, m.ID())
		assert.Equal(t, uint64(1), v.KeyedFrom, m.ID())
		h, err := m.Node().FSM().AuditHeadAt(idx)
		require.NoError(t, err)
		require.NotZero(t, h.Seq)
		heads = append(heads, fsm.AuditHead{Seq: h.Seq, Hash: h.Hash, ID: h.ID, RaftIndex: h.RaftIndex})
	}
	assert.Equal(t, heads[0], heads[1])
	assert.Equal(t, heads[0], heads[2])
}
