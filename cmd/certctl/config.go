package main

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
	"github.com/spf13/pflag"
	"gopkg.in/yaml.v3"

	"github.com/certctl/certctl/node/backup"
	"github.com/certctl/certctl/scheduler"
)

// serverConfig is the configuration of `certctl server`. Each field is a YAML
// key of --config, a CERTCTL_* environment variable and a flag; a flag beats the
// environment, which beats the file, which beats the default. The notifiers'
// mappings (notify_email, notify_webhook) are keys of the file only.
type serverConfig struct {
	NodeID    string   `yaml:"node_id"`
	DataDir   string   `yaml:"data_dir"`
	APIAddr   string   `yaml:"api_addr"`
	RaftAddr  string   `yaml:"raft_addr"`
	Advertise string   `yaml:"advertise_addr"`
	Bootstrap bool     `yaml:"bootstrap"`
	Join      []string `yaml:"join"`
	// RestoreFrom is a snapshot file a node with an empty data dir starts
	// a new cluster of its own from (disaster recovery).
	RestoreFrom string `yaml:"restore_from"`
	JoinToken   string `yaml:"join_token"`
	// JoinTokenFile holds the join token: the way to pass it that keeps it
	// out of ps and of the unit's environment.
	JoinTokenFile string `yaml:"join_token_file"`
	// LeaveOnTerminate makes a node stopped with SIGTERM leave the raft
	// configuration before it exits (a leader hands leadership over
	// first): for a node stopped for good. Off, a stop keeps the node a
	// member, as a restart needs.
	LeaveOnTerminate bool `yaml:"leave_on_terminate"`
	// TLSCertFile and TLSKeyFile are the operator's certificate for the API
	// (reloaded on SIGHUP); without them the API serves the node
	// certificate. TLSSANs are names the node certificate carries besides
	// the hosts of api_addr and advertise_addr.
	TLSCertFile string   `yaml:"tls_cert_file"`
	TLSKeyFile  string   `yaml:"tls_key_file"`
	TLSSANs     []string `yaml:"tls_sans"`
	AdminKey    string   `yaml:"admin_key_file"`
	KEKFile     string   `yaml:"kek_file"`
	RateLimit   float64  `yaml:"rate_limit"`

	RenewalCheckSpec string `yaml:"renewal_check_spec"`
	JobProcessorSpec string `yaml:"job_processor_spec"`
	AgentHealthSpec  string `yaml:"agent_health_spec"`
	NotifySpec       string `yaml:"notification_spec"`
	RenewalInfoSpec  string `yaml:"renewal_info_spec"`

	AgentHeartbeatInterval string  `yaml:"agent_heartbeat_interval"`
	AgentMissedHeartbeats  float64 `yaml:"agent_missed_heartbeats"`
	PprofAddr              string  `yaml:"pprof_addr"`
	// ACMEHTTPAddr is where this node answers ACME HTTP-01 challenges
	// (plain HTTP; the CA reaches it on port 80 of the names it validates,
	// through whatever forwards there). Empty: not served.
	ACMEHTTPAddr string `yaml:"acme_http_addr"`
	// ACMEDNSHooks are the programs an ACME issuer's dns-01 config may run
	// as its dns_hook: absolute paths, set only here, by whoever
	// administers the node, never through the API.
	ACMEDNSHooks []string `yaml:"acme_dns_hooks"`
	Dev          bool     `yaml:"dev"`
	LogLevel     string   `yaml:"log_level"`
	LogFormat    string   `yaml:"log_format"`

	// Scheduled snapshots, taken by the leader: every SnapshotInterval (a
	// duration; "" or "0" is off) into SnapshotDir, keeping the newest
	// SnapshotRetain.
	SnapshotInterval string `yaml:"snapshot_interval"`
	SnapshotDir      string `yaml:"snapshot_dir"`
	SnapshotRetain   int    `yaml:"snapshot_retain"`

	NotifyEmail   *emailSettings   `yaml:"notify_email"`
	NotifyWebhook *webhookSettings `yaml:"notify_webhook"`
}

// setting describes one configuration key across its three sources. field
// returns a pointer to the key's field (*string, *bool, *[]string, *float64 or *int).
type setting struct {
	flag, env, usage string
	field            func(c *serverConfig) any
}

