package scheduler

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/certctl/certctl/fsm"
)

// Defaults of Config.
const (
	DefaultRenewalSpec       = "@every 1h"
	DefaultJobsSpec          = "@every 30s"
	DefaultHealthSpec        = "@every 2m"
	DefaultNotifySpec        = "@every 1m"
	DefaultNotifyMaxAttempts = 8
	DefaultAgentOfflineAfter = 3 * 60 * time.Second // three missed heartbeats of the agent's 60 s
	DefaultLeaseDuration     = 30 * time.Second
	DefaultJobWorkers        = 32
	DefaultMaxLifetime       = 398 * 24 * time.Hour // the CA/Browser Forum ceiling for public TLS certificates
	DefaultPolicySpec        = "@every 1m"
	DefaultPolicyBatch       = 250
)

// Config configures a Scheduler. Every field but NodeID has a default, taken
// when the field is left zero.
type Config struct {
	// NodeID is this node's id. Job leases are held as "scheduler/<NodeID>",
	// so the audit trail and the jobs say which leader did the work.
	NodeID string

	// RenewalSpec, JobsSpec and HealthSpec schedule the renewal check, the
	// job processor and the agent health check: robfig/cron's standard five
	// fields or a descriptor ("@every 30s", "@hourly"), read in UTC. Each
	// loop also runs once as soon as Run starts, so a leader that changes
	// often still runs all of them.
	RenewalSpec string
	JobsSpec    string
	HealthSpec  string
	// NotifySpec schedules the notifications loop, the same way.
	NotifySpec string
	// PolicySpec schedules the policy loop (reevaluate.go), the same way;
	// NudgePolicies (fsm.OnRulesChanged) starts it at once after a rule
	// change, so the schedule only catches up on a missed one.
	PolicySpec string
	// RenewalInfoSpec schedules the renewal-information loop
	// (renewal_info.go), the same way.
	RenewalInfoSpec string
	// PolicyBatch is how many certificates one ReevaluatePolicies entry
	// evaluates, at most fsm.MaxBatch: about 30 µs each, so the default
	// 250 holds the log for some 8 ms per entry.
	PolicyBatch int

	// NotifyMaxAttempts is how many failed sends make a notification dead;
	// until then it is retried 1 min × 2^(attempts − 1) after each failure,
	// at most an hour later.
	NotifyMaxAttempts int

	// Notifiers sends notifications through their channels. Nil means no
	// notifier is wired: every notification fails with "no notifier
	// configured for channel X", is retried (a config may arrive) and dies
	// after NotifyMaxAttempts; none is ever marked sent.
	Notifiers Notifiers

	// AgentOfflineAfter is how old an Online agent's last heartbeat may be
	// before the agent goes Offline: missed heartbeats × heartbeat interval.
	AgentOfflineAfter time.Duration

	// LeaseDuration is how long a claimed job is leased. The lease is
	// extended every third of it while the work runs; a leader that dies
	// leaves the job to the next one once the lease runs out.
	LeaseDuration time.Duration

	// JobWorkers is how many due jobs the job processor works at once,
	// each under its own lease; their raft entries share batches, which is
	// what makes a burst of renewals fast. 1 works them one after another.
	JobWorkers int

	// MaxLifetime is the longest certificate lifetime the renewal check
	// plans for when a policy leaves renewal_window_days unset (renew with a
	// third of the lifetime left): it reads the certificates expiring within
	// a third of it. A certificate living longer is still renewed, once it
	// comes that close to expiry.
	MaxLifetime time.Duration

	// Issuance does the work of Issuance and Renewal jobs. Nil means no
	// issuer connector is wired: such jobs stay Pending (logged once).
	Issuance Issuance

	// Now is the clock every decision is taken by; time.Now by default.
	Now func() time.Time
	// Logger receives the scheduler's logs; slog.Default() by default.
	Logger *slog.Logger
}

