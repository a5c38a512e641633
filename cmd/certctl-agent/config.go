package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/certctl/certctl/connectors/target"
)

// agentConfig is the configuration of certctl-agent. Each field is a key of
// the YAML file (--config), an environment variable and a flag; a flag beats
// the environment, which beats the file, which beats the default. The
// original agent's flags and variables (-server, -api-key, -name, -agent-id,
// -key-dir; CERTCTL_SERVER_URL ...) keep their names.
type agentConfig struct {
	ServerURL       stringList `yaml:"server_url"`
	APIKey          string     `yaml:"api_key"`
	APIKeyFile      string     `yaml:"api_key_file"`
	AgentID         string     `yaml:"agent_id"`
	Name            string     `yaml:"name"`
	KeyDir          string     `yaml:"key_dir"`
	StateDir        string     `yaml:"state_dir"`
	CABundle        string     `yaml:"ca_bundle"`
	InsecureHTTP    boolValue  `yaml:"insecure_http"`
	Heartbeat       string     `yaml:"heartbeat_interval"`
	Poll            string     `yaml:"poll_interval"`
	JobTimeout      string     `yaml:"job_timeout"`
	AllowedCommands stringList `yaml:"allowed_commands"`
	AllowedDirs     stringList `yaml:"allowed_dirs"`
	ACMEHTTPAddr    string     `yaml:"acme_http_addr"`
	ACMEWebroot     string     `yaml:"acme_webroot"`
	ACMEPoll        string     `yaml:"acme_poll_interval"`
	LogLevel        string     `yaml:"log_level"`
	LogFormat       string     `yaml:"log_format"`
}

// stringList is a list given as a YAML sequence or a comma-separated string.
type stringList []string

func (l *stringList) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		*l = splitList(n.Value)
		return nil
	}
	var items []string
	if err := n.Decode(&items); err != nil {
		return err
	}
	*l = items
	return nil
}

