package e2e

// BenchmarkAgentFleet simulates a fleet of agents against a three-node
// cluster. Run it once:
//
//	CERTCTL_BIN=$PWD/bin/certctl go test -run '^$' -bench BenchmarkAgentFleet -benchtime=1x -count=1 -timeout 30m ./e2e/
//
// CERTCTL_FLEET_AGENTS (default 10000) sets the fleet's size and
// CERTCTL_FLEET_WINDOW (default 2m) the measured span, which follows a
// warm-up of one heartbeat interval so that every agent has beaten once.
// CERTCTL_FLEET_PPROF=1 gives each node a --pprof-addr, logged at the start,
// to profile the nodes while the fleet runs.

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/certctl/certctl/api/client"
	"github.com/certctl/certctl/api/wire"
)

const (
	// fleetHeartbeatEvery and fleetPollEvery are the agent's defaults.
	fleetHeartbeatEvery = 60 * time.Second
	fleetPollEvery      = 30 * time.Second
	// fleetRegisterers is how many admin clients register the fleet.
	fleetRegisterers = 64
	// fleetCallTimeout bounds one agent call, the client's retries included.
	fleetCallTimeout = 30 * time.Second
	// clockTicks is USER_HZ, the unit of utime and stime in /proc/<pid>/stat:
	// 100 on every Linux architecture Go supports.
	clockTicks = 100
)

