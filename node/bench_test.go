package node_test

import (
	"context"
	"os"
	"runtime"
	"slices"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

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

// BenchmarkHealToApply cuts a follower off from both other nodes for 3 s
// (CERTCTL_BENCH_CUT) while the leader commits a steady stream of writes,
// heals the network, and times how long the follower takes to apply an entry
// again; p50 and max over 20 trials per iteration. Raft runs with its
// default timings; CERTCTL_BENCH_TRANSPORT_TIMEOUT overrides the
// transport's timeout. Run it with -benchtime=1x: one iteration takes about
// a minute and a half.
func BenchmarkHealToApply(b *testing.B) {
	cut := 3 * time.Second
	if v := os.Getenv("CERTCTL_BENCH_CUT"); v != "" {
		d, err := time.ParseDuration(v)
		require.NoError(b, err, "CERTCTL_BENCH_CUT")
		cut = d
	}
	var transportTimeout time.Duration
	if v := os.Getenv("CERTCTL_BENCH_TRANSPORT_TIMEOUT"); v != "" {
		d, err := time.ParseDuration(v)
		require.NoError(b, err, "CERTCTL_BENCH_TRANSPORT_TIMEOUT")
		transportTimeout = d
	}
	nw := nodetest.NewNetwork()
	c := nodetest.NewCluster(b, 3, nodetest.WithNetwork(nw), nodetest.WithConfig(func(cfg *node.Config) {
		cfg.HeartbeatTimeout = 0 // raft's defaults: what a site runs
		cfg.ElectionTimeout = 0
		cfg.LeaderLeaseTimeout = 0
		cfg.CommitTimeout = 0
		cfg.TransportTimeout = transportTimeout
		if transportTimeout > 0 {
			cfg.ShutdownTimeout = max(node.DefaultShutdownTimeout, 3*transportTimeout)
		}
	}))
	leader := c.Leader(b)
	load := startWrites(b, leader, "bench", 1)
	defer load.Stop()
	var took []time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for trial := range 20 {
			f := c.Followers()[trial%2]
			nw.Isolate(f.ID())
			time.Sleep(cut) // the partition itself
			before := f.Node().FSM().AppliedIndex()
			nw.Heal()
			start := time.Now()
			for f.Node().FSM().AppliedIndex() == before {
				if time.Since(start) > time.Minute {
					b.Fatalf("trial %d: %s applied nothing for a minute after the heal: replication to it is wedged", trial, f.ID())
				}
				time.Sleep(time.Millisecond)
			}
			took = append(took, time.Since(start))
			nodetest.WaitFor(b, "the follower to catch up", func() bool {
				return f.Node().FSM().AppliedIndex()+10 >= leader.Node().FSM().AppliedIndex()
			})
		}
	}
	b.StopTimer()
	slices.Sort(took)
	b.ReportMetric(float64(took[len(took)/2].Milliseconds()), "p50-ms")
	b.ReportMetric(float64(took[len(took)-1].Milliseconds()), "max-ms")
	b.Logf("heal to apply, sorted: %v", took)
}
