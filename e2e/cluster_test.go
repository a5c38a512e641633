package e2e

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestCluster_ThreeNodesReplicate(t *testing.T) {
	skipShort(t)
	c := NewCluster(t, certctlBin)
	c.Start(3)
	leader := c.WaitLeader()
	cl := c.Client()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	// Every node describes the same cluster, names itself and the leader.
	var clusterID string
	for _, n := range c.Nodes() {
		ci, err := cl.Cluster(ctx, n.URL())
		require.NoError(t, err)
		assert.NotEmpty(t, ci.ClusterID, "cluster_id on %s", n.ID)
		if clusterID == "" {
			clusterID = ci.ClusterID
		}
		assert.Equal(t, clusterID, ci.ClusterID, "cluster_id on %s", n.ID)
		assert.Equal(t, n.ID, ci.NodeID)
		require.NotNil(t, ci.Leader)
		assert.Equal(t, leader.ID, ci.Leader.NodeID)
		assert.Equal(t, leader.APIAddr, ci.Leader.APIAddr)
		assert.Equal(t, leader.RaftAddr, ci.Leader.RaftAddr)
		var ids []string
		for _, m := range ci.Members {
			ids = append(ids, m.NodeID)
			assert.Equal(t, "voter", m.Suffrage, "suffrage of %s on %s", m.NodeID, n.ID)
			if nd := c.ByID(m.NodeID); assert.NotNil(t, nd, "unknown member %s", m.NodeID) {
				assert.Equal(t, nd.APIAddr, m.APIAddr, "api_addr of %s on %s", m.NodeID, n.ID)
				assert.Equal(t, nd.RaftAddr, m.RaftAddr, "raft_addr of %s on %s", m.NodeID, n.ID)
			}
		}
		sort.Strings(ids)
		assert.Equal(t, []string{"n1", "n2", "n3"}, ids, "members on %s", n.ID)
	}

	fx := c.Seed(leader)
	follower := c.Followers(leader)[0]
	want := fx.NewCertificate("mc-repl-1")
	got, err := cl.CreateCertificate(ctx, follower.URL(), want)
	require.NoError(t, err, "create through follower %s", follower.ID)
	assert.Equal(t, want.ID, got.ID)
	assert.Equal(t, want.Name, got.Name)
	assert.Equal(t, want.CommonName, got.CommonName)
	assert.Equal(t, want.SANs, got.SANs)
	assert.NotEmpty(t, got.Status)

	// The answering node has applied the write: it reads it at once.
	_, err = cl.GetCertificate(ctx, follower.URL(), want.ID)
	require.NoError(t, err, "read-your-write on %s", follower.ID)
	for _, n := range c.Nodes() {
		c.Wait("certificate on "+n.ID, func(ctx context.Context) error {
			g, err := cl.GetCertificate(ctx, n.URL(), want.ID)
			if err == nil && g.Name != want.Name {
				return fmt.Errorf("%s has name %q", n.ID, g.Name)
			}
			return err
		})
	}

	// A duplicate id is a conflict, whichever node takes it.
	_, err = cl.CreateCertificate(ctx, leader.URL(), want)
	requireStatus(t, err, http.StatusConflict)

	// Errors have the documented shape and every answer a request id.
	_, err = cl.GetCertificate(ctx, follower.URL(), "mc-does-not-exist")
	se := requireStatus(t, err, http.StatusNotFound)
	assert.Equal(t, "Not Found", se.Body.Error)
	assert.NotEmpty(t, se.Body.RequestID, "request_id in error body")
	assert.NotEmpty(t, se.RequestID, "X-Request-ID header")
	_, hdr, err := cl.Do(ctx, http.MethodGet, follower.URL()+"/health", nil, nil, http.StatusOK)
	require.NoError(t, err)
	assert.NotEmpty(t, hdr.Get("X-Request-ID"), "X-Request-ID on /health")
}

