package scheduler

import (
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/certctl/certctl/fsm"
	"github.com/certctl/certctl/fsm/fsmtest"
	"github.com/certctl/certctl/node"
	"github.com/certctl/certctl/node/nodetest"
)

var _ Proposer = (*node.Node)(nil)

// TestCluster_RunsOnTheLeaderOnlyAndMovesWithLeadership runs a scheduler on
// every node of a real three-node cluster through node.RunOnLeader: only the
// leader's runs, and when leadership moves, the old leader's stops and the
// new leader's starts and does the work.
func TestCluster_RunsOnTheLeaderOnlyAndMovesWithLeadership(t *testing.T) {
	var mu sync.Mutex
	scheds := map[string]*Scheduler{}
	c := nodetest.NewCluster(t, 3, nodetest.WithBeforeOpen(func(n *node.Node) {
		s, err := New(Config{NodeID: n.ID(), Logger: nodetest.Logger(t, slog.LevelWarn)}, n.FSM(), n)
		require.NoError(t, err)
		n.RunOnLeader("scheduler", s.Run)
		mu.Lock()
		scheds[n.ID()] = s
		mu.Unlock()
	}))
	running := func() []string {
		mu.Lock()
		defer mu.Unlock()
		var ids []string
		for id, s := range scheds {
			if s.Running() {
				ids = append(ids, id)
			}
		}
		return ids
	}

	leader := c.Leader(t)
	nodetest.WaitFor(t, "the leader's scheduler alone to run", func() bool {
		r := running()
		return len(r) == 1 && r[0] == leader.ID()
	})

	// Records the new leader will look after: an agent silent for an hour.
	ctx, cancel := context.WithTimeout(context.Background(), nodetest.WaitTimeout)
	defer cancel()
	propose := func(p fsm.Payload) {
		t.Helper()
		cmd, err := fsm.NewCommand(fsm.Meta{Time: time.Now(), Actor: "tester", ActorType: fsm.ActorUser}, p)
		require.NoError(t, err)
		_, err = c.Followers()[0].Node().Propose(ctx, cmd)
		require.NoError(t, err)
	}
	propose(&fsm.RegisterAgent{Agent: fsmtest.Agent("agent-quiet", "quiet-01")})
	propose(&fsm.RecordHeartbeats{Beats: []fsm.Heartbeat{{AgentID: "agent-quiet", At: time.Now().Add(-time.Hour)}}})

	require.NoError(t, leader.Node().TransferLeadership(ctx))
	next := c.Leader(t)
	require.NotEqual(t, leader.ID(), next.ID())
	nodetest.WaitFor(t, "the scheduler to move to the new leader", func() bool {
		r := running()
		return len(r) == 1 && r[0] == next.ID()
	})

	// The new leader's first health pass sets the agent offline, through raft,
	// and every node sees it.
	for _, m := range c.Running() {
		nodetest.WaitFor(t, "the agent offline on "+m.ID(), func() bool {
			a, err := m.Node().FSM().Agent("agent-quiet")
			return err == nil && a.Status == fsm.AgentOffline
		})
	}
	events, err := next.Node().FSM().AuditEvents(fsm.AuditFilter{Action: "agent_status_changed", ResourceID: "agent-quiet"}, fsm.Page{})
	require.NoError(t, err)
	require.NotEmpty(t, events.Items)
	assert.Equal(t, "scheduler/"+next.ID(), events.Items[0].Actor, "the new leader did it")
}
