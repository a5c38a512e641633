package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/certctl/certctl/api/wire"
)

// raftCLI runs `certctl operator raft ...` as an admin against servers.
func raftCLI(t *testing.T, c *Cluster, servers []*Node, args ...string) cliRun {
	t.Helper()
	urls := make([]string, len(servers))
	for i, n := range servers {
		urls[i] = n.URL()
	}
	return runCLI(t, append([]string{"--server", strings.Join(urls, ","), "--ca-file", c.CAFile(), "--api-key", AdminKey,
		"operator", "raft"}, args...)...)
}

// listPeers runs list-peers -o json against servers.
func listPeers(t *testing.T, c *Cluster, servers ...*Node) wire.RaftPeers {
	t.Helper()
	var p wire.RaftPeers
	raftCLI(t, c, servers, "list-peers", "-o", "json").requireCode(t, 0).decode(t, &p)
	return p
}

// peerIDs returns the ids of p's peers, sorted, and the leader's.
func peerIDs(p wire.RaftPeers) (ids []string, leader string) {
	for _, peer := range p.Peers {
		ids = append(ids, peer.NodeID)
		if peer.Leader {
			leader = peer.NodeID
		}
	}
	sort.Strings(ids)
	return ids, leader
}

// waitPeers waits until list-peers through servers names exactly want
// (sorted), every one healthy, with a leader among them.
func waitPeers(t *testing.T, c *Cluster, servers []*Node, want ...string) wire.RaftPeers {
	t.Helper()
	sort.Strings(want)
	var p wire.RaftPeers
	c.Wait(fmt.Sprintf("peers %v", want), func(ctx context.Context) error {
		p = listPeers(t, c, servers...)
		ids, leader := peerIDs(p)
		if strings.Join(ids, ",") != strings.Join(want, ",") {
			return fmt.Errorf("peers are %v", ids)
		}
		if leader == "" {
			return fmt.Errorf("no leader among %v", ids)
		}
		for _, peer := range p.Peers {
			if !peer.Healthy {
				return fmt.Errorf("%s is not healthy: %s", peer.NodeID, peer.Error)
			}
		}
		return nil
	})
	return p
}

