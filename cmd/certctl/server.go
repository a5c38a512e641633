package main

import (
	"context"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	legolog "github.com/go-acme/lego/v5/log"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/certctl/certctl/api"
	"github.com/certctl/certctl/connectors/keywrap"
	"github.com/certctl/certctl/fsm"
	"github.com/certctl/certctl/node"
	"github.com/certctl/certctl/node/backup"
	"github.com/certctl/certctl/scheduler"
	"github.com/certctl/certctl/scheduler/issuance"
)

func newServerCommand() *cobra.Command {
	var cfgPath string
	given := defaultServerConfig()
	cmd := &cobra.Command{
		Use:   "server",
		Short: "Run a certctl node",
		Long: `Run a node of the certctl control plane.

Start a new cluster on the first node with --bootstrap, then start the others
with --join pointing at any member and the same --join-token. Every flag is
also a key of the YAML file given with --config and a CERTCTL_* environment
variable; a flag beats the environment, which beats the file.

The notifiers are configured in the file only, as the mappings notify_email
(smtp_host, smtp_port, username, password_file, from_address, tls, ca_file,
link_base_url) and notify_webhook (url, secret_file, headers); a channel
without one has its notifications fail, never marked sent.

  certctl server --dev                  one node, demo data, no authentication
  certctl server --config /etc/certctl/certctl.yaml`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if cfgPath == "" {
				cfgPath = os.Getenv("CERTCTL_CONFIG")
			}
			resolve := func() (serverConfig, error) {
				cfg := defaultServerConfig()
				if cfgPath != "" {
					if err := cfg.loadFile(cfgPath); err != nil {
						return cfg, usageError{err}
					}
				}
				if err := cfg.applyEnv(os.Getenv); err != nil {
					return cfg, usageError{err}
				}
				cfg.applyFlags(cmd.Flags(), &given)
				if cfg.Dev && !cmd.Flags().Changed("data-dir") && os.Getenv("CERTCTL_DATA_DIR") == "" && !fileSetsDataDir(cfgPath) {
					cfg.DataDir = ""
				}
				if err := cfg.validateFor(); err != nil {
					return cfg, usageError{err}
				}
				return cfg, nil
			}
			cfg, err := resolve()
			if err != nil {
				return err
			}
			return runServer(cmd.Context(), cfg, cmd.ErrOrStderr(), resolve)
		},
	}
	cmd.Flags().StringVar(&cfgPath, "config", "", "YAML configuration file (env CERTCTL_CONFIG)")
	bindFlags(cmd.Flags(), &given)
	return cmd
}

// fileSetsDataDir reports whether the config file names a data dir.
func fileSetsDataDir(path string) bool {
	if path == "" {
		return false
	}
	var c serverConfig
	return c.loadFile(path) == nil && c.DataDir != ""
}

func (cfg *serverConfig) validateFor() error {
	if cfg.Dev && (cfg.Bootstrap || len(cfg.Join) > 0) {
		return errors.New("--dev runs a single node: it takes neither --bootstrap nor --join")
	}
	return cfg.validate()
}