func (c Config) withDefaults() Config {
	if c.RenewalSpec == "" {
		c.RenewalSpec = DefaultRenewalSpec
	}
	if c.JobsSpec == "" {
		c.JobsSpec = DefaultJobsSpec
	}
	if c.HealthSpec == "" {
		c.HealthSpec = DefaultHealthSpec
	}
	if c.NotifySpec == "" {
		c.NotifySpec = DefaultNotifySpec
	}
	if c.PolicySpec == "" {
		c.PolicySpec = DefaultPolicySpec
	}
	if c.RenewalInfoSpec == "" {
		c.RenewalInfoSpec = DefaultRenewalInfoSpec
	}
	if c.PolicyBatch == 0 {
		c.PolicyBatch = DefaultPolicyBatch
	}
	if c.NotifyMaxAttempts == 0 {
		c.NotifyMaxAttempts = DefaultNotifyMaxAttempts
	}
	if c.AgentOfflineAfter == 0 {
		c.AgentOfflineAfter = DefaultAgentOfflineAfter
	}
	if c.LeaseDuration == 0 {
		c.LeaseDuration = DefaultLeaseDuration
	}
	if c.JobWorkers <= 0 {
		c.JobWorkers = DefaultJobWorkers
	}
	if c.MaxLifetime == 0 {
		c.MaxLifetime = DefaultMaxLifetime
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

// Validate reports the first problem of c with its defaults filled in.
func (c Config) Validate() error {
	c = c.withDefaults()
	if c.NodeID == "" {
		return errors.New("scheduler: a node id is required")
	}
	if err := fsm.ValidText("holder", holderOf(c.NodeID), fsm.MaxNameLength, true); err != nil {
		return fmt.Errorf("scheduler: node id %q: %w", c.NodeID, err)
	}
	for _, s := range []struct{ name, spec string }{
		{"renewal", c.RenewalSpec}, {"jobs", c.JobsSpec}, {"health", c.HealthSpec}, {"notify", c.NotifySpec},
		{"policy", c.PolicySpec}, {"renewal info", c.RenewalInfoSpec},
	} {
		if _, err := cron.ParseStandard(s.spec); err != nil {
			return fmt.Errorf("scheduler: %s spec %q: %w", s.name, s.spec, err)
		}
	}
	switch {
	case c.AgentOfflineAfter < time.Second:
		return fmt.Errorf("scheduler: agent offline after %s is shorter than a second", c.AgentOfflineAfter)
	case c.LeaseDuration < time.Second:
		return fmt.Errorf("scheduler: lease duration %s is shorter than a second", c.LeaseDuration)
	case c.NotifyMaxAttempts < 1:
		return fmt.Errorf("scheduler: notify max attempts %d is less than one", c.NotifyMaxAttempts)
	case c.MaxLifetime < 24*time.Hour:
		return fmt.Errorf("scheduler: max lifetime %s is shorter than a day", c.MaxLifetime)
	case c.PolicyBatch < 1 || c.PolicyBatch > fsm.MaxBatch:
		return fmt.Errorf("scheduler: policy batch %d is not between 1 and %d", c.PolicyBatch, fsm.MaxBatch)
	}
	return nil
}

// State is what the scheduler reads; *fsm.FSM satisfies it. Run starts on a
// leader that has applied every committed entry (node.RunOnLeader's
// barrier), so local reads are current.
type State interface {
	// CertificatesInRenewalScan calls fn for each certificate the renewal
	// check watches whose expiry is before t, soonest first.
	CertificatesInRenewalScan(t time.Time, fn func(*fsm.Certificate) bool) error
	// CertificatesRenewalInfoDue calls fn for each certificate the renewal
	// check watches whose CA's suggested window opens before t.
	CertificatesRenewalInfoDue(t time.Time, fn func(*fsm.Certificate) bool) error
	Certificates(flt fsm.CertificateFilter, p fsm.Page) (fsm.List[fsm.Certificate], error)
	Issuers(p fsm.Page) (fsm.List[fsm.Issuer], error)
	// OpenRenewalJob is the unfinished Issuance or Renewal job of a
	// certificate, or nil.
	OpenRenewalJob(certID string) (*fsm.Job, error)
	Certificate(id string) (*fsm.Certificate, error)
	Issuer(id string) (*fsm.Issuer, error)
	LatestCertificateVersion(certID string) (*fsm.CertificateVersion, error)
	RenewalPolicy(id string) (*fsm.RenewalPolicy, error)
	RenewalPolicies(p fsm.Page) (fsm.List[fsm.RenewalPolicy], error)
	Owner(id string) (*fsm.Owner, error)
	NotificationKeySeen(key string) (bool, error)
	Notifications(flt fsm.NotificationFilter, p fsm.Page) (fsm.List[fsm.Notification], error)
	Job(id string) (*fsm.Job, error)
	Jobs(flt fsm.JobFilter, p fsm.Page) (fsm.List[fsm.Job], error)
	Agents(flt fsm.AgentFilter, p fsm.Page) (fsm.List[fsm.Agent], error)
	Targets(flt fsm.TargetFilter, p fsm.Page) (fsm.List[fsm.Target], error)
	TargetCertificateIDs(targetID string) ([]string, error)
	// CheckPolicies is the refusal (fsm.CodePolicy) of issuing the
	// certificate as stored: it breaks a policy rule of severity Error or
	// Critical. Nil when nothing refuses.
	CheckPolicies(certID string) error
	// NextPolicyBatch is the next batch of the policy sweep under way, nil
	// when none is.
	NextPolicyBatch(n int) (*fsm.ReevaluatePolicies, error)
}

var _ State = (*fsm.FSM)(nil)

// Proposer commits a command through raft; *node.Node satisfies it. A domain
// rejection comes back as an *fsm.Error.
type Proposer interface {
	Propose(ctx context.Context, cmd *fsm.Command) (uint64, error)
}

// Issuance does the work of an Issuance or Renewal job: obtain a certificate
// for cert from its issuer and record it through raft. ctx ends when the
// job's lease is lost or leadership ends. Returning nil completes the job,
// unless Issue has already moved it on itself (AwaitCSR for an agent's key);
// an error counts a failed attempt, retried with backoff while the policy's
// retries last.
type Issuance interface {
	Issue(ctx context.Context, job fsm.Job, cert fsm.Certificate) error
}

// Scheduler is certctl's lifecycle engine. Run it on the leader only, through
// node.RunOnLeader; its methods are safe for concurrent use.
type Scheduler struct {
	cfg      Config
	state    State
	proposer Proposer
	log      *slog.Logger
	holder   string

	renewal, jobs, health, notify, sweep, renewalInfo *loop

	wake       chan struct{} // Nudge → the job loop; capacity 1
	policyWake chan struct{} // NudgePolicies → the policy loop; capacity 1
	running    atomic.Bool
	noIssuer   sync.Once
}

// New returns a Scheduler reading state and proposing through proposer.
func New(cfg Config, state State, proposer Proposer) (*Scheduler, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if state == nil || proposer == nil {
		return nil, errors.New("scheduler: state and proposer are required")
	}
	cfg = cfg.withDefaults()
	s := &Scheduler{
		cfg:        cfg,
		state:      state,
		proposer:   proposer,
		log:        cfg.Logger.With("component", "scheduler"),
		holder:     holderOf(cfg.NodeID),
		wake:       make(chan struct{}, 1),
		policyWake: make(chan struct{}, 1),
	}
	s.renewal = s.newLoop("renewal", cfg.RenewalSpec, s.checkRenewals)
	s.jobs = s.newLoop("jobs", cfg.JobsSpec, s.processJobs)
	s.health = s.newLoop("health", cfg.HealthSpec, s.checkAgents)
	s.notify = s.newLoop("notify", cfg.NotifySpec, s.sendNotifications)
	s.sweep = s.newLoop("policies", cfg.PolicySpec, s.reevaluatePolicies)
	s.renewalInfo = s.newLoop("renewal info", cfg.RenewalInfoSpec, s.refreshRenewalInfo)
	return s, nil
}

func holderOf(nodeID string) string { return "scheduler/" + nodeID }

// Run runs the loops until ctx ends, then stops the cron and waits for every
// pass under way; it is meant for node.RunOnLeader, whose ctx ends when
// leadership is lost. Work interrupted that way hands its job back (or its
// lease runs out) for the next leader. A second Run while one runs returns
// at once.
func (s *Scheduler) Run(ctx context.Context) {
	if !s.running.CompareAndSwap(false, true) {
		s.log.Error("scheduler already running on this node")
		return
	}
	defer s.running.Store(false)
	s.log.Info("scheduler started", "holder", s.holder)

	cl := cronLogger{s.log}
	c := cron.New(cron.WithLocation(time.UTC), cron.WithLogger(cl),
		cron.WithChain(cron.Recover(cl), cron.SkipIfStillRunning(cl)))
	recovered := cron.NewChain(cron.Recover(cl))
	loops := []*loop{s.renewal, s.jobs, s.health, s.notify, s.sweep, s.renewalInfo}
	for _, l := range loops {
		c.Schedule(l.schedule, cron.FuncJob(func() { l.run(ctx) }))
	}
	for _, ch := range []chan struct{}{s.wake, s.policyWake} {
		select { // a nudge from before this term is served by the first pass
		case <-ch:
		default:
		}
	}
	c.Start()
	var wg sync.WaitGroup
	for _, l := range loops {
		wg.Go(recovered.Then(cron.FuncJob(func() { l.run(ctx) })).Run)
	}
	nudged := recovered.Then(cron.FuncJob(func() { s.jobs.run(ctx) }))
	wg.Go(func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-s.wake:
				nudged.Run()
			}
		}
	})
	policiesNudged := recovered.Then(cron.FuncJob(func() { s.sweep.run(ctx) }))
	wg.Go(func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-s.policyWake:
				policiesNudged.Run()
			}
		}
	})
	<-ctx.Done()
	<-c.Stop().Done()
	wg.Wait()
	s.log.Info("scheduler stopped", "holder", s.holder)
}