// TestRaftOps_MembershipAndLostQuorum drives the membership commands on a
// three-node cluster (list-peers, remove-peer, a new node joining with a join
// token, transfer-leader), then loses two of the three nodes for good and
// recovers the survivor with the procedure of docs/operations.md: every
// write the survivor held is still there, it takes writes, and a new node
// joins it.
func TestRaftOps_MembershipAndLostQuorum(t *testing.T) {
	skipShort(t)
	c := NewCluster(t, certctlBin)
	c.Start(3)
	leader := c.WaitLeader()
	fx := c.Seed(leader)
	cl := c.Client()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()

	// list-peers shows every member, the leader marked, through a follower.
	fs := c.Followers(leader)
	p := waitPeers(t, c, fs[:1], "n1", "n2", "n3")
	for _, peer := range p.Peers {
		n := c.ByID(peer.NodeID)
		require.NotNil(t, n, "unknown peer %s", peer.NodeID)
		assert.Equal(t, n.RaftAddr, peer.RaftAddr)
		assert.Equal(t, n.APIAddr, peer.APIAddr)
		assert.Equal(t, "voter", peer.Suffrage)
		assert.Equal(t, n == leader, peer.Leader, "leader flag of %s", peer.NodeID)
		assert.NotZero(t, peer.LastIndex, "last index of %s", peer.NodeID)
	}
	table := raftCLI(t, c, fs[:1], "list-peers").requireCode(t, 0).stdout
	for _, h := range []string{"NODE", "RAFT ADDR", "API ADDR", "SUFFRAGE", "LEADER", "LAST INDEX", "HEALTHY", "n1", "n2", "n3", "voter"} {
		assert.Contains(t, table, h)
	}

	// remove-peer, asked of the other follower: the command finds the leader.
	gone := fs[0]
	r := raftCLI(t, c, fs[1:], "remove-peer", gone.ID).requireCode(t, 0)
	assert.Contains(t, r.stdout, "removed node "+gone.ID)
	c.Kill(gone)
	require.NoError(t, os.RemoveAll(gone.DataDir))
	rest := c.Live()
	waitPeers(t, c, rest, leader.ID, fs[1].ID)
	r = raftCLI(t, c, rest, "remove-peer", "nobody").requireCode(t, 1)
	assert.Contains(t, r.stderr, "nobody")

	// A new node joins with a join token.
	added := c.Join()
	waitPeers(t, c, c.Live(), leader.ID, fs[1].ID, added.ID)

	// transfer-leader to a named voter, through a follower, then to any.
	var moved wire.TransferLeaderResponse
	raftCLI(t, c, []*Node{added}, "transfer-leader", fs[1].ID, "-o", "json").requireCode(t, 0).decode(t, &moved)
	assert.Equal(t, fs[1].ID, moved.Leader.NodeID)
	assert.Equal(t, fs[1].ID, c.WaitLeader().ID)
	r = raftCLI(t, c, c.Live(), "transfer-leader").requireCode(t, 0)
	newLeader := c.WaitLeader()
	assert.NotEqual(t, fs[1].ID, newLeader.ID)
	assert.Contains(t, r.stdout, newLeader.ID)
	r = raftCLI(t, c, c.Live(), "transfer-leader", "nobody").requireCode(t, 1)
	assert.Contains(t, r.stderr, "nobody")

	// Acknowledged writes; the survivor (a follower) holds them all.
	live := c.Live()
	w := NewWriter(cl, c.Live, fx, "mc-quorum", 10*time.Second)
	w.Start()
	c.Wait("200 acknowledged writes", func(context.Context) error {
		if n := w.AckedCount(); n < 200 {
			return fmt.Errorf("%d acknowledged", n)
		}
		return nil
	})
	w.Stop()
	before := w.Acked()
	survivor := c.Followers(c.WaitLeader())[0]
	c.Wait("the survivor holds every acknowledged write", func(ctx context.Context) error {
		ids, err := cl.CertificateIDs(ctx, survivor.URL())
		if err != nil {
			return err
		}
		for _, id := range before {
			if !ids[id] {
				return fmt.Errorf("%s not on %s yet", id, survivor.ID)
			}
		}
		return nil
	})

	// Lose the two others for good, under writes: kill -9, data dirs gone.
	w2 := NewWriter(cl, c.Live, fx, "mc-loss", 2*time.Second)
	w2.Start()
	c.Wait("writes under way", func(context.Context) error {
		if w2.AckedCount() < 20 {
			return fmt.Errorf("%d acknowledged", w2.AckedCount())
		}
		return nil
	})
	for _, n := range live {
		if n != survivor {
			c.Kill(n)
			require.NoError(t, os.RemoveAll(n.DataDir))
		}
	}
	w2.Stop()
	held, err := cl.CertificateIDs(ctx, survivor.URL())
	require.NoError(t, err, "the survivor serves local reads without a quorum")
	r = runCLI(t, "operator", "raft", "recover", "--data-dir", survivor.DataDir, "--kek-file", c.KEKFile()).requireCode(t, 1)
	assert.Contains(t, r.stderr, "another certctl running", "a running node is never rewritten")
	c.Stop(survivor)

	// The documented recovery, then a restart.
	var res struct {
		NodeID  string   `json:"node_id"`
		Index   uint64   `json:"index"`
		Dropped []string `json:"dropped"`
	}
	// As docs/operations.md runs it: with the node's own configuration file.
	cfgFile := filepath.Join(t.TempDir(), "certctl.yaml")
	require.NoError(t, os.WriteFile(cfgFile, []byte(fmt.Sprintf("node_id: %s\ndata_dir: %s\napi_addr: %s\nraft_addr: %s\nkek_file: %s\n",
		survivor.ID, survivor.DataDir, survivor.APIAddr, survivor.RaftAddr, c.KEKFile())), 0o600))
	runCLI(t, "operator", "raft", "recover", "--config", cfgFile, "-o", "json").requireCode(t, 0).decode(t, &res)
	assert.Equal(t, survivor.ID, res.NodeID)
	assert.Len(t, res.Dropped, 2)
	assert.NotZero(t, res.Index)
	c.Restart(survivor)
	waitPeers(t, c, []*Node{survivor}, survivor.ID)
	assert.Equal(t, survivor.ID, c.WaitLeader().ID)

	after, err := cl.CertificateIDs(ctx, survivor.URL())
	require.NoError(t, err)
	lost := 0
	for id := range held {
		if !after[id] {
			lost++
			t.Errorf("%s was on the survivor before the loss and is gone", id)
		}
	}
	for _, id := range before {
		assert.True(t, after[id], "acknowledged write %s (held by the survivor) survives", id)
	}
	heldAcked := 0
	for _, id := range w2.Acked() {
		if held[id] {
			heldAcked++
		}
	}
	t.Logf("before the loss: %d writes acknowledged and held; during it: %d acknowledged, %d of them held by the survivor; %d certificates held, %d after recovery, %d lost",
		len(before), w2.AckedCount(), heldAcked, len(held), len(after), lost)
	assert.GreaterOrEqual(t, len(after), len(held))

	// The recovered cluster takes writes and a new member.
	_, err = cl.CreateCertificate(ctx, survivor.URL(), fx.NewCertificate("mc-after-recovery"))
	require.NoError(t, err)
	joined := c.Join()
	waitPeers(t, c, c.Live(), survivor.ID, joined.ID)
	c.Wait(joined.ID+" holds the recovered data", func(ctx context.Context) error {
		ids, err := cl.CertificateIDs(ctx, joined.URL())
		if err != nil {
			return err
		}
		if !ids["mc-after-recovery"] || len(ids) != len(after)+1 {
			return fmt.Errorf("%d certificates on %s, want %d", len(ids), joined.ID, len(after)+1)
		}
		return nil
	})
	_, err = cl.CreateCertificate(ctx, joined.URL(), fx.NewCertificate("mc-after-join"))
	require.NoError(t, err, "a write through the new member commits")
}

