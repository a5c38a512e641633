package scheduler

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/certctl/certctl/api/wire"
	"github.com/certctl/certctl/fsm"
	"github.com/certctl/certctl/fsm/fsmtest"
	"github.com/certctl/certctl/node/nodetest"
)

// clock is a settable clock for Config.Now.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// logProposer applies each proposed command to the fsm through an fsmtest
// Log, as raft on a single node would: the command is in the state when
// Propose returns, and a rejection comes back as the *fsm.Error.
type logProposer struct {
	mu     sync.Mutex
	log    *fsmtest.Log
	byType map[fsm.CommandType]int
	total  int
}

func (p *logProposer) Propose(ctx context.Context, cmd *fsm.Command) (uint64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	data, err := cmd.Encode()
	if err != nil {
		return 0, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	res := p.log.ApplyRaw(data)
	p.byType[cmd.Type]++
	p.total++
	return p.log.Index, res.Err
}

// proposals returns how many commands were proposed so far.
func (p *logProposer) proposals() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.total
}

func (p *logProposer) count(t fsm.CommandType) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.byType[t]
}

// harness is a scheduler on a real fsm seeded with fsmtest's fixtures, its
// proposals applied through the test's Log, its clock settable.
type harness struct {
	t     *testing.T
	f     *fsm.FSM
	clock *clock
	prop  *logProposer
	s     *Scheduler
}

// t0 is the harness clock's start: a day after the fixtures were written.
var t0 = fsmtest.T0.Add(24 * time.Hour)

func newHarness(t *testing.T, opts ...func(*Config)) *harness {
	t.Helper()
	f := fsmtest.Open(t)
	l := fsmtest.NewLog(t, f)
	fsmtest.Seed(l)
	h := &harness{t: t, f: f, clock: &clock{t: t0}, prop: &logProposer{log: l, byType: map[fsm.CommandType]int{}}}
	cfg := Config{NodeID: "n1", Now: h.clock.Now, Logger: nodetest.Logger(t, slog.LevelWarn)}
	for _, o := range opts {
		o(&cfg)
	}
	s, err := New(cfg, f, h.prop)
	require.NoError(t, err)
	h.s = s
	return h
}

// must applies p as an operator would, at the harness's time.
func (h *harness) must(p fsm.Payload) any {
	h.t.Helper()
	h.prop.mu.Lock()
	defer h.prop.mu.Unlock()
	h.prop.log.Now = h.clock.Now()
	return h.prop.log.Must(p)
}

// policy creates a renewal policy; window 0 leaves renewal_window_days unset.
func (h *harness) policy(id string, window int, autoRenew bool, thresholds ...int) {
	h.t.Helper()
	p := fsm.RenewalPolicy{ID: id, Name: "policy " + id, AutoRenew: autoRenew, MaxRetries: 3,
		RetryIntervalMinutes: 60, AlertThresholdsDays: thresholds}
	if window > 0 {
		p.RenewalWindowDays = &window
	}
	h.must(&fsm.CreateRenewalPolicy{Policy: p})
}

// cert creates a certificate in status expiring at exp under policy.
func (h *harness) cert(id string, status wire.CertificateStatus, exp time.Time, policy string) {
	h.t.Helper()
	c := fsmtest.Certificate(id, id+".example.com")
	c.Status, c.ExpiresAt, c.RenewalPolicyID = status, &exp, policy
	h.must(&fsm.CreateCertificate{Certificate: c})
}

func (h *harness) certificate(id string) *fsm.Certificate {
	h.t.Helper()
	c, err := h.f.Certificate(id)
	require.NoError(h.t, err)
	return c
}

func (h *harness) job(id string) *fsm.Job {
	h.t.Helper()
	j, err := h.f.Job(id)
	require.NoError(h.t, err)
	return j
}

func (h *harness) jobsOf(certID string) []fsm.Job {
	h.t.Helper()
	l, err := h.f.Jobs(fsm.JobFilter{CertificateID: certID}, fsm.Page{PerPage: fsm.MaxPerPage})
	require.NoError(h.t, err)
	return l.Items
}

