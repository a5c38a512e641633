// Command certctl-agent runs on a host (or next to devices that cannot run
// it, as a proxy agent): it heartbeats to a certctl cluster, makes private
// keys here and sends their CSRs, and deploys the issued certificates to
// NGINX, Apache httpd, HAProxy, plain files, F5 BIG-IP and IIS, checking each
// deployment with a TLS handshake. Keys never leave this host.
package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/certctl/certctl/agent"
	"github.com/certctl/certctl/api/client"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

// Exit statuses: 2 for a configuration to fix, 3 when the cluster retired
// the agent (restarting will not help; the unit does not restart on it).
const (
	exitConfig  = 2
	exitRetired = 3
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Getenv, os.Geteuid(), os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run is the agent's life; euid is the effective user id it runs as (0:
// root, see checkPrivileges).
func run(ctx context.Context, args []string, getenv func(string) string, euid int, stdout, stderr io.Writer) int {
	cfg, opts, err := loadConfig(args, getenv, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "certctl-agent:", err)
		return exitConfig
	}
	if opts.showVersion {
		fmt.Fprintln(stdout, "certctl-agent", version)
		return 0
	}
	s, err := cfg.check()
	if err != nil {
		fmt.Fprintf(stderr, "certctl-agent: the configuration is incomplete:\n  %v\n", err)
		return exitConfig
	}
	if err := s.checkPrivileges(euid); err != nil {
		fmt.Fprintln(stderr, "certctl-agent:", err)
		return exitConfig
	}
	level := new(slog.LevelVar)
	log, err := newLogger(s, stderr, level)
	if err != nil {
		fmt.Fprintln(stderr, "certctl-agent:", err)
		return exitConfig
	}
	if s.InsecureHTTP {
		log.Warn("insecure_http is set: http:// servers of other hosts are allowed, and over them the API key, CSRs and the work's keys and passwords cross the network in clear",
			"server_url", s.ServerURL.String())
	}
	stopReload := watchReload(ctx, log, level, func() (agentConfig, error) {
		c, _, err := loadConfig(args, getenv, io.Discard)
		return c, err
	})
	defer stopReload()
	a, err := newAgent(s, log)
	if err != nil {
		fmt.Fprintln(stderr, "certctl-agent:", err)
		return exitConfig
	}
	log.Info("host limits: targets write only inside allowed_dirs and run only the command lines of allowed_commands",
		"allowed_dirs", limit(s.AllowedDirs, "none: no file but the agent's own keys and state"),
		"allowed_commands", limit(s.AllowedCommands, "none: no command"))
	err = a.Run(ctx)
	switch {
	case errors.Is(err, agent.ErrRetired):
		log.Error("stopping", "err", err)
		return exitRetired
	case err != nil:
		log.Error("stopping", "err", err)
		return 1
	}
	return 0
}

// limit shows an allow-list in the log: its entries, or none.
func limit(list []string, none string) string {
	if len(list) == 0 {
		return none
	}
	return strings.Join(list, "; ")
}

func newAgent(s settled, log *slog.Logger) (*agent.Agent, error) {
	key, err := s.apiKey()
	if err != nil {
		return nil, err
	}
	hc, err := httpClient(s.CABundle)
	if err != nil {
		return nil, err
	}
	api, err := client.New(client.Config{Servers: s.ServerURL, InsecureHTTP: bool(s.InsecureHTTP), APIKey: key, HTTPClient: hc, UserAgent: "certctl-agent/" + version})
	if err != nil {
		return nil, err
	}
	targets, err := newTargets(s)
	if err != nil {
		return nil, err
	}
	host, _ := os.Hostname()
	if s.Name != "" {
		log = log.With("name", s.Name)
	}
	return agent.New(agent.Config{
		AgentID: s.AgentID, Hostname: host, Version: version, KeyDir: s.KeyDir, StateDir: s.StateDir,
		HeartbeatInterval: s.heartbeat, PollInterval: s.poll, Jitter: agent.DefaultJitter, JobTimeout: s.jobTimeout,
		API: api, Targets: targets, Logger: log,
		ACMEHTTPAddr: s.ACMEHTTPAddr, ACMEWebroot: s.ACMEWebroot, ACMEPoll: s.acmePoll,
	})
}

// httpClient fails fast on a dead member, so the client moves to the next
// one soon, and trusts caBundle's CAs for HTTPS when one is given.
func httpClient(caBundle string) (*http.Client, error) {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.DialContext = (&net.Dialer{Timeout: 3 * time.Second, KeepAlive: 30 * time.Second}).DialContext
	t.TLSHandshakeTimeout = 5 * time.Second
	t.ResponseHeaderTimeout = 30 * time.Second
	t.Proxy = nil // air-gapped sites: the cluster is reached directly
	if caBundle != "" {
		pemBytes, err := os.ReadFile(caBundle)
		if err != nil {
			return nil, fmt.Errorf("ca_bundle: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pemBytes) {
			return nil, fmt.Errorf("ca_bundle %s holds no PEM certificate", caBundle)
		}
		t.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	return &http.Client{Transport: t, Timeout: 60 * time.Second}, nil
}

func newLogger(s settled, w io.Writer, level *slog.LevelVar) (*slog.Logger, error) {
	if err := level.UnmarshalText([]byte(s.LogLevel)); err != nil {
		return nil, fmt.Errorf("log_level %q must be debug, info, warn or error", s.LogLevel)
	}
	o := &slog.HandlerOptions{Level: level}
	switch strings.ToLower(s.LogFormat) {
	case "text":
		return slog.New(slog.NewTextHandler(w, o)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, o)), nil
	}
	return nil, fmt.Errorf("log_format %q must be text or json", s.LogFormat)
}

// watchReload applies what can change without a restart when the agent gets
// SIGHUP (systemctl reload): the log level. Other settings are read at
// start; it says so rather than half-applying them.
func watchReload(ctx context.Context, log *slog.Logger, level *slog.LevelVar, reload func() (agentConfig, error)) (stop func()) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	done := make(chan struct{})
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-done:
				return
			case <-hup:
			}
			cfg, err := reload()
			if err != nil {
				log.Error("reload: the configuration does not load; nothing changed", "err", err)
				continue
			}
			if err := level.UnmarshalText([]byte(cfg.LogLevel)); err != nil {
				log.Error("reload: log_level must be debug, info, warn or error; nothing changed", "log_level", cfg.LogLevel)
				continue
			}
			log.Info("reload: log level applied; other settings take effect on restart (systemctl restart certctl-agent)", "log_level", level.Level())
		}
	}()
	return func() { signal.Stop(hup); close(done) }
}
