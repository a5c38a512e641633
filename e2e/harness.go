package e2e

import (
	"context"
	"crypto/rand"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

const (
	// WaitTimeout bounds every wait of the harness.
	WaitTimeout = 20 * time.Second
	// PollInterval is how often a wait re-checks its condition.
	PollInterval = 50 * time.Millisecond
	// StopTimeout bounds a graceful stop (SIGTERM) before the harness kills.
	StopTimeout = 20 * time.Second
	// requestTimeout bounds one HTTP call made while waiting.
	requestTimeout = 3 * time.Second
	// logTailLines is how much of each node's log a failed test prints.
	logTailLines = 60
)

// BuildBinary builds ./cmd/certctl of the module rooted at moduleDir into
// outDir and returns the binary's path. When env CERTCTL_BIN is set it is
// returned instead and nothing is built.
func BuildBinary(moduleDir, outDir string) (string, error) {
	return buildCommand(moduleDir, outDir, "certctl", "CERTCTL_BIN")
}

// BuildAgentBinary is BuildBinary for ./cmd/certctl-agent, whose prebuilt
// binary env CERTCTL_AGENT_BIN names.
func BuildAgentBinary(moduleDir, outDir string) (string, error) {
	return buildCommand(moduleDir, outDir, "certctl-agent", "CERTCTL_AGENT_BIN")
}

func buildCommand(moduleDir, outDir, name, envVar string) (string, error) {
	if bin := os.Getenv(envVar); bin != "" {
		abs, err := filepath.Abs(bin)
		if err != nil {
			return "", fmt.Errorf("e2e: %s: %w", envVar, err)
		}
		if _, err := os.Stat(abs); err != nil {
			return "", fmt.Errorf("e2e: %s: %w", envVar, err)
		}
		return abs, nil
	}
	gobin, err := exec.LookPath("go")
	if err != nil {
		gobin = filepath.Join(os.Getenv("GOROOT"), "bin", "go")
	}
	out := filepath.Join(outDir, name)
	cmd := exec.Command(gobin, "build", "-o", out, "./cmd/"+name)
	cmd.Dir = moduleDir
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("e2e: go build ./cmd/%s: %w\n%s", name, err, b)
	}
	return out, nil
}

// ports remembers every port handed out in this test binary so that a port
// freed by a killed node is not given to another node before it restarts.
// Ports are a resource of the whole process, hence one shared set.
var ports = struct {
	sync.Mutex
	used map[int]bool
}{used: map[int]bool{}}

// FreeAddr returns 127.0.0.1:port for a port that was free a moment ago and
// that this process has not handed out before.
func FreeAddr() (string, error) {
	for range 100 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return "", fmt.Errorf("e2e: free port: %w", err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		l.Close()
		ports.Lock()
		taken := ports.used[port]
		ports.used[port] = true
		ports.Unlock()
		if !taken {
			return "127.0.0.1:" + strconv.Itoa(port), nil
		}
	}
	return "", errors.New("e2e: no unused free port after 100 tries")
}

// WaitFor calls cond every PollInterval until it returns nil or timeout has
// passed, and then returns cond's last error. Each call gets a context bounded
// by requestTimeout and by the overall deadline.
func WaitFor(timeout time.Duration, cond func(ctx context.Context) error) error {
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(PollInterval)
	defer tick.Stop()
	var last error
	for {
		ctx, cancel := context.WithDeadline(context.Background(), minTime(deadline, time.Now().Add(requestTimeout)))
		err := cond(ctx)
		cut := ctx.Err() != nil && !time.Now().Before(deadline)
		cancel()
		if err == nil {
			return nil
		}
		if cut && last != nil {
			err = last // cut short by the overall deadline: the previous answer says more
		}
		last = err
		var fe *fatalError
		if errors.As(err, &fe) {
			return err
		}
		if !time.Now().Before(deadline) {
			return fmt.Errorf("e2e: condition not met after %s: %w", timeout, err)
		}
		<-tick.C
	}
}

