package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"runtime"
	"time"

	"github.com/certctl/certctl/api/client"
	"github.com/certctl/certctl/api/wire"
	"github.com/certctl/certctl/connectors/target"
)

// API is the agent protocol as the agent uses it; *client.Client is one.
type API interface {
	Heartbeat(ctx context.Context, agentID string, hb wire.HeartbeatRequest) error
	Work(ctx context.Context, agentID string) (*wire.WorkResponse, error)
	SubmitCSR(ctx context.Context, agentID string, req wire.CSRRequest) error
	PickupCertificate(ctx context.Context, agentID, certID string) (*wire.CertificatePickup, error)
	ReportJobStatus(ctx context.Context, agentID, jobID string, st wire.JobStatusRequest) error
}

// ErrRetired: the cluster retired this agent (410 Gone). Its id and key
// will not work again; register a new agent.
var ErrRetired = errors.New("agent: this agent was retired on the cluster; register a new agent and configure its id and key")

// Defaults of Config.
const (
	DefaultHeartbeatInterval = 60 * time.Second
	DefaultPollInterval      = 30 * time.Second
	DefaultJitter            = 0.1
	DefaultMaxBackoff        = 5 * time.Minute
	DefaultJobTimeout        = 5 * time.Minute
	DefaultShutdownGrace     = 30 * time.Second
)

// Config configures an Agent. AgentID, KeyDir, StateDir, API and Targets
// are required.
type Config struct {
	AgentID  string
	Hostname string // sent with heartbeats; default os.Hostname
	Version  string // sent with heartbeats
	KeyDir   string // private keys, 0700
	StateDir string // the deployment journal and the connectors' backups, 0700
	// HeartbeatInterval and PollInterval are the loops' periods; each wait
	// is moved by up to ±Jitter of it so a fleet does not beat in step.
	HeartbeatInterval, PollInterval time.Duration
	Jitter                          float64
	// MaxBackoff bounds the wait between tries while the cluster cannot be
	// reached (it starts at a second and doubles).
	MaxBackoff time.Duration
	// JobTimeout bounds one job; ShutdownGrace is how long a job under way
	// may still run after the agent is asked to stop.
	JobTimeout, ShutdownGrace time.Duration
	API                       API
	Targets                   *target.Registry
	Logger                    *slog.Logger
	// ACMEHTTPAddr and ACMEWebroot answer ACME HTTP-01 on this host for
	// issuers with http01_responder agent (acme.go): a listener of the
	// agent's own (e.g. ":80"), or files under a web server's document
	// root. Both empty (the default): the agent answers none. API must
	// then be an ACMEAPI too. ACMEPoll is how often it asks for answers
	// (default DefaultACMEPoll).
	ACMEHTTPAddr, ACMEWebroot string
	ACMEPoll                  time.Duration
}

// Agent is the runtime of certctl-agent.
type Agent struct {
	cfg     Config
	log     *slog.Logger
	keys    *KeyStore
	journal *journal
	// jobCtx is the context jobs run under: not cancelled with Run's, but
	// ShutdownGrace after it.
	jobCtx    context.Context
	cancelJob context.CancelFunc
	// responder and acmeAPI answer ACME HTTP-01; nil when not configured.
	responder *Responder
	acmeAPI   ACMEAPI
}

