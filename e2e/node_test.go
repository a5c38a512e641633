package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestNode_RestartKeepsState(t *testing.T) {
	skipShort(t)
	c := NewCluster(t, certctlBin)
	c.Start(1)
	n := c.Node(0)
	cl := c.Client()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	fx := c.Seed(n)
	want := fx.NewCertificate("mc-restart")
	_, err := cl.CreateCertificate(ctx, n.URL(), want)
	require.NoError(t, err)
	before, err := cl.Cluster(ctx, n.URL())
	require.NoError(t, err)

	c.Stop(n) // requires exit status 0
	c.Restart(n)

	got, err := cl.GetCertificate(ctx, n.URL(), want.ID)
	require.NoError(t, err)
	assert.Equal(t, want.Name, got.Name)
	after, err := cl.Cluster(ctx, n.URL())
	require.NoError(t, err)
	assert.Equal(t, before.ClusterID, after.ClusterID)
	assert.Equal(t, n.ID, after.LeaderID())
	assert.Len(t, after.Members, 1)
}

func TestNode_RefusesForeignDataDir(t *testing.T) {
	skipShort(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	a := NewCluster(t, certctlBin, WithNodePrefix("a"))
	a.Start(1)
	an := a.Node(0)
	a.Seed(an)
	ciA, err := a.Client().Cluster(ctx, an.URL())
	require.NoError(t, err)
	a.Stop(an)

	// A data dir of cluster A, joining B: the nodes of B do not even
	// complete a TLS handshake with it (another cluster CA).
	b := NewCluster(t, certctlBin, WithNodePrefix("b"))
	b.Start(1)
	bn := b.Node(0)
	ciB, err := b.Client().Cluster(ctx, bn.URL())
	require.NoError(t, err)
	require.NotEqual(t, ciA.ClusterID, ciB.ClusterID)

	foreign := b.AddNode(NodeConfig{ID: an.ID, DataDir: an.DataDir,
		Join: []string{bn.APIAddr}, LogName: an.ID + "-joining-b.log"})
	b.StartNode(foreign)
	code, err := foreign.WaitExit(WaitTimeout)
	require.NoError(t, err, "a node on a foreign data dir must exit\n%s", foreign.LogTail(logTailLines))
	assert.NotEqual(t, 0, code, "exit status")
	out := nodeOutput(foreign)
	assert.Contains(t, strings.ToLower(out), "cluster", "stderr must name the cluster mismatch:\n%s", out)
	t.Logf("exit status %d; last words:\n%s", code, foreign.LogTail(3))
	if !strings.Contains(out, ciA.ClusterID) && !strings.Contains(out, ciB.ClusterID) {
		t.Logf("note: the error names neither cluster id (%s, %s)", ciA.ClusterID, ciB.ClusterID)
	}

	// Cluster B did not take it in.
	ciB, err = b.Client().Cluster(ctx, bn.URL())
	require.NoError(t, err)
	assert.Len(t, ciB.Members, 1, "members of cluster B")
	require.NoError(t, b.Client().Ready(ctx, bn.URL()))
}

func TestNode_DevMode(t *testing.T) {
	skipShort(t)
	c := NewCluster(t, certctlBin)
	n := c.AddDevNode()
	c.StartNode(n)
	c.WaitReady(n)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cl := c.Client()
	require.NoError(t, cl.Health(ctx, n.URL()))
	got, err := cl.GetCertificate(ctx, n.URL(), "mc-api-prod")
	require.NoError(t, err)
	assert.Equal(t, "mc-api-prod", got.ID)
	certs, total, err := cl.ListCertificates(ctx, n.URL())
	require.NoError(t, err)
	assert.Equal(t, total, len(certs))
	statuses := map[string]bool{}
	for _, ct := range certs {
		statuses[ct.Status] = true
	}
	t.Logf("dev data: %d certificates in %d statuses", total, len(statuses))
}

// nodeOutput returns what the node's processes wrote, without the harness's
// own header lines.
func nodeOutput(n *Node) string {
	var b strings.Builder
	for _, line := range strings.Split(n.Log(), "\n") {
		if !strings.HasPrefix(line, "=== e2e:") {
			b.WriteString(line)
			b.WriteByte('\n')
		}
	}
	return b.String()
}