// fatalError stops WaitFor at once: waiting longer cannot help.
type fatalError struct{ err error }

func (e *fatalError) Error() string { return e.err.Error() }
func (e *fatalError) Unwrap() error { return e.err }

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// Cluster is a set of certctl nodes started by one test. Its methods must be
// called from the test goroutine: they fail the test (tb.Fatal) when a wait
// times out. Every process is killed when the test ends, and the tail of every
// node's log is printed when it failed.
type Cluster struct {
	tb     testing.TB
	bin    string
	dir    string
	prefix string
	client *Client
	// roots trusts the cluster CA, read from the bootstrapping node's data
	// dir once it made it (caFile); every client of the harness uses it.
	roots  *x509.CertPool
	caFile string
	// tokenFile holds a join token (1 h, 100 joins) made through the API
	// when the first joining node starts; nodes read it with
	// --join-token-file.
	tokenFile string
	// adminKeyFile holds AdminKey; bootstrapping nodes read it.
	adminKeyFile string
	// kekFile holds the key-encryption key every node is given
	// (--kek-file): the same for all, as a cluster needs.
	kekFile string
	// nodeArgs, when set, gives each node added flags of its own.
	nodeArgs func(id string) []string

	mu     sync.Mutex
	nodes  []*Node
	agents []*Agent
}

// Option changes a Cluster made by NewCluster.
type Option func(*Cluster)

// WithNodePrefix names the nodes prefix1, prefix2, ... instead of n1, n2, ...
func WithNodePrefix(p string) Option { return func(c *Cluster) { c.prefix = p } }

// WithNodeArgs appends args(id) to the command line of every node added,
// for flags a test needs on each node only (a --pprof-addr of its own, say).
func WithNodeArgs(args func(id string) []string) Option {
	return func(c *Cluster) { c.nodeArgs = args }
}

// AdminKey is the first admin API key of every cluster the harness starts.
const AdminKey = "e2e-admin-key-0123456789abcdef0123"

// NewCluster returns an empty cluster whose nodes live under a temporary
// directory of tb.
func NewCluster(tb testing.TB, bin string, opts ...Option) *Cluster {
	tb.Helper()
	c := newCluster(tb, bin, tb.TempDir(), opts) // dir made before the Cleanup below, so removed after the kill
	tb.Cleanup(c.cleanup)
	return c
}

// newCluster returns an empty cluster living in dir, with nothing registered
// for cleanup.
func newCluster(tb testing.TB, bin, dir string, opts []Option) *Cluster {
	tb.Helper()
	c := &Cluster{
		tb:        tb,
		bin:       bin,
		dir:       dir,
		prefix:    "n",
		roots:     x509.NewCertPool(),
		caFile:    filepath.Join(dir, "cluster-ca.pem"),
		tokenFile: filepath.Join(dir, "join-token"),
	}
	c.client = c.NewClient(8)
	for _, o := range opts {
		o(c)
	}
	c.adminKeyFile = filepath.Join(c.dir, "admin.key")
	if err := os.WriteFile(c.adminKeyFile, []byte(AdminKey+"\n"), 0o600); err != nil {
		tb.Fatal(err)
	}
	c.client.APIKey = AdminKey
	c.kekFile = filepath.Join(c.dir, "kek")
	kek := make([]byte, 32)
	if _, err := rand.Read(kek); err != nil {
		tb.Fatal(err)
	}
	if err := os.WriteFile(c.kekFile, []byte(hex.EncodeToString(kek)+"\n"), 0o600); err != nil {
		tb.Fatal(err)
	}
	return c
}

// KEKFile returns the path of the key-encryption key file every node gets.
func (c *Cluster) KEKFile() string { return c.kekFile }

// Client returns the cluster's HTTP client.
func (c *Cluster) Client() *Client { return c.client }

// CAFile returns the path of the cluster CA's certificate, once the first
// node made it (clients and agents are given it as --ca-file, ca_bundle).
func (c *Cluster) CAFile() string { return c.caFile }