// BenchmarkAgentFleet registers CERTCTL_FLEET_AGENTS agents, then runs one
// goroutine per agent, each with an api/client of its own key naming all
// three nodes, heartbeating every 60 s and polling for work every 30 s at a
// random phase. Agent i names node i mod 3 first, as a fleet configured with
// different first servers would. Over the window it measures the latency of
// each call, the CPU and memory of every node and the raft entries the
// leader appended, and it fails when a call failed.
func BenchmarkAgentFleet(b *testing.B) {
	skipShort(b)
	agents := envInt(b, "CERTCTL_FLEET_AGENTS", 10_000)
	window := envDuration(b, "CERTCTL_FLEET_WINDOW", 2*time.Minute)
	b.StopTimer()
	var opts []Option
	if os.Getenv("CERTCTL_FLEET_PPROF") == "1" {
		opts = append(opts, WithNodeArgs(func(id string) []string {
			addr, err := FreeAddr()
			if err != nil {
				b.Fatal(err)
			}
			b.Logf("%s: profiler at http://%s/debug/pprof/", id, addr)
			return []string{"--pprof-addr", addr}
		}))
	}
	c := NewCluster(b, certctlBin, opts...)
	c.Start(3)
	leader := c.WaitLeader()
	nodes := c.Nodes()
	for _, n := range nodes {
		b.Logf("%s (pid %d): max open files %s", n.ID, n.Pid(), openFilesLimit(n.Pid()))
	}
	b.Logf("benchmark process: max open files %s", openFilesLimit(os.Getpid()))

	regs := registerFleet(b, c, leader, agents)

	// One transport for the whole fleet, as the connections of many hosts
	// would be many; enough idle connections per node that a burst of calls
	// does not open and close connections.
	retries := &attemptCounter{kinds: map[string]int{}}
	tr := &http.Transport{
		Proxy:                 nil,
		DialContext:           (&net.Dialer{Timeout: time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:          3 * 1024,
		MaxIdleConnsPerHost:   1024,
		IdleConnTimeout:       90 * time.Second,
		ResponseHeaderTimeout: 10 * time.Second,
		DisableCompression:    true,
		// Agents keep their connections and resume TLS sessions, as
		// certctl-agent's client does.
		TLSClientConfig: &tls.Config{RootCAs: c.Roots(), MinVersion: tls.VersionTLS12, ClientSessionCache: tls.NewLRUClientSessionCache(4096)},
	}
	hc := &http.Client{Transport: retries.wrap(tr)}
	defer tr.CloseIdleConnections()
	firsts := map[string]int{}
	fleet := make([]*client.Client, agents)
	for i := range fleet {
		order := append(append([]*Node{}, nodes[i%3:]...), nodes[:i%3]...)
		api, err := NewAPIClient(regs[i].APIKey, URLs(order), hc)
		if err != nil {
			b.Fatal(err)
		}
		fleet[i] = api
		firsts[order[0].ID]++
	}
	spread := make([]string, 0, len(nodes))
	for _, n := range nodes {
		role := "follower"
		if n == leader {
			role = "leader"
		}
		spread = append(spread, fmt.Sprintf("%s (%s) %d", n.ID, role, firsts[n.ID]))
	}
	b.Logf("%d agents registered; first server: %s", agents, strings.Join(spread, ", "))

	admin := c.APIClient(AdminKey, leader)
	rec := &fleetRecorder{errs: map[string]int{}}
	start := time.Now()
	winStart := start.Add(fleetHeartbeatEvery)
	winEnd := winStart.Add(window)
	ctx, cancel := context.WithDeadline(context.Background(), winEnd.Add(2*fleetCallTimeout))
	defer cancel()
	var wg sync.WaitGroup
	for i := range fleet {
		wg.Add(1)
		go func() { // owned by the benchmark: ends at winEnd, waited for below
			defer wg.Done()
			runAgent(ctx, fleet[i], regs[i].ID, uint64(i), start, winStart, winEnd, rec)
		}()
	}

	// The samples are taken on the benchmark's goroutine at the window's
	// edges, while the fleet runs.
	sleepUntil(ctx, winStart)
	b.StartTimer()
	cpu0 := cpuOf(b, nodes)
	self0 := cpuTicks(b, os.Getpid())
	idx0, lead0 := leaderLog(b, ctx, admin)
	sleepUntil(ctx, winEnd)
	cpu1 := cpuOf(b, nodes)
	self1 := cpuTicks(b, os.Getpid())
	idx1, lead1 := leaderLog(b, ctx, admin)
	b.StopTimer()
	wg.Wait()
	elapsed := window.Seconds()

	if lead0 != leader.ID || lead1 != leader.ID {
		b.Errorf("the leader changed during the window: %s, then %s, then %s", leader.ID, lead0, lead1)
	}
	online := onlineAgents(b, c, leader)
	if online < agents {
		b.Errorf("%d of %d agents are Online after the window", online, agents)
	}

	hb, poll := rec.sorted()
	entries := float64(idx1-idx0) / elapsed
	cores := func(n *Node) float64 { return float64(cpu1[n.ID]-cpu0[n.ID]) / clockTicks / elapsed }
	rss, hwm := memoryOf(b, leader.Pid())
	var followers []string
	maxFollower := 0.0
	for _, f := range c.Followers(leader) {
		followers = append(followers, fmt.Sprintf("%s %.2f", f.ID, cores(f)))
		maxFollower = max(maxFollower, cores(f))
	}
	errCount := 0
	for _, n := range rec.errs {
		errCount += n
	}
	b.ReportMetric(0, "ns/op")
	b.ReportMetric(float64(agents), "agents")
	b.ReportMetric(float64(len(hb))/elapsed, "heartbeats/s")
	b.ReportMetric(float64(len(poll))/elapsed, "polls/s")
	b.ReportMetric(ms(percentile(hb, 50)), "p50_heartbeat_ms")
	b.ReportMetric(ms(percentile(hb, 99)), "p99_heartbeat_ms")
	b.ReportMetric(ms(percentile(poll, 50)), "p50_poll_ms")
	b.ReportMetric(ms(percentile(poll, 99)), "p99_poll_ms")
	b.ReportMetric(entries, "raft_entries/s")
	b.ReportMetric(cores(leader), "leader_cores")
	b.ReportMetric(maxFollower, "follower_cores_max")
	b.ReportMetric(float64(self1-self0)/clockTicks/elapsed, "fleet_cores")
	b.ReportMetric(rss, "leader_rss_MB")
	b.ReportMetric(hwm, "leader_hwm_MB")
	b.ReportMetric(float64(errCount), "errors")
	b.ReportMetric(float64(retries.total()), "retried_attempts")
	b.Logf("fleet of %d agents over %v: %.0f heartbeats/s p50 %.1f p99 %.1f ms; %.0f polls/s p50 %.1f p99 %.1f ms; "+
		"%.1f raft entries/s; leader %s %.2f cores, RSS %.0f MB (peak %.0f); followers %s cores; fleet process %.2f cores; "+
		"errors %d %s; failed attempts retried %d %s",
		agents, window, float64(len(hb))/elapsed, ms(percentile(hb, 50)), ms(percentile(hb, 99)),
		float64(len(poll))/elapsed, ms(percentile(poll, 50)), ms(percentile(poll, 99)),
		entries, leader.ID, cores(leader), rss, hwm, strings.Join(followers, ", "), float64(self1-self0)/clockTicks/elapsed,
		errCount, FormatKinds(rec.errs), retries.total(), FormatKinds(retries.snapshot()))
	for _, err := range rec.sample {
		b.Errorf("agent call failed: %v", err)
	}
	if len(hb) == 0 || len(poll) == 0 {
		b.Errorf("no heartbeat or no poll in the window: %d and %d", len(hb), len(poll))
	}
	if entries >= 10 {
		b.Logf("target missed: %.1f raft entries/s, want under 10", entries)
	}
	if p := ms(percentile(hb, 99)); p >= 50 {
		b.Logf("target missed: heartbeat p99 %.1f ms, want under 50", p)
	}
	if p := ms(percentile(poll, 99)); p >= 50 {
		b.Logf("target missed: poll p99 %.1f ms, want under 50", p)
	}
}

// runAgent is one simulated agent: a heartbeat every fleetHeartbeatEvery
// and a poll every fleetPollEvery, on a fixed schedule of its own random
// phase from start, until winEnd. The calls that start in [winStart, winEnd)
// are recorded.
func runAgent(ctx context.Context, api *client.Client, id string, seed uint64, start, winStart, winEnd time.Time, rec *fleetRecorder) {
	rng := rand.New(rand.NewPCG(seed, 0xf1ee7))
	nextBeat := start.Add(time.Duration(rng.Int64N(int64(fleetHeartbeatEvery))))
	nextPoll := start.Add(time.Duration(rng.Int64N(int64(fleetPollEvery))))
	hb := wire.HeartbeatRequest{Version: "bench", Hostname: id + ".fleet.example.com"}
	t := time.NewTimer(time.Hour) // reset before each call
	defer t.Stop()
	for {
		beat := nextBeat.Before(nextPoll)
		at := nextPoll
		if beat {
			at = nextBeat
		}
		if !at.Before(winEnd) {
			return
		}
		t.Reset(time.Until(at))
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		cctx, cancel := context.WithTimeout(ctx, fleetCallTimeout)
		t0 := time.Now()
		var err error
		if beat {
			err = api.Heartbeat(cctx, id, hb)
			nextBeat = nextBeat.Add(fleetHeartbeatEvery)
		} else {
			_, err = api.Work(cctx, id)
			nextPoll = nextPoll.Add(fleetPollEvery)
		}
		d := time.Since(t0)
		cancel()
		if !t0.Before(winStart) {
			rec.add(beat, d, err)
		}
	}
}

// fleetRecorder collects the latencies and errors of the fleet's calls. It is
// safe for concurrent use; a few hundred calls a second do not contend.
type fleetRecorder struct {
	mu     sync.Mutex
	hb     []time.Duration
	poll   []time.Duration
	errs   map[string]int // by call and kind: "heartbeat 503", "poll timeout"
	sample []error
}

func (r *fleetRecorder) add(beat bool, d time.Duration, err error) {
	what := "poll"
	if beat {
		what = "heartbeat"
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if err != nil {
		r.errs[what+" "+agentErrorKind(err)]++
		if len(r.sample) < 3 {
			r.sample = append(r.sample, fmt.Errorf("%s: %w", what, err))
		}
		return
	}
	if beat {
		r.hb = append(r.hb, d)
	} else {
		r.poll = append(r.poll, d)
	}
}

// sorted returns the heartbeat and poll latencies, each sorted.
func (r *fleetRecorder) sorted() (hb, poll []time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	hb, poll = slices.Clone(r.hb), slices.Clone(r.poll)
	slices.Sort(hb)
	slices.Sort(poll)
	return hb, poll
}

// agentErrorKind names a failed call of api/client: the answer's status, or how the transport
// failed.
func agentErrorKind(err error) string {
	if st := client.StatusOf(err); st != 0 {
		return strconv.Itoa(st)
	}
	if errors.Is(err, client.ErrUnreachable) {
		return "unreachable"
	}
	return transportKind(err)
}

// attemptCounter counts the attempts the client retried behind a call's
// back: transport failures and 5xx answers, by kind. It is safe for
// concurrent use.
type attemptCounter struct {
	mu    sync.Mutex
	kinds map[string]int
	n     atomic.Int64
}

func (a *attemptCounter) wrap(next http.RoundTripper) http.RoundTripper {
	return roundTripFunc(func(req *http.Request) (*http.Response, error) {
		resp, err := next.RoundTrip(req)
		if err == nil && resp.StatusCode < 500 {
			return resp, err
		}
		at := Attempt{Server: req.URL.Host, Err: err}
		if resp != nil {
			at.Status = resp.StatusCode
		}
		a.n.Add(1)
		a.mu.Lock()
		a.kinds[at.Kind()]++
		a.mu.Unlock()
		return resp, err
	})
}

func (a *attemptCounter) total() int64 { return a.n.Load() }

func (a *attemptCounter) snapshot() map[string]int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return maps.Clone(a.kinds)
}

// registerFleet registers agents fleet-000000, ... through the leader with
// the admin key and returns each registration, its API key included.
func registerFleet(b *testing.B, c *Cluster, leader *Node, agents int) []wire.AgentRegistration {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	admin := c.APIClient(AdminKey, leader)
	regs := make([]wire.AgentRegistration, agents)
	var next atomic.Int64
	var failed atomic.Int64
	var firstErr atomic.Value
	var wg sync.WaitGroup
	t0 := time.Now()
	for range fleetRegisterers {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= agents || ctx.Err() != nil {
					return
				}
				name := fmt.Sprintf("fleet-%06d", i)
				r, err := admin.RegisterAgent(ctx, name, name+".fleet.example.com")
				if err != nil {
					failed.Add(1)
					firstErr.CompareAndSwap(nil, err)
					continue
				}
				regs[i] = *r
			}
		})
	}
	wg.Wait()
	if n := failed.Load(); n > 0 {
		b.Fatalf("registering the fleet: %d agents failed, the first with %v", n, firstErr.Load())
	}
	if ctx.Err() != nil {
		b.Fatalf("registering %d agents took longer than 5 minutes", agents)
	}
	b.Logf("registered %d agents in %v", agents, time.Since(t0).Round(time.Millisecond))
	return regs
}