// TestRaftOps_LeaveOnTerminate: a node stopped with leave_on_terminate is
// gone from list-peers, even when it led (it hands leadership over first);
// one stopped without it stays a member.
func TestRaftOps_LeaveOnTerminate(t *testing.T) {
	skipShort(t)
	c := NewCluster(t, certctlBin, WithNodeArgs(func(id string) []string {
		if id == "n3" {
			return []string{"--leave-on-terminate"}
		}
		return nil
	}))
	c.Start(3)
	leaving, staying, asked := c.ByID("n3"), c.ByID("n2"), c.ByID("n1")

	// n3 leads when it is stopped.
	raftCLI(t, c, []*Node{asked}, "transfer-leader", leaving.ID).requireCode(t, 0)
	require.Equal(t, leaving.ID, c.WaitLeader().ID)
	c.Stop(leaving)
	assert.Contains(t, leaving.Log(), "left the cluster")
	p := waitPeers(t, c, []*Node{asked}, asked.ID, staying.ID)
	_, leader := peerIDs(p)
	assert.NotEqual(t, leaving.ID, leader)
	_, err := c.Client().CreateCertificate(context.Background(), asked.URL(), c.Seed(asked).NewCertificate("mc-after-leave"))
	require.NoError(t, err, "the two left commit")

	// Without the setting a stopped node stays in the configuration.
	c.Stop(staying)
	p = listPeers(t, c, asked)
	ids, _ := peerIDs(p)
	assert.Equal(t, []string{asked.ID, staying.ID}, ids, "a plain stop keeps the node a member")
	for _, peer := range p.Peers {
		if peer.NodeID == staying.ID {
			assert.False(t, peer.Healthy)
			assert.NotEmpty(t, peer.Error)
		}
	}
	c.Restart(staying)
	waitPeers(t, c, []*Node{asked}, asked.ID, staying.ID)
}