func TestCluster_LeaderKillFailover(t *testing.T) {
	skipShort(t)
	c := NewCluster(t, certctlBin)
	c.Start(3)
	leader := c.WaitLeader()
	fx := c.Seed(leader)

	w1 := NewWriter(c.Client(), c.Nodes, fx, "fo", 3*time.Second)
	w1.Start()
	t.Cleanup(w1.Stop)
	waitAcked(c, w1, 50)

	before := w1.AckedCount()
	killedAt := time.Now()
	c.Kill(leader)
	newLeader := c.WaitLeader(leader)
	elected := time.Since(killedAt)
	waitAcked(c, w1, before+50)
	gap, gapEnd := LongestGap(w1.AckTimes(), killedAt)
	t.Logf("killed leader %s; %s leads after %v; longest write gap %v (ended %v after the kill)",
		leader.ID, newLeader.ID, elected.Round(time.Millisecond), gap.Round(time.Millisecond),
		gapEnd.Sub(killedAt).Round(time.Millisecond))

	// The killed node comes back on its data directory and catches up.
	c.Restart(leader)
	waitAcked(c, w1, w1.AckedCount()+20)
	w1.Stop()
	t.Logf("writer 1: %s", w1.Summary())
	waitConverged(c, c.Nodes())

	// A fourth node joins under write load and receives the full state.
	w2 := NewWriter(c.Client(), c.Nodes, fx, "fo-b", 3*time.Second)
	w2.Start()
	t.Cleanup(w2.Stop)
	waitAcked(c, w2, 20)
	fourth := c.Join()
	waitAcked(c, w2, w2.AckedCount()+20)
	w2.Stop()
	t.Logf("writer 2: %s", w2.Summary())
	counts := waitConverged(c, c.Nodes())

	acked := append(w1.Acked(), w2.Acked()...)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, n := range c.Nodes() {
		ids, err := c.Client().CertificateIDs(ctx, n.URL())
		require.NoError(t, err)
		var missing []string
		for _, id := range acked {
			if !ids[id] {
				missing = append(missing, id)
			}
		}
		assert.Empty(t, missing, "acknowledged ids missing on %s", n.ID)
	}
	assert.Empty(t, w1.Skipped(), "ids the writer gave up on")
	assert.Empty(t, w2.Skipped(), "ids the writer gave up on")
	t.Logf("acknowledged %d ids (%d before the kill); %d nodes hold %v certificates; joined %s",
		len(acked), before, len(c.Nodes()), counts, fourth.ID)
}

// waitAcked waits until w has at least n acknowledgements.
func waitAcked(c *Cluster, w *Writer, n int) {
	c.tb.Helper()
	c.Wait(fmt.Sprintf("%d acknowledged writes", n), func(context.Context) error {
		if got := w.AckedCount(); got < n {
			return fmt.Errorf("%d acknowledged (%s)", got, w.Summary())
		}
		return nil
	})
}

// waitConverged waits until every node in nodes holds the same set of
// certificate ids, and returns each node's count.
func waitConverged(c *Cluster, nodes []*Node) map[string]int {
	c.tb.Helper()
	counts := map[string]int{}
	c.Wait("nodes to hold the same certificates", func(ctx context.Context) error {
		var ref map[string]bool
		var refID string
		var diffs []string
		for _, n := range nodes {
			ids, err := c.Client().CertificateIDs(ctx, n.URL())
			if err != nil {
				return err
			}
			counts[n.ID] = len(ids)
			if ref == nil {
				ref, refID = ids, n.ID
				continue
			}
			if d := setDiff(ref, ids); d != "" {
				diffs = append(diffs, fmt.Sprintf("%s vs %s: %s", refID, n.ID, d))
			}
		}
		if len(diffs) > 0 {
			return errors.New(strings.Join(diffs, "; "))
		}
		return nil
	})
	return counts
}

func setDiff(a, b map[string]bool) string {
	onlyA, onlyB := 0, 0
	for k := range a {
		if !b[k] {
			onlyA++
		}
	}
	for k := range b {
		if !a[k] {
			onlyB++
		}
	}
	if onlyA == 0 && onlyB == 0 {
		return ""
	}
	return fmt.Sprintf("%d vs %d certificates (%d only left, %d only right)", len(a), len(b), onlyA, onlyB)
}

// requireStatus requires err to be a *StatusError with the given status.
func requireStatus(t *testing.T, err error, status int) *StatusError {
	t.Helper()
	var se *StatusError
	require.ErrorAs(t, err, &se)
	require.Equal(t, status, se.Status, "%v", err)
	return se
}
