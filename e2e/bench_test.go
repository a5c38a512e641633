package e2e

// The benchmarks below measure a real cluster and run once each:
//
//	go test -run '^$' -bench . -benchtime=1x ./e2e/
//
// Each does a fixed amount of work rather than b.N iterations, so that its
// figures are comparable between runs; ns/op is hidden because it means
// nothing here.

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkFsync measures the serial rate of 4 KiB appends each followed by
// fsync in the temporary directory, the bound on any write path that syncs.
func BenchmarkFsync(b *testing.B) {
	const span = 2 * time.Second
	f, err := os.Create(filepath.Join(b.TempDir(), "fsync"))
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 4096)
	var lat []time.Duration
	start := time.Now()
	for time.Since(start) < span {
		t0 := time.Now()
		if _, err := f.Write(buf); err != nil {
			b.Fatal(err)
		}
		if err := f.Sync(); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(t0))
	}
	elapsed := time.Since(start)
	b.ReportMetric(0, "ns/op")
	b.ReportMetric(float64(len(lat))/elapsed.Seconds(), "fsyncs/s")
	reportLatency(b, lat)
}

// BenchmarkClusterCreate measures certificate creation on a fresh three-node
// cluster, with clients concurrent keep-alive HTTP clients posting to the
// leader or to a follower (which forwards to the leader).
func BenchmarkClusterCreate(b *testing.B) {
	skipShort(b)
	for _, via := range []string{"leader", "follower"} {
		for _, clients := range []int{1, 16, 64} {
			b.Run(fmt.Sprintf("via=%s/clients=%d", via, clients), func(b *testing.B) {
				benchCreate(b, via, clients)
			})
		}
	}
}

// createBudget bounds one BenchmarkClusterCreate sub-benchmark's load phase:
// it stops early, and reports what it did, if the creates do not fit.
const createBudget = 15 * time.Second

// createsFor is the fixed number of creates per sub-benchmark.
func createsFor(clients int) int {
	switch {
	case clients <= 1:
		return 1000
	case clients <= 16:
		return 6000
	default:
		return 12000
	}
}