func (h *harness) notifications(flt fsm.NotificationFilter) []fsm.Notification {
	h.t.Helper()
	l, err := h.f.Notifications(flt, fsm.Page{PerPage: fsm.MaxPerPage})
	require.NoError(h.t, err)
	return l.Items
}

// audit returns the audit events of action about resource id.
func (h *harness) audit(action, id string) []fsm.AuditEvent {
	h.t.Helper()
	l, err := h.f.AuditEvents(fsm.AuditFilter{Action: action, ResourceID: id}, fsm.Page{PerPage: fsm.MaxPerPage})
	require.NoError(h.t, err)
	return l.Items
}

func TestConfig_Defaults(t *testing.T) {
	c := Config{NodeID: "n1"}.withDefaults()
	assert.Equal(t, "@every 1h", c.RenewalSpec)
	assert.Equal(t, "@every 30s", c.JobsSpec)
	assert.Equal(t, "@every 2m", c.HealthSpec)
	assert.Equal(t, 3*time.Minute, c.AgentOfflineAfter)
	assert.Equal(t, 30*time.Second, c.LeaseDuration)
	assert.Equal(t, 398*24*time.Hour, c.MaxLifetime)
	assert.NotNil(t, c.Now)
	assert.NotNil(t, c.Logger)
	assert.Nil(t, c.Issuance)
	require.NoError(t, Config{NodeID: "n1"}.Validate())
}

func TestConfig_Validate(t *testing.T) {
	cases := []struct {
		name string
		cfg  Config
		want string
	}{
		{"no node id", Config{}, "node id is required"},
		{"bad node id", Config{NodeID: "n\x00"}, "node id"},
		{"bad renewal spec", Config{NodeID: "n1", RenewalSpec: "every hour"}, "renewal spec"},
		{"bad jobs spec", Config{NodeID: "n1", JobsSpec: "@every banana"}, "jobs spec"},
		{"bad health spec", Config{NodeID: "n1", HealthSpec: "61 * * * *"}, "health spec"},
		{"offline too soon", Config{NodeID: "n1", AgentOfflineAfter: time.Millisecond}, "agent offline after"},
		{"lease too short", Config{NodeID: "n1", LeaseDuration: -time.Minute}, "lease duration"},
		{"lifetime too short", Config{NodeID: "n1", MaxLifetime: time.Hour}, "max lifetime"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cfg.Validate()
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
			assert.Contains(t, err.Error(), "scheduler: ")
			_, err = New(tc.cfg, fsmtest.Open(t), &logProposer{})
			require.Error(t, err)
		})
	}
	_, err := New(Config{NodeID: "n1", RenewalSpec: "0 3 * * *"}, nil, nil)
	require.ErrorContains(t, err, "state and proposer are required")
}

// issuance is a fake Issuance: it records its calls and answers with fn.
type issuance struct {
	mu    sync.Mutex
	calls []fsm.Job
	fn    func(ctx context.Context, job fsm.Job, cert fsm.Certificate) error
}

func (i *issuance) Issue(ctx context.Context, job fsm.Job, cert fsm.Certificate) error {
	i.mu.Lock()
	i.calls = append(i.calls, job)
	fn := i.fn
	i.mu.Unlock()
	if fn == nil {
		return nil
	}
	return fn(ctx, job, cert)
}

func (i *issuance) Calls() []fsm.Job {
	i.mu.Lock()
	defer i.mu.Unlock()
	return append([]fsm.Job(nil), i.calls...)
}

// waitFor polls cond until it holds or fails the test after 10 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestScheduler_RunRunsEveryLoopAtOnceAndStopsWithCtx(t *testing.T) {
	iss := &issuance{}
	h := newHarness(t, func(c *Config) { c.Issuance = iss })
	h.policy("policy-4t", 30, true, 30, 14, 7, 0)
	h.cert("mc-soon", fsm.CertActive, t0.Add(10*24*time.Hour), "policy-4t")
	// An agent that went silent an hour ago.
	h.must(&fsm.RecordHeartbeats{Beats: []fsm.Heartbeat{{AgentID: fsmtest.AgentID, At: t0.Add(-time.Hour)}}})

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); h.s.Run(ctx) }()

	// The specs tick hourly at the soonest, yet every loop runs at once: the
	// renewal check queues a job, the processor works it, the health check
	// sets the agent offline.
	waitFor(t, "the renewal job to complete", func() bool {
		j, err := h.f.Job(renewalJobID("mc-soon", t0.Add(10*24*time.Hour)))
		return err == nil && j.Status == fsm.JobCompleted
	})
	waitFor(t, "the agent to go offline", func() bool {
		a, err := h.f.Agent(fsmtest.AgentID)
		return err == nil && a.Status == fsm.AgentOffline
	})
	assert.True(t, h.s.Running())

	cancel()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after its ctx ended")
	}
	assert.False(t, h.s.Running())
}