func (l *stringList) String() string { return strings.Join(*l, ",") }
func (l *stringList) Set(s string) error {
	*l = append(*l, splitList(s)...)
	return nil
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

type setting struct {
	flag, env, usage string
	field            func(c *agentConfig) any // *string, *stringList or *boolValue
}

var settings = []setting{
	{"server", "CERTCTL_SERVER_URL", "API base URL of a cluster member; a comma-separated list (or the flag repeated) to fail over between members", func(c *agentConfig) any { return &c.ServerURL }},
	{"api-key", "CERTCTL_API_KEY", "the agent's own API key (prefer api_key_file or the config file: a flag shows in ps)", func(c *agentConfig) any { return &c.APIKey }},
	{"api-key-file", "CERTCTL_API_KEY_FILE", "file holding the agent's API key", func(c *agentConfig) any { return &c.APIKeyFile }},
	{"agent-id", "CERTCTL_AGENT_ID", "the agent's id (ag-...), as registered on the cluster", func(c *agentConfig) any { return &c.AgentID }},
	{"name", "CERTCTL_AGENT_NAME", "the agent's name in its logs (default: the host name)", func(c *agentConfig) any { return &c.Name }},
	{"key-dir", "CERTCTL_KEY_DIR", "directory of the private keys the agent makes (0700; keys 0600; they never leave this host)", func(c *agentConfig) any { return &c.KeyDir }},
	{"state-dir", "CERTCTL_STATE_DIR", "directory of the deployment journal and the backups rollbacks restore (default: state/ next to the key dir)", func(c *agentConfig) any { return &c.StateDir }},
	{"ca-bundle", "CERTCTL_CA_BUNDLE", "PEM file of the CA certificates that sign the cluster's HTTPS certificates (default: the system's)", func(c *agentConfig) any { return &c.CABundle }},
	{"insecure-http", "CERTCTL_INSECURE_HTTP", "allow http:// server URLs of other hosts than this one: the API key, CSRs and the work's keys and passwords cross the network in clear (warned at every start)", func(c *agentConfig) any { return &c.InsecureHTTP }},
	{"heartbeat-interval", "CERTCTL_HEARTBEAT_INTERVAL", "time between heartbeats, jittered by 10%", func(c *agentConfig) any { return &c.Heartbeat }},
	{"poll-interval", "CERTCTL_POLL_INTERVAL", "time between work polls, jittered by 10%", func(c *agentConfig) any { return &c.Poll }},
	{"job-timeout", "CERTCTL_JOB_TIMEOUT", "longest time one job (a deployment with its validation) may take", func(c *agentConfig) any { return &c.JobTimeout }},
	{"allowed-commands", "CERTCTL_ALLOWED_COMMANDS", "whole command lines (program and arguments; {cert_path}, {key_path}, {chain_path}, {fullchain_path}, {pem_path} stand for the target's paths) the targets' validate and reload commands must match to run, comma-separated (default: none, so no command runs; commands never run through a shell)", func(c *agentConfig) any { return &c.AllowedCommands }},
	{"allowed-dirs", "CERTCTL_ALLOWED_DIRS", "directories certificate and key files may be written into, comma-separated (default: none, so nothing is written but the agent's own keys and state)", func(c *agentConfig) any { return &c.AllowedDirs }},
	{"acme-http-addr", "CERTCTL_ACME_HTTP_ADDR", "answer ACME HTTP-01 for this host's certificates (issuers with http01_responder agent) on a listener of the agent's own at this address, e.g. :80 (default: none)", func(c *agentConfig) any { return &c.ACMEHTTPAddr }},
	{"acme-webroot", "CERTCTL_ACME_WEBROOT", "answer ACME HTTP-01 for this host's certificates by writing .well-known/acme-challenge/<token> files under this web server document root, inside allowed_dirs; removed once the order is done (default: none)", func(c *agentConfig) any { return &c.ACMEWebroot }},
	{"acme-poll-interval", "CERTCTL_ACME_POLL_INTERVAL", "time between asks for ACME HTTP-01 answers, when acme_http_addr or acme_webroot is set", func(c *agentConfig) any { return &c.ACMEPoll }},
	{"log-level", "CERTCTL_LOG_LEVEL", "debug, info, warn or error", func(c *agentConfig) any { return &c.LogLevel }},
	{"log-format", "CERTCTL_LOG_FORMAT", "text or json", func(c *agentConfig) any { return &c.LogFormat }},
}

func defaultConfig() agentConfig {
	return agentConfig{
		ServerURL:  stringList{"http://127.0.0.1:8443"},
		KeyDir:     "/var/lib/certctl/keys", // the original agent's default
		Heartbeat:  "60s",
		Poll:       "30s",
		JobTimeout: "5m",
		ACMEPoll:   "2s",
		LogLevel:   "info",
		LogFormat:  "text",
	}
}

// options is what the command line asks for besides the settings.
type options struct {
	configFile  string
	showVersion bool
}

// loadConfig reads the configuration from args, the environment (getenv)
// and the file named by --config or CERTCTL_AGENT_CONFIG.
func loadConfig(args []string, getenv func(string) string, stderr io.Writer) (agentConfig, options, error) {
	var (
		cfg  = defaultConfig()
		opts options
		set  = agentConfig{} // the flags' values, applied last
	)
	fs := flag.NewFlagSet("certctl-agent", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&opts.configFile, "config", getenv("CERTCTL_AGENT_CONFIG"), "YAML configuration file (env CERTCTL_AGENT_CONFIG)")
	fs.BoolVar(&opts.showVersion, "version", false, "print the version and exit")
	for _, s := range settings {
		usage := s.usage + " (env " + s.env + ")"
		switch p := s.field(&set).(type) {
		case *string:
			fs.StringVar(p, s.flag, "", usage)
		case *stringList:
			fs.Var(p, s.flag, usage)
		case *boolValue:
			fs.Var(p, s.flag, usage)
		}
	}
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: certctl-agent [flags]\n\ncertctl-agent makes keys, sends CSRs and deploys certificates for a certctl cluster.\nFlags (also -flag; a flag beats the environment, which beats the config file):\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return cfg, opts, err
	}
	if fs.NArg() > 0 {
		return cfg, opts, fmt.Errorf("unexpected argument %q: certctl-agent takes flags only", fs.Arg(0))
	}
	if opts.configFile != "" {
		if err := readConfigFile(opts.configFile, &cfg); err != nil {
			return cfg, opts, err
		}
	}
	for _, s := range settings {
		v, ok := lookupEnv(getenv, s.env)
		if !ok {
			continue
		}
		switch p := s.field(&cfg).(type) {
		case *string:
			*p = v
		case *stringList:
			*p = splitList(v)
		case *boolValue:
			if err := p.Set(v); err != nil {
				return cfg, opts, fmt.Errorf("%s %q %v", s.env, v, err)
			}
		}
	}
	fs.Visit(func(f *flag.Flag) {
		for _, s := range settings {
			if s.flag != f.Name {
				continue
			}
			switch p := s.field(&cfg).(type) {
			case *string:
				*p = *s.field(&set).(*string)
			case *stringList:
				*p = *s.field(&set).(*stringList)
			case *boolValue:
				*p = *s.field(&set).(*boolValue)
			}
		}
	})
	return cfg, opts, nil
}