// Roots returns the pool that trusts the cluster CA.
func (c *Cluster) Roots() *x509.CertPool { return c.roots }

// NewClient returns a Client trusting the cluster CA; see NewClient.
func (c *Cluster) NewClient(conns int) *Client { return NewClient(conns, c.roots) }

// NewHTTPClient returns an HTTP client for api/client trusting the cluster
// CA; see NewHTTPClient.
func (c *Cluster) NewHTTPClient(conns int, rt func(http.RoundTripper) http.RoundTripper) *http.Client {
	return NewHTTPClient(conns, c.roots, rt)
}

// trustCA waits for the bootstrapping node n to make the cluster CA and
// makes every client of the harness trust it.
func (c *Cluster) trustCA(n *Node) {
	c.tb.Helper()
	if _, err := os.Stat(c.caFile); err == nil {
		return
	}
	caPath := filepath.Join(n.DataDir, "tls", "ca.crt")
	var pemBytes []byte
	c.Wait(n.ID+" to make the cluster CA", func(context.Context) error {
		b, err := os.ReadFile(caPath)
		if err != nil {
			return err
		}
		pemBytes = b
		return nil
	})
	if !c.roots.AppendCertsFromPEM(pemBytes) {
		c.tb.Fatalf("e2e: %s holds no certificate", caPath)
	}
	if err := os.WriteFile(c.caFile, pemBytes, 0o644); err != nil {
		c.tb.Fatal(err)
	}
}

// ensureJoinToken makes the join token joining nodes read, through a live
// member, if there is none yet.
func (c *Cluster) ensureJoinToken() {
	c.tb.Helper()
	if _, err := os.Stat(c.tokenFile); err == nil {
		return
	}
	var tok string
	c.Wait("a join token", func(ctx context.Context) error {
		for _, n := range c.Live() {
			var created struct {
				Token string `json:"token"`
			}
			_, _, err := c.client.Do(ctx, http.MethodPost, n.URL()+"/api/v1/cluster/join-tokens", map[string]any{"ttl": "1h", "uses": 100}, &created, http.StatusCreated)
			if err == nil {
				tok = created.Token
				return nil
			}
			if errors.Is(err, context.DeadlineExceeded) {
				return err
			}
		}
		return errors.New("no live member made a join token")
	})
	if err := os.WriteFile(c.tokenFile, []byte(tok+"\n"), 0o600); err != nil {
		c.tb.Fatal(err)
	}
}

func (c *Cluster) cleanup() {
	c.mu.Lock()
	nodes := append([]*Node(nil), c.nodes...)
	for _, a := range c.agents {
		nodes = append(nodes, a.Node)
	}
	c.mu.Unlock()
	for _, n := range nodes {
		if err := n.Kill(); err != nil {
			c.tb.Logf("e2e: cleanup: %v", err)
		}
	}
	c.client.CloseIdle()
	if c.tb.Failed() {
		for _, n := range nodes {
			c.tb.Logf("---- log tail of %s (%s) ----\n%s", n.ID, n.LogPath, n.LogTail(logTailLines))
		}
	}
}

// NodeConfig describes a node to add. Zero values get defaults: ID the next
// prefixN, DataDir a fresh directory named after ID.
type NodeConfig struct {
	ID        string
	DataDir   string
	Bootstrap bool
	Join      []string // API addresses of members to join through
	// RestoreFrom is a snapshot file the node starts a new cluster from
	// (--restore-from).
	RestoreFrom string
	// LogName is the log file's name in the cluster directory; default ID.log,
	// or ID-K.log when that is taken.
	LogName string
}