// newLogger returns the server's logger; its level can change while it runs
// (SIGHUP reloads it from the configuration).
func newLogger(cfg serverConfig, w io.Writer, level *slog.LevelVar) *slog.Logger {
	_ = level.UnmarshalText([]byte(cfg.LogLevel))
	opts := &slog.HandlerOptions{Level: level}
	if cfg.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// runServer runs a node until ctx ends. reload resolves the configuration
// again on SIGHUP; what can change while running (the log level) is applied.
func runServer(ctx context.Context, cfg serverConfig, stderr io.Writer, reload func() (serverConfig, error)) error {
	level := new(slog.LevelVar)
	log := newLogger(cfg, stderr, level)
	operatorCert := new(atomic.Pointer[tls.Certificate])
	stopReload := watchReload(log, level, reload, func(next serverConfig) {
		if next.TLSCertFile == "" {
			return
		}
		c, err := loadOperatorCert(next)
		if err != nil {
			log.Error("TLS certificate not reloaded; serving the previous one", "err", err)
			return
		}
		operatorCert.Store(c.Load())
		log.Info("TLS certificate reloaded", "file", next.TLSCertFile)
	})
	defer stopReload()
	if cfg.Dev {
		cleanup, err := prepareDev(&cfg)
		if err != nil {
			return err
		}
		defer cleanup()
		fmt.Fprint(stderr, devBanner(cfg))
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return fmt.Errorf("data dir: %w", err)
	}
	if cfg.Dev && cfg.KEKFile == "" {
		path, err := devKEK(cfg.DataDir)
		if err != nil {
			return err
		}
		cfg.KEKFile = path
	}
	kek, err := loadKEK(cfg, log)
	if err != nil {
		return err
	}
	// The cluster CA's key, the Local CA's keys and target passwords are
	// sealed under the KEK; every node of a cluster has the same one.
	box, err := keywrap.NewBox(kek)
	if err != nil {
		return err
	}
	auditKey, err := keywrap.AuditKey(kek) // keys the audit chain's links, the same on every node
	if err != nil {
		return err
	}
	caSeed, err := keywrap.ClusterCASeed(kek) // the cluster CA of a cluster upgraded from one without TLS
	if err != nil {
		return err
	}
	token, err := joinToken(cfg, log)
	if err != nil {
		return err
	}
	if c, err := loadOperatorCert(cfg); err != nil {
		return usageError{err}
	} else {
		operatorCert.Store(c.Load())
	}

	ln, err := net.Listen("tcp", cfg.APIAddr)
	if err != nil {
		return fmt.Errorf("api: listen on %s: %w (is another certctl running? choose another --api-addr)", cfg.APIAddr, err)
	}
	apiAddr := advertisedAPIAddr(ln.Addr().String())
	n, err := node.New(node.Config{
		NodeID:        cfg.NodeID,
		DataDir:       cfg.DataDir,
		RaftAddr:      cfg.RaftAddr,
		RaftAdvertise: cfg.Advertise,
		APIAddr:       apiAddr,
		TLSHosts:      cfg.TLSSANs,
		Sealer:        box,
		Bootstrap:     cfg.Bootstrap || cfg.Dev,
		JoinAddrs:     cfg.Join,
		RestoreFrom:   cfg.RestoreFrom,
		JoinToken:     token,
		Logger:        log,
		AuditKey:      auditKey,
		CASeed:        caSeed,
	})
	clear(auditKey) // the state machine keeps its own copy
	defer clear(caSeed)
	if err != nil {
		ln.Close()
		return err
	}
	rate := cfg.RateLimit
	if rate == 0 {
		rate = -1 // api.Config: negative turns the limit off
	}
	scheme := "https"
	if cfg.Dev {
		scheme = "http"
	}
	// The issuer connectors, built once: the issuance service builds
	// issuers through them and the API checks configs and seals secrets by
	// their declarations.
	// lego logs through its own default logger: make it the node's.
	legolog.SetDefault(log.With("component", "acme"))
	issuers, err := issuerRegistry(kek, &acmeChallenges{nodeID: cfg.NodeID, n: n, now: time.Now, state: n.FSM()}, cfg.ACMEDNSHooks...)
	if err != nil {
		clear(kek)
		ln.Close()
		_ = n.Close()
		return err
	}
	pki, err := issuance.New(issuance.Config{NodeID: cfg.NodeID, KEK: kek, Logger: log,
		CRLBaseURL: scheme + "://" + apiAddr}, issuers, n.FSM(), n)
	// The passwords of target configs are sealed under the same KEK.
	secrets := api.SecretBox(box)
	clear(kek)
	if err != nil {
		ln.Close()
		_ = n.Close()
		return err
	}
	notifiers, err := cfg.notifiers()
	if err != nil {
		ln.Close()
		_ = n.Close()
		return err
	}
	notify, err := scheduler.NewNotifierService(notifiers, n.FSM(), nil)
	if err != nil {
		ln.Close()
		_ = n.Close()
		return err
	}
	if ch := notifiers.Channels(); len(ch) > 0 {
		log.Info("notifiers configured", "channels", ch)
	} else {
		log.Warn("no notifier configured (notify_email, notify_webhook in the config file): notifications are kept, failed, until one is")
	}
	offlineAfter, _ := cfg.agentOfflineAfter() // checked by validate
	schedCfg := scheduler.Config{NodeID: cfg.NodeID, Logger: log, Issuance: pki, Notifiers: notify, AgentOfflineAfter: offlineAfter,
		RenewalSpec: cfg.RenewalCheckSpec, JobsSpec: cfg.JobProcessorSpec, HealthSpec: cfg.AgentHealthSpec, NotifySpec: cfg.NotifySpec,
		RenewalInfoSpec: cfg.RenewalInfoSpec}
	if cfg.Dev {
		// Unless told otherwise, a dev node checks every minute so its
		// lifecycle shows.
		if schedCfg.RenewalSpec == scheduler.DefaultRenewalSpec {
			schedCfg.RenewalSpec = "@every 1m"
		}
		if schedCfg.HealthSpec == scheduler.DefaultHealthSpec {
			schedCfg.HealthSpec = "@every 1m"
		}
	}
	sched, err := scheduler.New(schedCfg, n.FSM(), n)
	if err != nil {
		ln.Close()
		_ = n.Close()
		return usageError{err}
	}
	// The lifecycle engine runs on whichever node leads, and only there. A
	// renewal asked for through a follower reaches the leader as a committed
	// entry: its job processor starts on it then, not at its next tick.
	runScheduler := sched.Run
	demoLoaded := make(chan struct{})
	if cfg.Dev {
		// The demo data is written as it stands (jobs claimed, completed,
		// failed by the demo's own holder): the scheduler starts once it is
		// in, so that it never claims a demo job before the demo does.
		runScheduler = func(ctx context.Context) {
			select {
			case <-demoLoaded:
				sched.Run(ctx)
			case <-ctx.Done():
			}
		}
	}
	n.RunOnLeader("scheduler", runScheduler)
	var snapshots api.SnapshotSchedule                    // nil unless snapshot_interval is set
	if sc, _ := cfg.snapshotSchedule(); sc.Interval > 0 { // checked by validate
		sc.Logger = log
		s, err := backup.NewSchedule(sc, n.FSM())
		if err != nil {
			ln.Close()
			_ = n.Close()
			return usageError{err}
		}
		n.RunOnLeader("snapshots", s.Run)
		snapshots = s
		log.Info("scheduled snapshots on", "interval", sc.Interval, "dir", sc.Dir, "retain", sc.Retain)
	}
	n.FSM().OnJobsQueued(sched.Nudge)
	n.FSM().OnRulesChanged(sched.NudgePolicies)
	srv := api.New(api.Config{Logger: log, Dev: cfg.Dev, RateLimit: rate, Nudge: sched.Nudge, Issuers: pki, Keys: pki, Secrets: secrets,
		TargetSecrets: targetSecrets(), IssuerTypes: issuers, Snapshots: snapshots, SnapshotTempDir: cfg.DataDir}, n.FSM(), n)
	defer srv.Close()
	httpSrv := newHTTPServer(srv.Handler(), log)
	if !cfg.Dev {
		httpSrv.TLSConfig = n.ServerTLSConfig(operatorCert.Load)
	}
	if cfg.ACMEHTTPAddr != "" {
		stopACME, err := serveACMEHTTP(cfg.ACMEHTTPAddr, n.FSM(), log)
		if err != nil {
			return err
		}
		defer stopACME()
	}
	if cfg.PprofAddr != "" {
		stopPprof, err := servePprof(cfg.PprofAddr, log)
		if err != nil {
			return err
		}
		defer stopPprof()
	}
	serveErr := make(chan error, 1)
	serve := func() {
		go func() {
			if cfg.Dev {
				serveErr <- httpSrv.Serve(ln)
				return
			}
			serveErr <- httpSrv.ServeTLS(ln, "", "")
		}()
		log.Info("api listening", "addr", ln.Addr().String(), "scheme", scheme, "node_id", cfg.NodeID)
	}
	// A cluster node answers /health while it joins; a dev node opens its
	// port once the demo data is in, so that ready means ready to look at.
	if !cfg.Dev {
		serve()
	}
	if err := n.Open(ctx); err != nil {
		shutdownHTTP(httpSrv)
		ln.Close()
		_ = n.Close()
		return err
	}
	if cfg.Dev {
		if err := loadDemoData(ctx, n, log); err != nil {
			log.Error("loading demo data failed", "err", err)
		}
		close(demoLoaded)
		serve()
	} else if cfg.Bootstrap {
		if err := bootstrapCluster(ctx, n, cfg.AdminKey, stderr, log); err != nil {
			shutdownHTTP(httpSrv)
			_ = n.Close()
			return err
		}
	}
	if !cfg.Dev {
		log.Info("cluster CA", "sha256", n.CAFingerprint(), "bundle", "GET /.well-known/pki/cluster-ca or certctl ca bundle")
	}

	var runErr error
	select {
	case <-ctx.Done():
		log.Info("shutting down")
	case err := <-serveErr:
		runErr = fmt.Errorf("api: %w", err)
	}
	if cfg.LeaveOnTerminate && !cfg.Dev && terminated(ctx) {
		leaveCluster(n, log)
	}
	// The API stops first so clients move to other nodes; the node then hands
	// leadership over before raft stops.
	shutdownHTTP(httpSrv)
	if err := n.Close(); err != nil && runErr == nil {
		runErr = err
	}
	return runErr
}

// leaveTimeout bounds leave_on_terminate's leaving: within systemd's
// TimeoutStopSec (60 s) with the API's drain and the node's close after it.
const leaveTimeout = 20 * time.Second

// leaveCluster takes this node out of the raft configuration before it
// stops for good (leave_on_terminate). A failure is logged: the node stops
// anyway, and an admin removes it with certctl operator raft remove-peer.
func leaveCluster(n *node.Node, log *slog.Logger) {
	ctx, cancel := context.WithTimeout(context.Background(), leaveTimeout)
	defer cancel()
	log.Info("leave_on_terminate: leaving the cluster before stopping")
	if err := n.Leave(ctx); err != nil {
		log.Error("leave_on_terminate: could not leave the cluster; remove this node with certctl operator raft remove-peer", "node_id", n.ID(), "err", err)
	}
}

// loadKEK reads --kek-file, which a node cannot run without: the cluster
// CA's key, the Local CA's keys and target passwords exist only sealed
// under it.
func loadKEK(cfg serverConfig, log *slog.Logger) ([]byte, error) {
	if cfg.KEKFile == "" {
		return nil, usageError{errors.New("--kek-file is required: the key-encryption key seals the cluster CA's key, the Local CA's keys and target passwords. " +
			"Make one (head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \\n' > /etc/certctl/kek; chmod 0600) and give every node of the cluster the same file")}
	}
	kek, err := keywrap.LoadKEK(cfg.KEKFile)
	if err != nil {
		return nil, fmt.Errorf("--kek-file: %w", err)
	}
	log.Info("key-encryption key loaded", "kek_id", keywrap.KeyID(kek))
	return kek, nil
}

// devKEK returns the key-encryption key file of a dev node's data dir,
// making a fresh one (mode 0600) if the data dir has none yet.
func devKEK(dataDir string) (string, error) {
	path := filepath.Join(dataDir, "kek")
	if _, err := os.Stat(path); err == nil {
		return path, nil
	}
	kek, err := keywrap.NewKEK(nil)
	if err != nil {
		return "", err
	}
	defer clear(kek)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return "", fmt.Errorf("dev key-encryption key: %w", err)
	}
	_, werr := f.WriteString(hex.EncodeToString(kek) + "\n")
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	if werr != nil {
		return "", fmt.Errorf("dev key-encryption key: %w", werr)
	}
	return path, nil
}

