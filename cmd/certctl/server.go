package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/certctl/certctl/api"
	"github.com/certctl/certctl/connectors/issuer"
	"github.com/certctl/certctl/connectors/issuer/localca"
	"github.com/certctl/certctl/connectors/keywrap"
	"github.com/certctl/certctl/fsm"
	"github.com/certctl/certctl/node"
	"github.com/certctl/certctl/scheduler"
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
	stopReload := watchReload(log, level, reload)
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
	token, generated, err := joinToken(cfg)
	if err != nil {
		return err
	}
	if generated && !cfg.Dev {
		fmt.Fprintf(stderr, "\nJoin token for new nodes (saved in %s):\n\n    %s\n\n", tokenPath(cfg.DataDir), token)
	}

	ln, err := net.Listen("tcp", cfg.APIAddr)
	if err != nil {
		return fmt.Errorf("api: listen on %s: %w (is another certctl running? choose another --api-addr)", cfg.APIAddr, err)
	}
	n, err := node.New(node.Config{
		NodeID:        cfg.NodeID,
		DataDir:       cfg.DataDir,
		RaftAddr:      cfg.RaftAddr,
		RaftAdvertise: cfg.Advertise,
		APIAddr:       advertisedAPIAddr(ln.Addr().String()),
		Bootstrap:     cfg.Bootstrap || cfg.Dev,
		JoinAddrs:     cfg.Join,
		JoinToken:     token,
		Logger:        log,
	})
	if err != nil {
		ln.Close()
		return err
	}
	rate := cfg.RateLimit
	if rate == 0 {
		rate = -1 // api.Config: negative turns the limit off
	}
	// The connectors' config validators by issuer type. Types without a
	// connector in this build (ACME, Vault PKI, step-ca for now) are stored
	// as given; their configs are checked when their connector arrives.
	validators := map[string]issuer.ConfigValidator{strings.ToLower(localca.Type): localca.ValidateConfig}
	issuance, err := scheduler.NewIssuanceService(scheduler.IssuanceConfig{NodeID: cfg.NodeID, KEK: kek, Logger: log,
		CRLBaseURL: "http://" + advertisedAPIAddr(ln.Addr().String())}, n.FSM(), n)
	// The passwords of target configs are sealed under the same KEK; a
	// node without one refuses them (api.Config.Secrets nil).
	var secrets api.SecretBox
	if len(kek) > 0 && err == nil {
		secrets, err = keywrap.NewBox(kek)
	}
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
	schedCfg := scheduler.Config{NodeID: cfg.NodeID, Logger: log, Issuance: issuance, Notifiers: notify, AgentOfflineAfter: offlineAfter,
		RenewalSpec: cfg.RenewalCheckSpec, JobsSpec: cfg.JobProcessorSpec, HealthSpec: cfg.AgentHealthSpec, NotifySpec: cfg.NotifySpec}
	if cfg.Dev {
		// The demo data arrives after the first passes: unless told
		// otherwise, a dev node checks every minute so its lifecycle shows.
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
	n.RunOnLeader("scheduler", sched.Run)
	n.FSM().OnJobsQueued(sched.Nudge)
	srv := api.New(api.Config{Logger: log, Dev: cfg.Dev, RateLimit: rate, Nudge: sched.Nudge, Issuers: issuance, Keys: issuance, Secrets: secrets,
		TargetSecrets: targetSecrets(), IssuerSecrets: issuerSecrets(),
		ValidateIssuerConfig: func(ctx context.Context, typ string, config json.RawMessage) error {
			if validate, ok := validators[strings.ToLower(typ)]; ok {
				return validate(ctx, config)
			}
			return nil
		},
	}, n.FSM(), n)
	defer srv.Close()
	httpSrv := &http.Server{Handler: srv.Handler(), ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute}
	if cfg.PprofAddr != "" {
		stopPprof, err := servePprof(cfg.PprofAddr, log)
		if err != nil {
			return err
		}
		defer stopPprof()
	}
	serveErr := make(chan error, 1)
	serve := func() {
		go func() { serveErr <- httpSrv.Serve(ln) }()
		log.Info("api listening", "addr", ln.Addr().String(), "node_id", cfg.NodeID)
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
		serve()
	} else if cfg.Bootstrap {
		if err := bootstrapAdminKey(ctx, n, cfg.AdminKey, stderr); err != nil {
			shutdownHTTP(httpSrv)
			_ = n.Close()
			return err
		}
	}

	var runErr error
	select {
	case <-ctx.Done():
		log.Info("shutting down")
	case err := <-serveErr:
		runErr = fmt.Errorf("api: %w", err)
	}
	// The API stops first so clients move to other nodes; the node then hands
	// leadership over before raft stops.
	shutdownHTTP(httpSrv)
	if err := n.Close(); err != nil && runErr == nil {
		runErr = err
	}
	return runErr
}

