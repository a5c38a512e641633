package node_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/certctl/certctl/fsm"
	"github.com/certctl/certctl/node"
	"github.com/certctl/certctl/node/clusterca"
	"github.com/certctl/certctl/node/nodetest"
)

// TestNode_JoinThroughFollower joins a fourth node that knows only a
// follower's address: the follower admits it (token, certificate) and
// relays its request to become a voter to the leader.
func TestNode_JoinThroughFollower(t *testing.T) {
	c := nodetest.NewCluster(t, 3)
	ctx := testCtx(t)
	follower := c.Followers()[0]

	cfg := nodetest.Config(t, "n4")
	cfg.JoinAddrs = []string{follower.Config.APIAddr}
	cfg.JoinToken = c.JoinToken(t)
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

	// Its certificate names it, is recorded, and comes from the cluster CA.
	leaf := m.Node().NodeCertificate()
	id, ok := clusterca.NodeID(leaf)
	assert.True(t, ok)
	assert.Equal(t, "n4", id)
	assert.Equal(t, c.Members[0].Node().CAFingerprint(), m.Node().CAFingerprint())
	nodetest.WaitFor(t, "n4's certificate recorded", func() bool {
		rec, err := c.Leader(t).Node().FSM().Member("n4")
		return err == nil && len(rec.CertSerials) > 0 && rec.CertSerials[0] == clusterca.Serial(leaf)
	})

	// A member's id cannot be bought again while it is a member.
	_, err = c.Leader(t).Node().HandleJoin(ctx, joinRequest(t, "n4", c.JoinToken(t)))
	require.ErrorIs(t, err, fsm.ErrConflict)
}

// joinRequest is a well-formed request for nodeID with its own fresh key.
func joinRequest(t *testing.T, nodeID, token string) node.JoinRequest {
	key, err := clusterca.NewNodeKey()
	require.NoError(t, err)
	der, err := clusterca.NodeCSR(key, nodeID)
	require.NoError(t, err)
	return node.JoinRequest{NodeID: nodeID, RaftAddr: "127.0.0.1:1", APIAddr: "127.0.0.1:2", Token: token,
		CSR: "-----BEGIN CERTIFICATE REQUEST-----\n" + b64(der) + "\n-----END CERTIFICATE REQUEST-----\n"}
}

// TestNode_JoinRefusals tries every way in without a good token: none adds
// anything to the configuration or the members.
func TestNode_JoinRefusals(t *testing.T) {
	c := nodetest.NewCluster(t, 1)
	ctx := testCtx(t)
	leader := c.Members[0].Node()

	expired := proposeToken(t, leader, time.Now().Add(-2*time.Hour), time.Minute, 1)
	revoked := proposeToken(t, leader, time.Now(), time.Hour, 1)
	_, err := leader.Propose(ctx, command(t, &fsm.RevokeJoinToken{ID: mustParse(t, revoked).ID}))
	require.NoError(t, err)
	usedUp := proposeToken(t, leader, time.Now(), time.Hour, 1)
	good := c.JoinToken(t)
	other, err := clusterca.NewJoinToken(strings.Repeat("ab", 32)) // another cluster's CA
	require.NoError(t, err)

	for i, tc := range []struct {
		name, token, want string
	}{
		{"no token", "", "needs a join token"},
		{"expired", expired, "expired"},
		{"revoked", revoked, "revoked"},
		{"unknown secret", strings.Replace(good, mustParse(t, good).Secret, strings.Repeat("A", 43), 1), "unknown"},
		{"another cluster's CA", other.String(), "not from the cluster CA"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := startJoiner(t, c, fmt.Sprintf("x%d", i), tc.token)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
	// A one-use token admits one node, and then no other.
	require.NoError(t, startJoinerMember(t, c, "n2", usedUp))
	err = startJoiner(t, c, "n3", usedUp)
	require.ErrorIs(t, err, node.ErrUnauthorized)
	assert.Contains(t, err.Error(), "used up")

	servers, err := leader.Servers(ctx)
	require.NoError(t, err)
	assert.Len(t, servers, 2, "only n2 was added")
	members, err := leader.FSM().Members()
	require.NoError(t, err)
	assert.Len(t, members, 2)

	// Over HTTP a bad token is a 401 with a code.
	body, _ := json.Marshal(joinRequest(t, "x", ""))
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, "https://"+c.Members[0].Config.APIAddr+node.JoinPath, bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+expired)
	res, err := nodetest.HTTPClient(t, c.Members[0].Config.DataDir, false).Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	assert.Equal(t, http.StatusUnauthorized, res.StatusCode)
}

// startJoiner starts a node that joins c with token and returns Start's error.
func startJoiner(t *testing.T, c *nodetest.Cluster, id, token string) error {
	cfg := nodetest.Config(t, id)
	cfg.JoinAddrs = []string{c.Members[0].Config.APIAddr}
	cfg.JoinToken = token
	cfg.JoinTimeout = 3 * time.Second
	return nodetest.NewMember(t, cfg).Start(testCtx(t))
}

func startJoinerMember(t *testing.T, c *nodetest.Cluster, id, token string) error {
	cfg := nodetest.Config(t, id)
	cfg.JoinAddrs = []string{c.Members[0].Config.APIAddr}
	cfg.JoinToken = token
	m := nodetest.NewMember(t, cfg)
	if err := m.Start(testCtx(t)); err != nil {
		return err
	}
	c.Members = append(c.Members, m)
	return nil
}

// proposeToken creates a join token as of at, returning its string.
func proposeToken(t *testing.T, n *node.Node, at time.Time, ttl time.Duration, uses int) string {
	tok, err := n.NewJoinToken()
	require.NoError(t, err)
	cmd, err := fsm.NewCommand(fsm.Meta{Time: at, Actor: "tester", ActorType: fsm.ActorUser},
		&fsm.CreateJoinToken{ID: tok.ID, Hash: tok.SecretHash(), TTL: ttl, Uses: uses})
	require.NoError(t, err)
	_, err = n.Propose(testCtx(t), cmd)
	require.NoError(t, err)
	return tok.String()
}

func mustParse(t *testing.T, s string) clusterca.JoinToken {
	tok, err := clusterca.ParseJoinToken(s)
	require.NoError(t, err)
	return tok
}

func command(t *testing.T, p fsm.Payload) *fsm.Command {
	cmd, err := fsm.NewCommand(fsm.Meta{Time: time.Now(), Actor: "tester", ActorType: fsm.ActorUser}, p)
	require.NoError(t, err)
	return cmd
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

	// The removed node's certificate opens nothing any more: not the
	// node-to-node API, not the raft port.
	ctx2, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx2, http.MethodPost, "https://"+leader.Config.APIAddr+node.ProposePath, strings.NewReader("{}"))
	res, err := nodetest.HTTPClient(t, gone.Config.DataDir, true).Do(req)
	require.NoError(t, err)
	res.Body.Close()
	assert.Equal(t, http.StatusUnauthorized, res.StatusCode)
	require.Error(t, raftHandshake(t, leader.Node().RaftAddr(), nodetest.ClientTLS(t, gone.Config.DataDir, true)))
	for _, m := range c.Members {
		if m != gone && m != leader {
			require.NoError(t, raftHandshake(t, leader.Node().RaftAddr(), nodetest.ClientTLS(t, m.Config.DataDir, true)),
				"a member's certificate still works")
		}
	}
}