// Running reports whether Run is running on this node (this node leads).
func (s *Scheduler) Running() bool { return s.running.Load() }

// Nudge asks the job loop to run now, for an Issuance or Renewal job just
// queued (POST /renew; Deployment jobs wait for their agent's poll instead).
// It never blocks; a pass already under way is followed by another. It acts
// only while Run runs on this node; elsewhere the leader's next tick picks
// the job up.
func (s *Scheduler) Nudge() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// loop runs one pass function, never two passes at once: a run asked for
// while a pass is under way becomes one more pass right after it, so no
// request is lost (cron.SkipIfStillRunning alone would drop a nudge).
type loop struct {
	name     string
	schedule cron.Schedule
	pass     func(ctx context.Context) error
	log      *slog.Logger

	mu    sync.Mutex
	busy  bool
	again bool
}

func (s *Scheduler) newLoop(name, spec string, pass func(context.Context) error) *loop {
	sched, _ := cron.ParseStandard(spec) // checked by Validate
	return &loop{name: name, schedule: sched, pass: pass, log: s.log}
}

func (l *loop) run(ctx context.Context) {
	l.mu.Lock()
	if l.busy {
		l.again = true
		l.mu.Unlock()
		return
	}
	l.busy = true
	l.mu.Unlock()
	finished := false
	defer func() {
		if !finished { // a panic, which cron.Recover logs: free the loop
			l.mu.Lock()
			l.busy, l.again = false, false
			l.mu.Unlock()
		}
	}()
	for {
		if ctx.Err() == nil {
			start := time.Now()
			err := l.pass(ctx)
			switch {
			case err != nil && ctx.Err() == nil:
				l.log.Warn("pass failed; the next one retries", "loop", l.name, "err", err, "took", time.Since(start))
			default:
				l.log.Debug("pass done", "loop", l.name, "took", time.Since(start))
			}
		}
		l.mu.Lock()
		if !l.again || ctx.Err() != nil {
			l.busy, l.again, finished = false, false, true
			l.mu.Unlock()
			return
		}
		l.again = false
		l.mu.Unlock()
	}
}

// propose commits p as the scheduler at now with requestID, which makes a
// retry, or the same decision taken again by another leader, a no-op.
func (s *Scheduler) propose(ctx context.Context, now time.Time, requestID string, p fsm.Payload) error {
	cmd, err := fsm.NewCommand(fsm.Meta{RequestID: requestID, Time: now, Actor: s.holder, ActorType: fsm.ActorSystem}, p)
	if err != nil {
		return err
	}
	_, err = s.proposer.Propose(ctx, cmd)
	return err
}

// rejected reports whether err is a domain rejection: the command was
// applied and changed nothing (the state moved on since it was read).
func rejected(err error) bool {
	var e *fsm.Error
	return errors.As(err, &e)
}

// cronLogger hands robfig/cron's logs to slog: its chatter at debug level,
// its errors (recovered panics) at error level.
type cronLogger struct{ log *slog.Logger }

func (c cronLogger) Info(msg string, kv ...any) { c.log.Debug("cron: "+msg, kv...) }
func (c cronLogger) Error(err error, msg string, kv ...any) {
	c.log.Error("cron: "+msg, append([]any{"err", err}, kv...)...)
}