// loadKEK reads --kek-file. Without one the node runs, but the Local CA
// cannot issue on it and it refuses target passwords: both exist only
// sealed under that key.
func loadKEK(cfg serverConfig, log *slog.Logger) ([]byte, error) {
	if cfg.KEKFile == "" {
		log.Warn("no --kek-file: the Local CA cannot issue on this node, and target passwords (F5, IIS) are refused (give every node the same key-encryption key file)")
		return nil, nil
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

func tokenPath(dataDir string) string { return filepath.Join(dataDir, "join-token") }

// joinToken returns the configured token, or the one saved in the data dir,
// or, for a node bootstrapping a cluster, a new one it saves there.
func joinToken(cfg serverConfig) (token string, generated bool, err error) {
	if cfg.JoinToken != "" {
		return cfg.JoinToken, false, nil
	}
	if b, err := os.ReadFile(tokenPath(cfg.DataDir)); err == nil {
		return strings.TrimSpace(string(b)), false, nil
	}
	if !cfg.Bootstrap && !cfg.Dev {
		if len(cfg.Join) > 0 {
			return "", false, usageError{errors.New("--join needs --join-token: the token printed by the first node (or in its data dir, file join-token)")}
		}
		return "", false, nil
	}
	var b [24]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", false, err
	}
	token = hex.EncodeToString(b[:])
	if err := os.WriteFile(tokenPath(cfg.DataDir), []byte(token+"\n"), 0o600); err != nil {
		return "", false, fmt.Errorf("save join token: %w", err)
	}
	return token, true, nil
}

// bootstrapAdminKey gives a new cluster its first admin key: the content of
// keyFile, or a generated key printed this once. A cluster that has keys
// already is left alone.
func bootstrapAdminKey(ctx context.Context, n *node.Node, keyFile string, out io.Writer) error {
	if count, err := n.FSM().APIKeyCount(); err != nil || count > 0 {
		return err
	}
	secret, generated := "", false
	if keyFile != "" {
		b, err := os.ReadFile(keyFile)
		if err != nil {
			return fmt.Errorf("admin key file: %w", err)
		}
		secret = strings.TrimSpace(string(b))
		if len(secret) < 16 {
			return usageError{fmt.Errorf("admin key file %s holds %d characters; use at least 16 random ones", keyFile, len(secret))}
		}
	} else {
		secret, generated = api.NewKeySecret(), true
	}
	cmd, err := fsm.NewCommand(fsm.Meta{RequestID: "bootstrap-admin-key", Time: time.Now(), Actor: "bootstrap", ActorType: fsm.ActorSystem},
		&fsm.CreateAPIKey{Key: fsm.APIKey{ID: "key-admin", Name: "admin", Role: fsm.RoleAdmin, Hash: api.HashKey(secret), Prefix: api.KeyPrefix(secret)}})
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if _, err := n.Propose(ctx, cmd); err != nil {
		return fmt.Errorf("create the first admin key: %w", err)
	}
	if generated {
		fmt.Fprintf(out, "\nFirst admin API key (shown this once; store it now):\n\n    %s\n\n", secret)
	}
	return nil
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
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	log.Info("profiler listening", "addr", ln.Addr().String())
	return func() { shutdownHTTP(srv) }, nil
}

// watchReload applies the reloadable configuration (the log level) on each
// SIGHUP until the returned stop is called, which waits for it.
func watchReload(log *slog.Logger, level *slog.LevelVar, reload func() (serverConfig, error)) (stop func()) {
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
		}
	}()
	return func() {
		signal.Stop(hup)
		close(done)
		<-finished
	}
}