// leaderLog returns the last raft log index of the leader, as the leader
// reports it, and the leader's id.
func leaderLog(b *testing.B, ctx context.Context, admin *client.Client) (uint64, string) {
	b.Helper()
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	st, err := admin.Cluster(cctx)
	if err != nil {
		b.Fatal(err)
	}
	if st.Leader == nil {
		b.Fatal("no leader known")
	}
	for _, m := range st.Members {
		if m.NodeID == st.Leader.NodeID {
			return m.LastLogIndex, m.NodeID
		}
	}
	b.Fatalf("the leader %s is not among the members", st.Leader.NodeID)
	return 0, ""
}

// onlineAgents returns how many agents the leader lists as Online.
func onlineAgents(b *testing.B, c *Cluster, leader *Node) int {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var page struct {
		Total int `json:"total"`
	}
	if _, _, err := c.Client().Do(ctx, http.MethodGet, leader.URL()+"/api/v1/agents?status=Online&per_page=1", nil, &page, http.StatusOK); err != nil {
		b.Fatal(err)
	}
	return page.Total
}

// cpuOf returns the CPU time (user and system, in clock ticks) of each node's
// process, by node id.
func cpuOf(b *testing.B, nodes []*Node) map[string]uint64 {
	out := make(map[string]uint64, len(nodes))
	for _, n := range nodes {
		out[n.ID] = cpuTicks(b, n.Pid())
	}
	return out
}