func shutdownHTTP(s *http.Server) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = s.Shutdown(ctx)
}

// advertisedAPIAddr is the API address recorded for other nodes. A wildcard
// bind is not dialable, so it becomes the host's name.
func advertisedAPIAddr(bound string) string {
	host, port, err := net.SplitHostPort(bound)
	if err != nil {
		return bound
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
		if h, err := os.Hostname(); err == nil {
			return net.JoinHostPort(h, port)
		}
	}
	return bound
}

// joinToken returns the join token a new node presents: from
// --join-token-file, else CERTCTL_JOIN_TOKEN or --join-token (a flag shows
// in ps and in shell histories, hence the warning).
func joinToken(cfg serverConfig, log *slog.Logger) (string, error) {
	if cfg.JoinTokenFile != "" {
		b, err := os.ReadFile(cfg.JoinTokenFile)
		if err != nil {
			return "", usageError{fmt.Errorf("--join-token-file: %w", err)}
		}
		return strings.TrimSpace(string(b)), nil
	}
	if cfg.JoinToken != "" && os.Getenv("CERTCTL_JOIN_TOKEN") == "" {
		log.Warn("the join token was given as a flag or in the config file, where ps or a backup may show it: prefer --join-token-file")
	}
	return strings.TrimSpace(cfg.JoinToken), nil
}

