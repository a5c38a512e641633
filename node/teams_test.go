package node_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/certctl/certctl/fsm"
	"github.com/certctl/certctl/node"
	"github.com/certctl/certctl/node/nodetest"
)

// testCtx returns a context that ends with the test or after the package's
// wait timeout.
func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), nodetest.WaitTimeout)
	t.Cleanup(cancel)
	return ctx
}

// createTeam returns a CreateTeam command for a team named like its id.
func createTeam(t testing.TB, id, requestID string) *fsm.Command {
	t.Helper()
	cmd, err := fsm.NewCommand(fsm.Meta{RequestID: requestID, Time: time.Now(), Actor: "test", ActorType: fsm.ActorUser},
		&fsm.CreateTeam{Team: fsm.Team{ID: id, Name: id}})
	require.NoError(t, err)
	return cmd
}

// hasTeam reports whether m's state holds team id.
func hasTeam(m *nodetest.Member, id string) bool {
	n := m.Node()
	if n == nil {
		return false
	}
	_, err := n.FSM().Team(id)
	return err == nil
}

// teamCount returns how many teams m's state holds.
func teamCount(t testing.TB, m *nodetest.Member) int {
	t.Helper()
	l, err := m.Node().FSM().Teams(fsm.Page{Page: 1, PerPage: 1})
	require.NoError(t, err)
	return l.Total
}

// proposeOnLeader proposes cmd on c's leader, again on the leader of the
// moment while an election (-race on a loaded machine) answers that nothing
// or maybe something was written: the command's request id makes a repeat
// apply once, as a client's retry with its Idempotency-Key does.
func proposeOnLeader(t *testing.T, c *nodetest.Cluster, cmd *fsm.Command) {
	t.Helper()
	if cmd.RequestID == "" {
		t.Fatal("proposeOnLeader needs a command with a request id, so that a repeat applies once")
	}
	var err error
	for range 20 {
		if _, err = c.Leader(t).Node().Propose(testCtx(t), cmd); err == nil ||
			!(errors.Is(err, node.ErrLeadershipLost) || errors.Is(err, node.ErrNotLeader) || errors.Is(err, node.ErrNoLeader)) {
			break
		}
	}
	require.NoError(t, err)
}