// AddNode allocates ports for a new node and returns it, not started.
func (c *Cluster) AddNode(cfg NodeConfig) *Node {
	c.tb.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	if cfg.ID == "" {
		cfg.ID = c.prefix + strconv.Itoa(len(c.nodes)+1)
	}
	if cfg.DataDir == "" {
		cfg.DataDir = filepath.Join(c.dir, cfg.ID)
	}
	api, err := FreeAddr()
	if err != nil {
		c.tb.Fatal(err)
	}
	raft, err := FreeAddr()
	if err != nil {
		c.tb.Fatal(err)
	}
	args := []string{"server",
		"--node-id", cfg.ID,
		"--data-dir", cfg.DataDir,
		"--api-addr", api,
		"--raft-addr", raft,
		"--kek-file", c.kekFile,
	}
	if cfg.Bootstrap {
		args = append(args, "--bootstrap", "--admin-key-file", c.adminKeyFile)
	}
	if cfg.RestoreFrom != "" {
		args = append(args, "--restore-from", cfg.RestoreFrom)
	}
	for _, j := range cfg.Join {
		args = append(args, "--join", j)
	}
	if len(cfg.Join) > 0 {
		args = append(args, "--join-token-file", c.tokenFile)
	}
	if c.nodeArgs != nil {
		args = append(args, c.nodeArgs(cfg.ID)...)
	}
	n := &Node{ID: cfg.ID, APIAddr: api, RaftAddr: raft, DataDir: cfg.DataDir,
		LogPath: c.logPath(cfg.ID, cfg.LogName), bin: c.bin, args: args, env: c.env()}
	c.nodes = append(c.nodes, n)
	return n
}

// AddDevNode returns a node, not started, running `certctl server --dev`. It
// gets a free --raft-addr too, so that it never competes for the default port.
func (c *Cluster) AddDevNode() *Node {
	c.tb.Helper()
	api, err := FreeAddr()
	if err != nil {
		c.tb.Fatal(err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	raft, err := FreeAddr()
	if err != nil {
		c.tb.Fatal(err)
	}
	id := "dev"
	n := &Node{ID: id, APIAddr: api, RaftAddr: raft, LogPath: c.logPath(id, ""), bin: c.bin, Scheme: "http",
		args: []string{"server", "--dev", "--api-addr", api, "--raft-addr", raft}, env: c.env()}
	c.nodes = append(c.nodes, n)
	return n
}

// env is the test's environment without CERTCTL_* (which configure a node: the
// command line alone must) and with TMPDIR inside the cluster directory, so
// whatever a node puts in a temporary directory (--dev does) goes away with
// the test.
func (c *Cluster) env() []string {
	tmp := filepath.Join(c.dir, "tmp")
	_ = os.MkdirAll(tmp, 0o755)
	env := []string{}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "TMPDIR=") && !strings.HasPrefix(kv, "CERTCTL_") {
			env = append(env, kv)
		}
	}
	// The tests drive thousands of requests with one admin key: the per-key
	// rate limit, tested in package api, is off here.
	return append(env, "TMPDIR="+tmp, "CERTCTL_RATE_LIMIT=0")
}

func (c *Cluster) logPath(id, name string) string {
	if name != "" {
		return filepath.Join(c.dir, name)
	}
	p := filepath.Join(c.dir, id+".log")
	for k := 2; ; k++ {
		if _, err := os.Stat(p); errors.Is(err, os.ErrNotExist) {
			taken := false
			for _, n := range c.nodes {
				taken = taken || n.LogPath == p
			}
			if !taken {
				return p
			}
		}
		p = filepath.Join(c.dir, id+"-"+strconv.Itoa(k)+".log")
	}
}

// Start starts n nodes: the first bootstraps, the others join it. It returns
// once every node lists n members and all agree on a leader.
func (c *Cluster) Start(n int) {
	c.tb.Helper()
	first := c.AddNode(NodeConfig{Bootstrap: true})
	c.StartNode(first)
	c.WaitReady(first)
	for i := 1; i < n; i++ {
		nd := c.AddNode(NodeConfig{Join: []string{first.APIAddr}})
		c.StartNode(nd)
	}
	c.WaitMembers(n)
	c.WaitLeader()
	for _, nd := range c.Nodes() {
		c.WaitReady(nd)
	}
}