func benchCreate(b *testing.B, via string, clients int) {
	b.StopTimer()
	c := NewCluster(b, certctlBin)
	c.Start(3)
	leader := c.WaitLeader()
	fx := c.Seed(leader)
	target := leader
	if via == "follower" {
		target = c.Followers(leader)[0]
	}
	client := c.NewClient(clients * 2)
	client.APIKey = AdminKey
	defer client.CloseIdle()

	total := int64(createsFor(clients))
	var next atomic.Int64
	var errs atomic.Int64
	lats := make([][]time.Duration, clients)
	var wg sync.WaitGroup
	start := time.Now()
	deadline := start.Add(createBudget)
	b.StartTimer()
	for w := range clients {
		wg.Add(1)
		go func() { // owned by this function: waited for below
			defer wg.Done()
			for {
				i := next.Add(1)
				if i > total || time.Now().After(deadline) {
					return
				}
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				t0 := time.Now()
				_, err := client.CreateCertificate(ctx, target.URL(), fx.NewCertificate(fmt.Sprintf("bc-%07d", i)))
				d := time.Since(t0)
				cancel()
				if err != nil {
					if errs.Add(1) <= 3 {
						b.Logf("create: %v", err)
					}
					continue
				}
				lats[w] = append(lats[w], d)
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()

	all := slices.Concat(lats...)
	if len(all) == 0 {
		b.Fatalf("no create succeeded (%d errors)", errs.Load())
	}
	if int64(len(all)) < total {
		b.Logf("budget of %v reached: %d of %d creates done", createBudget, len(all), total)
	}
	b.ReportMetric(0, "ns/op")
	b.ReportMetric(float64(len(all))/elapsed.Seconds(), "creates/s")
	b.ReportMetric(float64(len(all)), "creates")
	b.ReportMetric(float64(errs.Load()), "errors")
	reportLatency(b, all)
}

// BenchmarkFailover kills the leader with SIGKILL, ten times, and measures
// the time from the kill to the first successful create through a survivor.
// The killed node is restarted and caught up between trials.
func BenchmarkFailover(b *testing.B) {
	skipShort(b)
	const trials = 10
	b.StopTimer()
	c := NewCluster(b, certctlBin)
	c.Start(3)
	fx := c.Seed(c.WaitLeader())
	client := c.NewClient(8)
	client.APIKey = AdminKey
	defer client.CloseIdle()

	var times []time.Duration
	for trial := range trials {
		leader := c.WaitLeader()
		survivors := c.Followers(leader)
		killedAt := time.Now()
		c.Kill(leader)
		d := firstWrite(b, client, survivors, fx, fmt.Sprintf("fo%02d", trial), killedAt)
		times = append(times, d)
		b.Logf("trial %d: killed %s, first write after %v", trial+1, leader.ID, d.Round(time.Millisecond))
		c.Restart(leader)
		waitConverged(c, c.Nodes())
	}
	b.ReportMetric(0, "ns/op")
	reportDurations(b, times, "")
}

// firstWrite has one prober per node create certificates until one succeeds,
// and returns the time from since to that success.
func firstWrite(b *testing.B, client *Client, nodes []*Node, fx Fixtures, prefix string, since time.Time) time.Duration {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	won := make(chan time.Time, len(nodes))
	var wg sync.WaitGroup
	for i, n := range nodes {
		wg.Add(1)
		go func() { // owned by firstWrite: cancelled and waited for below
			defer wg.Done()
			for seq := 0; ctx.Err() == nil; seq++ {
				rctx, rcancel := context.WithTimeout(ctx, 2*time.Second)
				_, err := client.CreateCertificate(rctx, n.URL(), fx.NewCertificate(fmt.Sprintf("%s-%d-%d", prefix, i, seq)))
				rcancel()
				if err == nil {
					won <- time.Now()
					return
				}
				select {
				case <-ctx.Done():
				case <-time.After(10 * time.Millisecond):
				}
			}
		}()
	}
	var at time.Time
	select {
	case at = <-won:
	case <-ctx.Done():
	}
	cancel()
	wg.Wait()
	if at.IsZero() {
		b.Fatalf("no write succeeded within a minute of the kill")
	}
	return at.Sub(since)
}

// BenchmarkPlannedHandoff stops the leader with SIGTERM, five times, while a
// writer that starts on the leader creates certificates in a loop, and
// measures the longest time between two acknowledged creates around the stop.
func BenchmarkPlannedHandoff(b *testing.B) {
	skipShort(b)
	const trials = 5
	b.StopTimer()
	c := NewCluster(b, certctlBin)
	c.Start(3)
	fx := c.Seed(c.WaitLeader())
	client := c.NewClient(8)
	client.APIKey = AdminKey
	defer client.CloseIdle()

	var gaps []time.Duration
	for trial := range trials {
		leader := c.WaitLeader()
		w := NewWriter(client, c.Nodes, fx, fmt.Sprintf("ho%d", trial), 3*time.Second)
		w.SetBackoff(5 * time.Millisecond)
		w.StartAt(slices.Index(c.Nodes(), leader))
		w.Start()
		waitAcked(c, w, 20)
		stopAt := time.Now()
		c.Stop(leader)
		stopped := time.Since(stopAt)
		newLeader := c.WaitLeader(leader)
		waitAcked(c, w, w.AckedCount()+50)
		w.Stop()
		gap, _ := LongestGap(w.AckTimes(), stopAt)
		gaps = append(gaps, gap)
		b.Logf("trial %d: stopped %s in %v, %s leads; longest gap %v; %s", trial+1, leader.ID,
			stopped.Round(time.Millisecond), newLeader.ID, gap.Round(time.Millisecond), w.Summary())
		c.Restart(leader)
		waitConverged(c, c.Nodes())
	}
	b.ReportMetric(0, "ns/op")
	reportDurations(b, gaps, "gap-")
}

// reportLatency reports p50 and p99 of lat in milliseconds.
func reportLatency(b *testing.B, lat []time.Duration) {
	s := slices.Clone(lat)
	slices.Sort(s)
	b.ReportMetric(ms(percentile(s, 50)), "p50-ms")
	b.ReportMetric(ms(percentile(s, 99)), "p99-ms")
}

// reportDurations reports p50, p99 and max of ds in milliseconds.
func reportDurations(b *testing.B, ds []time.Duration, prefix string) {
	s := slices.Clone(ds)
	slices.Sort(s)
	b.ReportMetric(ms(percentile(s, 50)), prefix+"p50-ms")
	b.ReportMetric(ms(percentile(s, 99)), prefix+"p99-ms")
	b.ReportMetric(ms(s[len(s)-1]), prefix+"max-ms")
}

// percentile returns the nearest-rank percentile p of sorted s.
func percentile(s []time.Duration, p int) time.Duration {
	if len(s) == 0 {
		return 0
	}
	i := (len(s)*p + 99) / 100 // ceil(len*p/100), 1-based rank
	if i < 1 {
		i = 1
	}
	return s[i-1]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