func defaultServerConfig() serverConfig {
	host, _ := os.Hostname()
	return serverConfig{
		NodeID:    sanitizeNodeID(host),
		DataDir:   "/var/lib/certctl",
		APIAddr:   "127.0.0.1:8443",
		RaftAddr:  "127.0.0.1:8300",
		LogLevel:  "info",
		RateLimit: 100,
		LogFormat: "text",

		RenewalCheckSpec: scheduler.DefaultRenewalSpec,
		JobProcessorSpec: scheduler.DefaultJobsSpec,
		AgentHealthSpec:  scheduler.DefaultHealthSpec,
		NotifySpec:       scheduler.DefaultNotifySpec,
		RenewalInfoSpec:  scheduler.DefaultRenewalInfoSpec,

		AgentHeartbeatInterval: "60s",
		AgentMissedHeartbeats:  3,
		SnapshotInterval:       "0",
		SnapshotRetain:         backup.DefaultRetain,
	}
}

func sanitizeNodeID(host string) string {
	host, _, _ = strings.Cut(host, ".")
	if host == "" {
		return "node1"
	}
	return host
}

// serverSettings is the table of every key.
var serverSettings = []setting{
	{"node-id", "CERTCTL_NODE_ID", "unique name of this node in the cluster (default: the host name)", func(c *serverConfig) any { return &c.NodeID }},
	{"data-dir", "CERTCTL_DATA_DIR", "directory of this node's state (raft log, snapshots, state file)", func(c *serverConfig) any { return &c.DataDir }},
	{"api-addr", "CERTCTL_API_ADDR", "host:port of the REST API and dashboard", func(c *serverConfig) any { return &c.APIAddr }},
	{"raft-addr", "CERTCTL_RAFT_ADDR", "host:port of the Raft transport between nodes", func(c *serverConfig) any { return &c.RaftAddr }},
	{"advertise-addr", "CERTCTL_ADVERTISE_ADDR", "host:port other nodes dial for Raft, when it differs from --raft-addr (e.g. bound to 0.0.0.0)", func(c *serverConfig) any { return &c.Advertise }},
	{"bootstrap", "CERTCTL_BOOTSTRAP", "start a new cluster with this node as its first member (ignored once the data dir holds state)", func(c *serverConfig) any { return &c.Bootstrap }},
	{"restore-from", "CERTCTL_RESTORE_FROM", "snapshot file (certctl snapshot save) to start a new cluster of this node alone from, on an empty data dir, with the same --kek-file as the saved cluster; the other nodes then join it (ignored once the data dir holds state)", func(c *serverConfig) any { return &c.RestoreFrom }},
	{"join", "CERTCTL_JOIN", "API address of any member of the cluster to join; repeatable (environment: comma-separated)", func(c *serverConfig) any { return &c.Join }},
	{"join-token", "CERTCTL_JOIN_TOKEN", "join token a new node presents to join (prefer --join-token-file or the environment: a flag shows in ps)", func(c *serverConfig) any { return &c.JoinToken }},
	{"join-token-file", "CERTCTL_JOIN_TOKEN_FILE", "file holding the join token a new node presents to join (from certctl operator join-token create, or printed by the first node)", func(c *serverConfig) any { return &c.JoinTokenFile }},
	{"leave-on-terminate", "CERTCTL_LEAVE_ON_TERMINATE", "on SIGTERM, leave the cluster's raft configuration before exiting (a leader hands leadership over first): for a node stopped for good; off, a stop or restart keeps the node a member", func(c *serverConfig) any { return &c.LeaveOnTerminate }},
	{"tls-cert-file", "CERTCTL_TLS_CERT_FILE", "PEM certificate (with its chain) the API serves to browsers, the CLI and agents; reloaded on SIGHUP (default: the node certificate from the cluster CA)", func(c *serverConfig) any { return &c.TLSCertFile }},
	{"tls-key-file", "CERTCTL_TLS_KEY_FILE", "PEM private key of --tls-cert-file", func(c *serverConfig) any { return &c.TLSKeyFile }},
	{"tls-sans", "CERTCTL_TLS_SANS", "name (DNS or IP) the node certificate carries besides the hosts of --api-addr and --advertise-addr; repeatable (environment: comma-separated)", func(c *serverConfig) any { return &c.TLSSANs }},
	{"admin-key-file", "CERTCTL_ADMIN_KEY_FILE", "file whose content becomes the first admin API key when this node bootstraps a cluster (default: one is generated and printed once)", func(c *serverConfig) any { return &c.AdminKey }},
	{"kek-file", "CERTCTL_KEK_FILE", "file holding the key-encryption key (32 bytes: raw, hex or base64; mode 0600) that seals the Local CA's keys; every node needs the same one (--dev makes one in its data dir)", func(c *serverConfig) any { return &c.KEKFile }},
	{"dev", "CERTCTL_DEV", "one node with demo data and NO AUTHENTICATION, on loopback addresses only, in a temporary data dir unless --data-dir is given", func(c *serverConfig) any { return &c.Dev }},
	{"rate-limit", "CERTCTL_RATE_LIMIT", "requests per second allowed per API key (bursts of twice that); 0 turns the limit off", func(c *serverConfig) any { return &c.RateLimit }},
	{"acme-http-addr", "CERTCTL_ACME_HTTP_ADDR", "host:port to answer ACME HTTP-01 challenges on, plain HTTP (every node of a cluster with an ACME issuer using http-01; off when empty)", func(c *serverConfig) any { return &c.ACMEHTTPAddr }},
	{"acme-dns-hooks", "CERTCTL_ACME_DNS_HOOKS", "absolute path of a program an ACME issuer's dns-01 config may run as its dns_hook (present|cleanup <fqdn> <value>); repeatable (environment: comma-separated); none: no hook runs", func(c *serverConfig) any { return &c.ACMEDNSHooks }},
	{"pprof-addr", "CERTCTL_PPROF_ADDR", "loopback host:port to serve Go's profiler on, for diagnosing performance (off when empty)", func(c *serverConfig) any { return &c.PprofAddr }},
	{"renewal-check-spec", "CERTCTL_RENEWAL_CHECK_SPEC", "how often the leader checks expiries, sends threshold alerts and queues renewals (cron spec or @every)", func(c *serverConfig) any { return &c.RenewalCheckSpec }},
	{"job-processor-spec", "CERTCTL_JOB_PROCESSOR_SPEC", "how often the leader works through due issuance and renewal jobs (renew and deploy also wake it)", func(c *serverConfig) any { return &c.JobProcessorSpec }},
	{"agent-health-spec", "CERTCTL_AGENT_HEALTH_SPEC", "how often the leader marks agents with stale heartbeats offline", func(c *serverConfig) any { return &c.AgentHealthSpec }},
	{"notification-spec", "CERTCTL_NOTIFICATION_SPEC", "how often the leader sends pending notifications and retries failed ones", func(c *serverConfig) any { return &c.NotifySpec }},
	{"renewal-info-spec", "CERTCTL_RENEWAL_INFO_SPEC", "how often the leader asks ACME CAs for their suggested renewal windows (RFC 9773), each certificate no sooner than its CA's Retry-After", func(c *serverConfig) any { return &c.RenewalInfoSpec }},
	{"agent-heartbeat-interval", "CERTCTL_AGENT_HEARTBEAT_INTERVAL", "how often agents send heartbeats (their own setting; 60s by default)", func(c *serverConfig) any { return &c.AgentHeartbeatInterval }},
	{"agent-missed-heartbeats", "CERTCTL_AGENT_MISSED_HEARTBEATS", "heartbeats an agent may miss before it is marked offline (and its owners alerted)", func(c *serverConfig) any { return &c.AgentMissedHeartbeats }},
	{"snapshot-interval", "CERTCTL_SNAPSHOT_INTERVAL", "how often the leader writes a snapshot file of the state to --snapshot-dir, e.g. 6h (0: never)", func(c *serverConfig) any { return &c.SnapshotInterval }},
	{"snapshot-dir", "CERTCTL_SNAPSHOT_DIR", "directory of the scheduled snapshot files (required with --snapshot-interval; the same path on every node, as any node may lead)", func(c *serverConfig) any { return &c.SnapshotDir }},
	{"snapshot-retain", "CERTCTL_SNAPSHOT_RETAIN", "how many scheduled snapshot files to keep in --snapshot-dir; older ones are deleted", func(c *serverConfig) any { return &c.SnapshotRetain }},
	{"log-level", "CERTCTL_LOG_LEVEL", "debug, info, warn or error", func(c *serverConfig) any { return &c.LogLevel }},
	{"log-format", "CERTCTL_LOG_FORMAT", "text or json", func(c *serverConfig) any { return &c.LogFormat }},
}