// New checks cfg and opens the key store and the journal.
func New(cfg Config) (*Agent, error) {
	if err := CheckID("agent_id", cfg.AgentID); err != nil {
		return nil, err
	}
	if cfg.API == nil || cfg.Targets == nil {
		return nil, errors.New("agent: Config.API and Config.Targets are required")
	}
	if cfg.Hostname == "" {
		cfg.Hostname, _ = os.Hostname()
	}
	setDefault(&cfg.HeartbeatInterval, DefaultHeartbeatInterval)
	setDefault(&cfg.PollInterval, DefaultPollInterval)
	setDefault(&cfg.MaxBackoff, DefaultMaxBackoff)
	setDefault(&cfg.JobTimeout, DefaultJobTimeout)
	setDefault(&cfg.ShutdownGrace, DefaultShutdownGrace)
	if cfg.Jitter < 0 || cfg.Jitter >= 1 {
		return nil, fmt.Errorf("agent: jitter %v must be at least 0 and below 1", cfg.Jitter)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	keys, err := OpenKeyStore(cfg.KeyDir)
	if err != nil {
		return nil, err
	}
	j, err := openJournal(cfg.StateDir)
	if err != nil {
		return nil, err
	}
	a := &Agent{cfg: cfg, log: cfg.Logger.With("agent", cfg.AgentID), keys: keys, journal: j}
	if cfg.ACMEHTTPAddr != "" || cfg.ACMEWebroot != "" {
		api, ok := cfg.API.(ACMEAPI)
		if !ok {
			return nil, errors.New("agent: Config.API does not speak the ACME answers' part of the protocol")
		}
		setDefault(&a.cfg.ACMEPoll, DefaultACMEPoll)
		if a.responder, err = NewResponder(cfg.ACMEWebroot, nil, a.log); err != nil {
			return nil, err
		}
		a.acmeAPI = api
	}
	a.jobCtx, a.cancelJob = context.WithCancel(context.Background())
	return a, nil
}

func setDefault(d *time.Duration, def time.Duration) {
	if *d <= 0 {
		*d = def
	}
}

// Keys is the agent's key store.
func (a *Agent) Keys() *KeyStore { return a.keys }

// Run settles what an earlier run left unfinished, then heartbeats and
// polls for work until ctx ends (nil) or the cluster retires the agent
// (ErrRetired). A job under way when ctx ends gets ShutdownGrace to finish;
// after that it is cancelled and its connector restores the target. An
// Agent runs once.
func (a *Agent) Run(ctx context.Context) error {
	defer a.cancelJob()
	stop := context.AfterFunc(ctx, func() { time.AfterFunc(a.cfg.ShutdownGrace, a.cancelJob) })
	defer stop()
	a.log.Info("agent starting", "hostname", a.cfg.Hostname, "version", a.cfg.Version, "key_dir", a.keys.Dir(),
		"heartbeat", a.cfg.HeartbeatInterval, "poll", a.cfg.PollInterval, "targets", a.cfg.Targets.Types())
	a.settle(ctx)

	errs := make(chan error, 3)
	loopCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	loops := 2
	if a.responder != nil {
		defer a.responder.Close()
		if a.cfg.ACMEHTTPAddr != "" {
			if _, err := ServeACME(loopCtx, a.cfg.ACMEHTTPAddr, a.responder, a.log); err != nil {
				return err
			}
		}
		loops++
		go func() { errs <- a.loop(loopCtx, "acme answers", a.cfg.ACMEPoll, a.SyncACME) }()
	}
	go func() { errs <- a.loop(loopCtx, "heartbeat", a.cfg.HeartbeatInterval, a.Heartbeat) }()
	go func() { errs <- a.loop(loopCtx, "work poll", a.cfg.PollInterval, a.PollOnce) }()
	err := <-errs
	cancel()
	for range loops - 1 {
		if err2 := <-errs; err == nil {
			err = err2
		}
	}
	a.log.Info("agent stopped", "err", err)
	return err
}

// loop runs step now and then every period (jittered); after a failure it
// waits 1 s, 2 s, 4 s ... up to MaxBackoff instead, so a fleet neither
// hammers a cluster that is down nor waits long once it is back.
func (a *Agent) loop(ctx context.Context, name string, period time.Duration, step func(context.Context) error) error {
	failures := 0
	for {
		err := step(ctx)
		if errors.Is(err, ErrRetired) {
			return err
		}
		wait := a.jittered(period)
		switch {
		case ctx.Err() != nil:
			return nil
		case err != nil:
			failures++
			wait = a.backoff(failures)
			a.log.Warn(name+" failed; trying again", "err", err, "failures", failures, "retry_in", wait.Round(time.Millisecond))
		case failures > 0:
			a.log.Info(name+" works again", "after_failures", failures)
			failures = 0
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(wait):
		}
	}
}

func (a *Agent) jittered(period time.Duration) time.Duration {
	if a.cfg.Jitter == 0 {
		return period
	}
	f := 1 + a.cfg.Jitter*(2*rand.Float64()-1)
	return time.Duration(float64(period) * f)
}

func (a *Agent) backoff(failures int) time.Duration {
	d := a.cfg.MaxBackoff
	if failures < 30 {
		d = min(time.Second<<(failures-1), a.cfg.MaxBackoff)
	}
	// Half fixed, half random: agents that failed together retry apart.
	return d/2 + rand.N(d/2+1)
}

// Heartbeat tells the cluster the agent is alive, with its version, host
// name, operating system and architecture (the dashboard's fleet view).
func (a *Agent) Heartbeat(ctx context.Context) error {
	err := a.cfg.API.Heartbeat(ctx, a.cfg.AgentID, wire.HeartbeatRequest{Version: a.cfg.Version, Hostname: a.cfg.Hostname,
		OS: runtime.GOOS, Architecture: runtime.GOARCH})
	return a.apiErr(err)
}

// PollOnce reports what is owed, fetches the agent's jobs and works them
// one after another.
func (a *Agent) PollOnce(ctx context.Context) error {
	a.settle(ctx)
	w, err := a.cfg.API.Work(ctx, a.cfg.AgentID)
	if err != nil {
		return a.apiErr(err)
	}
	for _, item := range w.Jobs {
		if ctx.Err() != nil {
			return nil
		}
		if err := a.work(ctx, item); errors.Is(err, ErrRetired) {
			return err
		}
	}
	return nil
}

func (a *Agent) apiErr(err error) error {
	if client.IsGone(err) {
		return fmt.Errorf("%w (%v)", ErrRetired, err)
	}
	return err
}
