package e2e

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Agent is a certctl-agent process of a test: a Node without an API of its
// own, whose data is its key and state directories.
type Agent struct {
	*Node
	AgentID  string
	KeyDir   string
	StateDir string
}

// AgentConfig describes an agent to add. Servers are the cluster members it
// is given, in order (it sticks to the first that answers); AllowedDirs and
// AllowedCommands are its allow-lists (allowed_dirs, allowed_commands),
// written into its YAML config file as an operator would; Extra are more
// flags.
type AgentConfig struct {
	ID, APIKey      string
	Servers         []*Node
	AllowedDirs     []string
	AllowedCommands []string
	Extra           []string
}

// AddAgent returns a certctl-agent for cfg, not started: heartbeat and poll
// every second (the tests wait on it), keys and journal in the cluster's
// directory, the API key in a file as the package's config suggests.
func (c *Cluster) AddAgent(bin string, cfg AgentConfig) *Agent {
	c.tb.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	dir := filepath.Join(c.dir, "agent-"+cfg.ID)
	keyFile := filepath.Join(c.dir, "agent-"+cfg.ID+".key")
	if err := writeFile(keyFile, cfg.APIKey+"\n"); err != nil {
		c.tb.Fatal(err)
	}
	urls := make([]string, len(cfg.Servers))
	for i, n := range cfg.Servers {
		urls[i] = n.URL()
	}
	a := &Agent{AgentID: cfg.ID, KeyDir: filepath.Join(dir, "keys"), StateDir: filepath.Join(dir, "state")}
	args := []string{
		"-server", strings.Join(urls, ","),
		"-ca-bundle", c.caFile,
		"-agent-id", cfg.ID,
		"-api-key-file", keyFile,
		"-key-dir", a.KeyDir,
		"-state-dir", a.StateDir,
		"-heartbeat-interval", "1s",
		"-poll-interval", "1s",
		"-log-level", "debug",
	}
	if len(cfg.AllowedDirs)+len(cfg.AllowedCommands) > 0 {
		raw, err := yaml.Marshal(struct {
			AllowedDirs     []string `yaml:"allowed_dirs,omitempty"`
			AllowedCommands []string `yaml:"allowed_commands,omitempty"`
		}{cfg.AllowedDirs, cfg.AllowedCommands})
		if err != nil {
			c.tb.Fatal(err)
		}
		confFile := filepath.Join(c.dir, "agent-"+cfg.ID+".yaml")
		if err := writeFile(confFile, string(raw)); err != nil {
			c.tb.Fatal(err)
		}
		args = append(args, "-config", confFile)
	}
	a.Node = &Node{ID: "agent-" + cfg.ID, DataDir: dir, LogPath: c.logPath("agent-"+cfg.ID, ""),
		bin: bin, args: append(args, cfg.Extra...), env: c.env()}
	c.agents = append(c.agents, a)
	return a
}

// StartAgent starts a; it serves once its first heartbeat lands.
func (c *Cluster) StartAgent(a *Agent) {
	c.tb.Helper()
	if err := a.Start(); err != nil {
		c.tb.Fatal(err)
	}
}

// AgentStopTimeout bounds a SIGTERM'd agent's exit: its grace for a job
// under way is 30 s.
const AgentStopTimeout = 40 * time.Second

func writeFile(path, content string) error { return os.WriteFile(path, []byte(content), 0o600) }

// NodeFiles calls fn with the path and content of every file of the
// cluster's nodes: their data directories (state file, raft log,
// snapshots) and, withLogs, their log files. It returns how many it read,
// for tests that search them for what must never be there.
func (c *Cluster) NodeFiles(withLogs bool, fn func(path string, data []byte)) (int, error) {
	var roots []string
	for _, n := range c.Nodes() {
		roots = append(roots, n.DataDir)
		if withLogs {
			roots = append(roots, n.LogPath)
		}
	}
	read := 0
	for _, root := range roots {
		err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			read++
			fn(p, data)
			return nil
		})
		if err != nil {
			return read, err
		}
	}
	return read, nil
}