// cpuTicks returns utime+stime of process pid from /proc/<pid>/stat.
func cpuTicks(b *testing.B, pid int) uint64 {
	b.Helper()
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		b.Skipf("no /proc to measure CPU: %v", err)
	}
	// The command name, field 2, may hold spaces: count from after it.
	s := string(raw)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(fields) < 13 {
		b.Fatalf("/proc/%d/stat: %d fields after the name", pid, len(fields))
	}
	var total uint64
	for _, f := range fields[11:13] { // utime and stime, fields 14 and 15
		v, err := strconv.ParseUint(f, 10, 64)
		if err != nil {
			b.Fatalf("/proc/%d/stat: %v", pid, err)
		}
		total += v
	}
	return total
}

// memoryOf returns VmRSS and VmHWM of process pid in MB.
func memoryOf(b *testing.B, pid int) (rss, hwm float64) {
	b.Helper()
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok || (k != "VmRSS" && k != "VmHWM") {
			continue
		}
		kb, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
		if err != nil {
			b.Fatalf("/proc/%d/status: %s: %v", pid, k, err)
		}
		if k == "VmRSS" {
			rss = kb / 1024
		} else {
			hwm = kb / 1024
		}
	}
	return rss, hwm
}

// openFilesLimit returns the soft and hard "Max open files" of process pid,
// or why it is not known.
func openFilesLimit(pid int) string {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/limits", pid))
	if err != nil {
		return "unknown (" + err.Error() + ")"
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if rest, ok := strings.CutPrefix(line, "Max open files"); ok {
			f := strings.Fields(rest)
			if len(f) >= 2 {
				return f[0] + " soft, " + f[1] + " hard"
			}
		}
	}
	return "unknown"
}

func sleepUntil(ctx context.Context, t time.Time) {
	timer := time.NewTimer(time.Until(t))
	defer timer.Stop()
	select {
	case <-ctx.Done():
	case <-timer.C:
	}
}

// envInt returns the positive integer in env name, or def when unset.
func envInt(b *testing.B, name string, def int) int {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 {
		b.Fatalf("%s=%q: want a positive integer", name, v)
	}
	return n
}

// envDuration returns the positive duration in env name, or def when unset.
func envDuration(b *testing.B, name string, def time.Duration) time.Duration {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		b.Fatalf("%s=%q: want a positive duration such as 2m", name, v)
	}
	return d
}