func TestScheduler_RunStopsAndWaitsForWorkUnderWay(t *testing.T) {
	started := make(chan struct{})
	var returned bool
	var mu sync.Mutex
	iss := &issuance{fn: func(ctx context.Context, job fsm.Job, cert fsm.Certificate) error {
		close(started)
		<-ctx.Done() // the CA answers only once leadership is gone
		time.Sleep(50 * time.Millisecond)
		mu.Lock()
		returned = true
		mu.Unlock()
		return ctx.Err()
	}}
	h := newHarness(t, func(c *Config) { c.Issuance = iss })
	h.must(&fsm.CreateJobs{Jobs: []fsm.Job{fsmtest.Job("job-1", fsm.JobIssuance)}})

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); h.s.Run(ctx) }()
	<-started
	assert.Equal(t, fsm.JobRunning, h.job("job-1").Status)
	cancel() // leadership lost
	<-done
	mu.Lock()
	assert.True(t, returned, "Run returned before the work under way")
	mu.Unlock()

	// The interrupted job is handed back, its attempt not counted.
	j := h.job("job-1")
	assert.Equal(t, fsm.JobPending, j.Status)
	assert.Equal(t, 0, j.Attempts)
	assert.Empty(t, j.LeaseHolder)
	assert.Len(t, h.audit("job_lease_released", "job-1"), 1)
}

func TestScheduler_NudgeRunsTheJobLoopNow(t *testing.T) {
	iss := &issuance{}
	h := newHarness(t, func(c *Config) {
		c.Issuance = iss
		c.JobsSpec, c.RenewalSpec, c.HealthSpec = "@every 1h", "@every 1h", "@every 1h"
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); h.s.Run(ctx) }()
	defer func() { cancel(); <-done }()

	waitFor(t, "the scheduler to start", h.s.Running)
	// Jobs queued after the first pass wait for the next tick (an hour)
	// unless nudged.
	for i, id := range []string{"job-a", "job-b", "job-c"} {
		h.must(&fsm.CreateJobs{Jobs: []fsm.Job{fsmtest.Job(id, fsm.JobRenewal)}})
		h.s.Nudge()
		waitFor(t, id+" to complete", func() bool { return h.job(id).Status == fsm.JobCompleted })
		assert.Len(t, iss.Calls(), i+1)
	}
}

func TestLoop_RunAskedDuringAPassRunsOnceMore(t *testing.T) {
	release := make(chan struct{})
	var passes int
	var mu sync.Mutex
	l := &loop{name: "test", log: slog.New(slog.DiscardHandler), pass: func(ctx context.Context) error {
		mu.Lock()
		passes++
		first := passes == 1
		mu.Unlock()
		if first {
			<-release
		}
		return nil
	}}
	ctx := context.Background()
	done := make(chan struct{})
	go func() { defer close(done); l.run(ctx) }()
	waitFor(t, "the first pass", func() bool { mu.Lock(); defer mu.Unlock(); return passes == 1 })
	// Three requests during the pass fold into one more pass, not three,
	// and none runs alongside the first.
	l.run(ctx)
	l.run(ctx)
	l.run(ctx)
	close(release)
	<-done
	mu.Lock()
	assert.Equal(t, 2, passes)
	mu.Unlock()

	// A panicking pass leaves the loop usable.
	l.pass = func(context.Context) error { panic("boom") }
	require.Panics(t, func() { l.run(ctx) })
	l.pass = func(context.Context) error { return errors.New("a failed pass is logged, not fatal") }
	l.run(ctx)
	assert.False(t, l.busy)
}