func lookupEnv(getenv func(string) string, name string) (string, bool) {
	v := getenv(name)
	return v, v != ""
}

func readConfigFile(path string, cfg *agentConfig) error {
	raw, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("config file: %w", err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	dec.KnownFields(true)
	if err := dec.Decode(cfg); err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("config file %s: %w", path, err)
	}
	return nil
}

// settled is the configuration checked and with its derived values.
type settled struct {
	agentConfig
	heartbeat, poll, jobTimeout time.Duration
	acmePoll                    time.Duration
}

// check says what is missing or wrong, naming the setting to fix.
func (c agentConfig) check() (settled, error) {
	s := settled{agentConfig: c}
	var problems []string
	if len(c.ServerURL) == 0 {
		problems = append(problems, "no server: set server_url (CERTCTL_SERVER_URL, -server) to the API of a cluster member")
	} else if p := serverProblem(c); p != "" {
		problems = append(problems, p)
	}
	if c.AgentID == "" {
		problems = append(problems, "no agent id: register the agent (certctl agent register --name NAME --hostname HOST) and set agent_id (CERTCTL_AGENT_ID, -agent-id)")
	}
	if c.APIKey != "" && c.APIKeyFile != "" {
		problems = append(problems, "both api_key and api_key_file are set: keep one")
	}
	if c.APIKey == "" && c.APIKeyFile == "" {
		problems = append(problems, "no API key: set api_key or api_key_file (CERTCTL_API_KEY, -api-key) to the key returned when the agent was registered")
	}
	if c.KeyDir == "" {
		problems = append(problems, "key_dir is empty")
	}
	for _, d := range []struct {
		name, value string
		out         *time.Duration
	}{{"heartbeat_interval", c.Heartbeat, &s.heartbeat}, {"poll_interval", c.Poll, &s.poll}, {"job_timeout", c.JobTimeout, &s.jobTimeout}} {
		v, err := time.ParseDuration(d.value)
		if err != nil || v < time.Second {
			problems = append(problems, fmt.Sprintf("%s %q must be a duration of at least 1s, such as 30s or 2m", d.name, d.value))
			continue
		}
		*d.out = v
	}
	if err := (&target.Runner{Allowed: c.AllowedCommands}).Validate(); err != nil {
		problems = append(problems, strings.TrimPrefix(err.Error(), "target: invalid config: "))
	}
	for _, d := range c.AllowedDirs {
		if !filepath.IsAbs(d) || filepath.Clean(d) != d {
			problems = append(problems, fmt.Sprintf("allowed_dirs: %q must be an absolute directory in clean form, such as /etc/nginx/certs", d))
		}
	}
	problems = append(problems, c.checkACME(&s)...)
	if s.StateDir == "" && s.KeyDir != "" {
		s.StateDir = filepath.Join(filepath.Dir(filepath.Clean(s.KeyDir)), "state")
	}
	if len(problems) > 0 {
		return s, errors.New(strings.Join(problems, "\n  "))
	}
	return s, nil
}

// checkPrivileges refuses an agent that runs as root (euid 0) with
// neither allowed_dirs nor allowed_commands. Such an agent would refuse
// every file and command a host target asks for, so root's powers serve
// no deployment: either the lists were forgotten, or the agent was meant
// to run unprivileged. Both are for the operator to fix, before the
// cluster hands the agent any work.
func (s settled) checkPrivileges(euid int) error {
	if euid != 0 || len(s.AllowedDirs) > 0 || len(s.AllowedCommands) > 0 {
		return nil
	}
	return errors.New(`certctl-agent runs as root (euid 0) without allow-lists: set allowed_dirs to the directories it may write certificates and keys into (e.g. [/etc/nginx/certs]) and allowed_commands to the whole command lines it may run (e.g. ["/usr/sbin/nginx -t", "/usr/sbin/nginx -s reload"]); /etc/certctl/agent.yaml has examples for NGINX, Apache and HAProxy. Or run it as an unprivileged user (the package's certctl-agent)`)
}

// apiKey reads the key from api_key or api_key_file.
func (s settled) apiKey() (string, error) {
	if s.APIKey != "" {
		return s.APIKey, nil
	}
	raw, err := os.ReadFile(s.APIKeyFile)
	if err != nil {
		return "", fmt.Errorf("api_key_file: %w", err)
	}
	key := strings.TrimSpace(string(raw))
	if key == "" {
		return "", fmt.Errorf("api_key_file %s is empty", s.APIKeyFile)
	}
	return key, nil
}