// StartNode starts a node's process, failing the test on error. A joining
// node gets the cluster's join token; once a bootstrapping node runs, the
// harness trusts the cluster CA it made.
func (c *Cluster) StartNode(n *Node) {
	c.tb.Helper()
	if slices.Contains(n.args, "--join-token-file") {
		c.ensureJoinToken()
	}
	if err := n.Start(); err != nil {
		c.tb.Fatal(err)
	}
	if slices.Contains(n.args, "--bootstrap") {
		c.trustCA(n)
	}
}

// Join adds a node that joins through every running member, starts it and
// waits until the leader lists it and it is ready.
func (c *Cluster) Join() *Node {
	c.tb.Helper()
	var join []string
	for _, n := range c.Live() {
		if n.RaftAddr != "" {
			join = append(join, n.APIAddr)
		}
	}
	n := c.AddNode(NodeConfig{Join: join})
	c.StartNode(n)
	c.WaitMembers(len(c.Live()))
	c.WaitReady(n)
	return n
}

// Node returns the i-th node added, from 0.
func (c *Cluster) Node(i int) *Node {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.nodes[i]
}

// Nodes returns every node added, running or not.
func (c *Cluster) Nodes() []*Node {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]*Node(nil), c.nodes...)
}

// Live returns the nodes whose process runs.
func (c *Cluster) Live() []*Node {
	var live []*Node
	for _, n := range c.Nodes() {
		if n.Running() {
			live = append(live, n)
		}
	}
	return live
}

// ByID returns the node with that id, or nil.
func (c *Cluster) ByID(id string) *Node {
	for _, n := range c.Nodes() {
		if n.ID == id {
			return n
		}
	}
	return nil
}

// Kill kills a node with SIGKILL.
func (c *Cluster) Kill(n *Node) {
	c.tb.Helper()
	if err := n.Kill(); err != nil {
		c.tb.Fatal(err)
	}
}

// Stop stops a node with SIGTERM and requires a clean exit.
func (c *Cluster) Stop(n *Node) {
	c.tb.Helper()
	if err := n.Stop(StopTimeout); err != nil {
		c.tb.Fatalf("%v\n%s", err, n.LogTail(logTailLines))
	}
}

// Restart starts a stopped node again with the same command line and data
// directory and waits until it is ready.
func (c *Cluster) Restart(n *Node) {
	c.tb.Helper()
	if n.Running() {
		c.tb.Fatalf("e2e: restart %s: still running", n.ID)
	}
	c.StartNode(n)
	c.WaitReady(n)
}

// Wait is WaitFor that fails the test, and gives up early when a node exits
// without the test asking for it.
func (c *Cluster) Wait(what string, cond func(ctx context.Context) error) {
	c.tb.Helper()
	if err := c.WaitErr(WaitTimeout, cond); err != nil {
		c.tb.Fatalf("e2e: waiting for %s: %v", what, err)
	}
}

// WaitErr is Wait returning the error instead of failing the test.
func (c *Cluster) WaitErr(timeout time.Duration, cond func(ctx context.Context) error) error {
	return WaitFor(timeout, func(ctx context.Context) error {
		for _, n := range c.Nodes() {
			if err := n.unexpectedExit(); err != nil {
				return &fatalError{fmt.Errorf("%w\n%s", err, n.LogTail(20))}
			}
		}
		return cond(ctx)
	})
}

// WaitReady waits until GET /ready on n answers 200.
func (c *Cluster) WaitReady(n *Node) {
	c.tb.Helper()
	c.Wait(n.ID+" ready", func(ctx context.Context) error {
		return c.client.Ready(ctx, n.URL())
	})
}

// WaitMembers waits until every running node lists count members, each with
// its API address, and knows a leader.
func (c *Cluster) WaitMembers(count int) {
	c.tb.Helper()
	c.Wait(fmt.Sprintf("%d members", count), func(ctx context.Context) error {
		for _, n := range c.Live() {
			ci, err := c.client.Cluster(ctx, n.URL())
			if err != nil {
				return err
			}
			if len(ci.Members) != count {
				return fmt.Errorf("%s lists %d members, want %d", n.ID, len(ci.Members), count)
			}
			if ci.LeaderID() == "" {
				return fmt.Errorf("%s knows no leader", n.ID)
			}
			for _, m := range ci.Members {
				if m.APIAddr == "" {
					return fmt.Errorf("%s knows no api_addr for %s yet", n.ID, m.NodeID)
				}
			}
		}
		return nil
	})
}