// bindFlags registers a flag per setting, writing into c.
func bindFlags(fs *pflag.FlagSet, c *serverConfig) {
	for _, s := range serverSettings {
		usage := s.usage + " (env " + s.env + ")"
		switch p := s.field(c).(type) {
		case *string:
			fs.StringVar(p, s.flag, *p, usage)
		case *bool:
			fs.BoolVar(p, s.flag, *p, usage)
		case *[]string:
			fs.StringArrayVar(p, s.flag, *p, usage)
		case *float64:
			fs.Float64Var(p, s.flag, *p, usage)
		case *int:
			fs.IntVar(p, s.flag, *p, usage)
		}
	}
}

// applyEnv sets every key whose CERTCTL_* variable is set.
func (c *serverConfig) applyEnv(getenv func(string) string) error {
	for _, s := range serverSettings {
		v := getenv(s.env)
		if v == "" {
			continue
		}
		switch p := s.field(c).(type) {
		case *string:
			*p = v
		case *bool:
			b, err := strconv.ParseBool(v)
			if err != nil {
				return fmt.Errorf("%s=%q is not a boolean (use true or false)", s.env, v)
			}
			*p = b
		case *[]string:
			*p = splitList(v)
		case *float64:
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				return fmt.Errorf("%s=%q is not a number", s.env, v)
			}
			*p = f
		case *int:
			n, err := strconv.Atoi(v)
			if err != nil {
				return fmt.Errorf("%s=%q is not a whole number", s.env, v)
			}
			*p = n
		}
	}
	return nil
}

