package node_test

import (
	"context"
	"runtime"
	"strconv"
	"sync/atomic"
	"testing"

	"github.com/certctl/certctl/node"
	"github.com/certctl/certctl/node/nodetest"
)

// BenchmarkCluster_Propose64 proposes through all three nodes of a cluster
// from 64 concurrent clients; writes/s is the figure to watch. fsync is off,
// so it measures node's own path (forwarding, batching), not the disk.
func BenchmarkCluster_Propose64(b *testing.B) {
	c := nodetest.NewCluster(b, 3, nodetest.WithConfig(func(cfg *node.Config) {
		cfg.HeartbeatTimeout = 0 // raft's defaults: benchmarks must not flap
		cfg.ElectionTimeout = 0
		cfg.LeaderLeaseTimeout = 0
		cfg.CommitTimeout = 0
	}))
	ctx := context.Background()
	var seq atomic.Int64
	var client atomic.Int64
	// 64 clients in all, whatever GOMAXPROCS is.
	b.SetParallelism(max(1, 64/runtime.GOMAXPROCS(0)))
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		m := c.Members[int(client.Add(1))%len(c.Members)]
		for pb.Next() {
			id := "t-" + strconv.FormatInt(seq.Add(1), 10)
			if _, err := m.Node().Propose(ctx, createTeam(b, id, "req-"+id)); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "writes/s")
}