// LeaderErr returns the node that every running node, except those in
// exclude, names as leader, or an error when they do not agree or it is not
// one of them.
func (c *Cluster) LeaderErr(ctx context.Context, exclude ...*Node) (*Node, error) {
	id := ""
	asked := 0
	for _, n := range c.Live() {
		if contains(exclude, n) {
			continue
		}
		asked++
		ci, err := c.client.Cluster(ctx, n.URL())
		if err != nil {
			return nil, err
		}
		l := ci.LeaderID()
		switch {
		case l == "":
			return nil, fmt.Errorf("%s knows no leader", n.ID)
		case id == "":
			id = l
		case id != l:
			return nil, fmt.Errorf("nodes disagree on the leader: %s and %s", id, l)
		}
	}
	if asked == 0 {
		return nil, errors.New("no running node to ask")
	}
	ln := c.ByID(id)
	if ln == nil || !ln.Running() || contains(exclude, ln) {
		return nil, fmt.Errorf("leader %s is not a running candidate", id)
	}
	return ln, nil
}

// WaitLeader waits until the running nodes other than exclude agree on a
// leader among them, and returns it.
func (c *Cluster) WaitLeader(exclude ...*Node) *Node {
	c.tb.Helper()
	var leader *Node
	c.Wait("a leader", func(ctx context.Context) error {
		l, err := c.LeaderErr(ctx, exclude...)
		leader = l
		return err
	})
	return leader
}

// Followers returns the running nodes other than leader.
func (c *Cluster) Followers(leader *Node) []*Node {
	var fs []*Node
	for _, n := range c.Live() {
		if n != leader {
			fs = append(fs, n)
		}
	}
	return fs
}

// Fixtures names the team, owner and issuer every test certificate uses.
type Fixtures struct {
	TeamID, OwnerID, IssuerID string
}

// DefaultFixtures are the ids Seed creates.
var DefaultFixtures = Fixtures{TeamID: "t-e2e", OwnerID: "o-e2e", IssuerID: "iss-e2e"}

// Seed creates DefaultFixtures through node n. A 409 (already there) is fine.
func (c *Cluster) Seed(n *Node) Fixtures {
	c.tb.Helper()
	f := DefaultFixtures
	bodies := []struct {
		kind string
		body any
	}{
		{"teams", map[string]any{"id": f.TeamID, "name": "e2e"}},
		{"owners", map[string]any{"id": f.OwnerID, "name": "e2e", "email": "e2e@example.com", "team_id": f.TeamID}},
		{"issuers", map[string]any{"id": f.IssuerID, "name": "e2e", "type": "GenericCA", "config": map[string]any{}, "enabled": true}},
	}
	for _, b := range bodies {
		c.Wait("create "+b.kind, func(ctx context.Context) error {
			err := c.client.Create(ctx, n.URL(), b.kind, b.body)
			if se := (*StatusError)(nil); errors.As(err, &se) && se.Status == 409 {
				return nil
			}
			return err
		})
	}
	return f
}

// NewCertificate returns a certificate request with the given id, a unique
// name derived from it and the fixtures' references.
func (f Fixtures) NewCertificate(id string) Certificate {
	cn := id + ".example.com"
	return Certificate{
		ID: id, Name: "cert " + id, CommonName: cn, SANs: []string{cn},
		Environment: "production", OwnerID: f.OwnerID, TeamID: f.TeamID, IssuerID: f.IssuerID,
		Tags: map[string]string{"suite": "e2e"},
	}
}

func contains(ns []*Node, n *Node) bool {
	for _, x := range ns {
		if x == n {
			return true
		}
	}
	return false
}