// applyFlags copies the keys whose flag was given on the command line.
func (c *serverConfig) applyFlags(fs *pflag.FlagSet, given *serverConfig) {
	for _, s := range serverSettings {
		if !fs.Changed(s.flag) {
			continue
		}
		switch p := s.field(c).(type) {
		case *string:
			*p = *s.field(given).(*string)
		case *bool:
			*p = *s.field(given).(*bool)
		case *[]string:
			*p = *s.field(given).(*[]string)
		case *float64:
			*p = *s.field(given).(*float64)
		case *int:
			*p = *s.field(given).(*int)
		}
	}
}

func splitList(v string) []string {
	var out []string
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// loadFile merges a YAML config file into cfg; unknown keys are an error so
// a typo never silently falls back to a default.
func (cfg *serverConfig) loadFile(path string) error {
	raw, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("config file: %w", err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	dec.KnownFields(true)
	if err := dec.Decode(cfg); err != nil && err.Error() != "EOF" {
		return fmt.Errorf("config file %s: %w", path, err)
	}
	return nil
}

// validate checks the final configuration and says what to fix.
func (cfg *serverConfig) validate() error {
	if cfg.Bootstrap && len(cfg.Join) > 0 {
		return fmt.Errorf("--bootstrap starts a new cluster and --join joins an existing one: give only one")
	}
	if cfg.RestoreFrom != "" && (cfg.Bootstrap || len(cfg.Join) > 0 || cfg.Dev) {
		return fmt.Errorf("--restore-from starts a new cluster from the snapshot by itself: give it without --bootstrap, --join or --dev")
	}
	if cfg.DataDir == "" && !cfg.Dev {
		return fmt.Errorf("--data-dir is required")
	}
	for _, h := range cfg.ACMEDNSHooks {
		if !filepath.IsAbs(h) {
			return fmt.Errorf("--acme-dns-hooks %q must be an absolute path", h)
		}
	}
	if (cfg.TLSCertFile == "") != (cfg.TLSKeyFile == "") {
		return fmt.Errorf("--tls-cert-file and --tls-key-file go together: give both, or neither to serve the node certificate")
	}
	if cfg.JoinToken != "" && cfg.JoinTokenFile != "" {
		return fmt.Errorf("--join-token and --join-token-file: give only one (the file keeps the token out of ps)")
	}
	if err := cfg.validateDev(); err != nil {
		return err
	}
	if cfg.RateLimit < 0 {
		return fmt.Errorf("--rate-limit %g must be 0 (off) or more", cfg.RateLimit)
	}
	if cfg.PprofAddr != "" {
		host, _, err := net.SplitHostPort(cfg.PprofAddr)
		if ip := net.ParseIP(host); err != nil || ip == nil || !ip.IsLoopback() {
			return fmt.Errorf("--pprof-addr %q must be a loopback address such as 127.0.0.1:6060", cfg.PprofAddr)
		}
	}
	for _, spec := range []struct{ flag, value string }{
		{"renewal-check-spec", cfg.RenewalCheckSpec}, {"job-processor-spec", cfg.JobProcessorSpec},
		{"agent-health-spec", cfg.AgentHealthSpec}, {"notification-spec", cfg.NotifySpec},
		{"renewal-info-spec", cfg.RenewalInfoSpec},
	} {
		if _, err := cron.ParseStandard(spec.value); err != nil {
			return fmt.Errorf("--%s %q: %v (use a cron spec such as \"0 * * * *\" or \"@every 1h\")", spec.flag, spec.value, err)
		}
	}
	if _, err := cfg.agentOfflineAfter(); err != nil {
		return err
	}
	if _, err := cfg.snapshotSchedule(); err != nil {
		return err
	}
	switch cfg.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		return fmt.Errorf("--log-level %q must be debug, info, warn or error", cfg.LogLevel)
	}
	switch cfg.LogFormat {
	case "text", "json":
	default:
		return fmt.Errorf("--log-format %q must be text or json", cfg.LogFormat)
	}
	if _, err := cfg.notifiers(); err != nil {
		return err
	}
	return nil
}

// validateDev keeps a --dev node (from the flag, `dev: true` in the file or
// CERTCTL_DEV) on loopback: it serves plain HTTP with no authentication, so
// an address another host can reach would hand that host an admin's powers.
func (cfg *serverConfig) validateDev() error {
	if !cfg.Dev {
		return nil
	}
	for _, a := range []struct{ flag, addr string }{
		{"api-addr", cfg.APIAddr}, {"raft-addr", cfg.RaftAddr}, {"advertise-addr", cfg.Advertise},
	} {
		if a.addr != "" && !isLoopbackAddr(a.addr) {
			return fmt.Errorf("--%s %q is not a loopback address: --dev (also dev: true or CERTCTL_DEV) serves plain HTTP with no authentication and runs on loopback only; use 127.0.0.1:PORT, or run without --dev", a.flag, a.addr)
		}
	}
	return nil
}

// isLoopbackAddr reports whether addr is host:port with a loopback IP or
// "localhost" as host; an empty host (every interface) is not loopback.
func isLoopbackAddr(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// minAdminKeyLength is the fewest characters admin_key_file may hold: with
// fewer, the first admin key could be guessed.
const minAdminKeyLength = 32

// readAdminKey returns the key in an admin key file, without surrounding
// white space, refusing one shorter than minAdminKeyLength.
func readAdminKey(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("admin key file: %w", err)
	}
	secret := strings.TrimSpace(string(b))
	if len(secret) < minAdminKeyLength {
		return "", usageError{fmt.Errorf("admin key file %s holds %d characters; use at least %d random ones, e.g. made with: openssl rand -base64 32 > %s",
			path, len(secret), minAdminKeyLength, path)}
	}
	return secret, nil
}

// agentOfflineAfter is how old an agent's last heartbeat may be before it
// is marked offline: the missed heartbeats times their interval.
func (cfg *serverConfig) agentOfflineAfter() (time.Duration, error) {
	every, err := time.ParseDuration(cfg.AgentHeartbeatInterval)
	if err != nil || every < time.Second {
		return 0, fmt.Errorf("--agent-heartbeat-interval %q must be a duration of at least a second, such as 60s", cfg.AgentHeartbeatInterval)
	}
	n := cfg.AgentMissedHeartbeats
	if n < 1 || n != float64(int(n)) || n > 1000 {
		return 0, fmt.Errorf("--agent-missed-heartbeats %g must be a whole number from 1 to 1000", n)
	}
	return time.Duration(n) * every, nil
}

// snapshotSchedule is the scheduled snapshots' configuration, with Interval
// 0 when snapshot_interval is off ("" or 0).
func (cfg *serverConfig) snapshotSchedule() (sc backup.ScheduleConfig, err error) {
	v := strings.TrimSpace(cfg.SnapshotInterval)
	if v == "" || v == "0" {
		return sc, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 {
		return sc, fmt.Errorf("--snapshot-interval %q is not a duration: use e.g. 6h or 24h, or 0 to turn scheduled snapshots off", cfg.SnapshotInterval)
	}
	if d == 0 {
		return sc, nil
	}
	if cfg.SnapshotRetain < 1 {
		return sc, fmt.Errorf("--snapshot-retain %d must be 1 or more: the number of snapshot files to keep", cfg.SnapshotRetain)
	}
	sc = backup.ScheduleConfig{Dir: cfg.SnapshotDir, Interval: d, Retain: cfg.SnapshotRetain, NodeID: cfg.NodeID}
	if err := sc.Validate(); err != nil {
		msg := strings.TrimPrefix(err.Error(), "backup: ")
		msg = strings.NewReplacer("snapshot_dir", "--snapshot-dir", "snapshot_interval", "--snapshot-interval", "snapshot_retain", "--snapshot-retain").Replace(msg)
		return sc, errors.New(msg)
	}
	if !filepath.IsAbs(cfg.SnapshotDir) {
		return sc, fmt.Errorf("--snapshot-dir %q must be an absolute path", cfg.SnapshotDir)
	}
	return sc, nil
}