// loadOperatorCert loads --tls-cert-file and --tls-key-file; the pointer
// holds nil when none is configured (the API then serves the node
// certificate).
func loadOperatorCert(cfg serverConfig) (*atomic.Pointer[tls.Certificate], error) {
	p := new(atomic.Pointer[tls.Certificate])
	if cfg.TLSCertFile == "" {
		return p, nil
	}
	pair, err := tls.LoadX509KeyPair(cfg.TLSCertFile, cfg.TLSKeyFile)
	if err != nil {
		return nil, fmt.Errorf("--tls-cert-file/--tls-key-file: %w", err)
	}
	p.Store(&pair)
	return p, nil
}

// newHTTPServer bounds every phase of a connection: a client that sends its
// headers a byte at a time, or never finishes a body, is cut off.
func newHTTPServer(h http.Handler, log *slog.Logger) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       60 * time.Second,
		WriteTimeout:      2 * time.Minute,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}
}

// bootstrapCluster gives a new cluster its first admin key and, on the
// operator's terminal only, a join token for the next nodes (1 h, 4 uses:
// enough for a five-node cluster; more with certctl operator join-token
// create). A cluster that has keys already is left alone.
func bootstrapCluster(ctx context.Context, n *node.Node, keyFile string, out io.Writer, log *slog.Logger) error {
	created, err := bootstrapAdminKey(ctx, n, keyFile, out)
	if err != nil || !created {
		return err
	}
	if !isTerminal(out) {
		log.Info("new cluster: make a join token for the next nodes with `certctl operator join-token create` (it is shown only on a terminal, never in logs)")
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	tok, err := n.CreateJoinToken(ctx, time.Hour, 4)
	if err != nil {
		return fmt.Errorf("create the first join token: %w", err)
	}
	fmt.Fprintf(out, "\nJoin token for the next nodes (valid 1 h, 4 joins; shown this once):\n\n    %s\n\nCluster CA SHA-256 (for certctl ca bundle --fingerprint):\n\n    %s\n\n", tok, n.CAFingerprint())
	return nil
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// bootstrapAdminKey gives a new cluster its first admin key: the content of
// keyFile, or a generated key printed this once. A cluster that has keys
// already is left alone (created false).
func bootstrapAdminKey(ctx context.Context, n *node.Node, keyFile string, out io.Writer) (created bool, err error) {
	if count, err := n.FSM().APIKeyCount(); err != nil || count > 0 {
		return false, err
	}
	secret, generated := "", false
	if keyFile != "" {
		var err error
		if secret, err = readAdminKey(keyFile); err != nil {
			return false, err
		}
	} else {
		secret, generated = api.NewKeySecret(), true
	}
	cmd, err := fsm.NewCommand(fsm.Meta{RequestID: "bootstrap-admin-key", Time: time.Now(), Actor: "bootstrap", ActorType: fsm.ActorSystem},
		&fsm.CreateAPIKey{Key: fsm.APIKey{ID: "key-admin", Name: "admin", Role: fsm.RoleAdmin, Hash: api.HashKey(secret), Prefix: api.KeyPrefix(secret)}})
	if err != nil {
		return false, err
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if _, err := n.Propose(ctx, cmd); err != nil {
		return false, fmt.Errorf("create the first admin key: %w", err)
	}
	if generated {
		fmt.Fprintf(out, "\nFirst admin API key (shown this once; store it now):\n\n    %s\n\n", secret)
	}
	return true, nil
}

// servePprof serves Go's profiler on a loopback address until stopped.
func servePprof(addr string, log *slog.Logger) (stop func(), err error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("pprof: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	srv := newHTTPServer(mux, log)
	srv.WriteTimeout = 0 // a CPU profile or a trace streams for as long as asked
	go func() { _ = srv.Serve(ln) }()
	log.Info("profiler listening", "addr", ln.Addr().String())
	return func() { shutdownHTTP(srv) }, nil
}

// watchReload applies the reloadable configuration (the log level) on each
// SIGHUP until the returned stop is called, which waits for it.
func watchReload(log *slog.Logger, level *slog.LevelVar, reload func() (serverConfig, error), apply func(serverConfig)) (stop func()) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	done, finished := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(finished)
		for {
			select {
			case <-done:
				return
			case <-hup:
			}
			next, err := reload()
			if err != nil {
				log.Error("reload refused; configuration unchanged", "err", err)
				continue
			}
			if err := level.UnmarshalText([]byte(next.LogLevel)); err == nil {
				log.Info("configuration reloaded", "log_level", next.LogLevel)
			}
			apply(next)
		}
	}()
	return func() {
		signal.Stop(hup)
		close(done)
		<-finished
	}
}
