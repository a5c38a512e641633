// Package nodetest runs in-process certctl raft clusters for tests: nodes on
// 127.0.0.1 with short raft timeouts, each behind a small HTTP server that
// serves the node-to-node endpoints (join, forwarded propose, cluster id)
// the way the API does. It is for tests only: fsync is off.
package nodetest

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/certctl/certctl/fsm/fsmtest"
	"github.com/certctl/certctl/node"
	"github.com/certctl/certctl/node/clusterca"
)

// testKEK is the key-encryption key of every node this package starts: the
// nodes of a cluster share one, as in production.
var testKEK = [32]byte{'n', 'o', 'd', 'e', 't', 'e', 's', 't'}

// Sealer is an AES-256-GCM sealer under the test key-encryption key, what
// keywrap.Box is for a real node.
var Sealer node.Sealer = gcmSealer{}

type gcmSealer struct{}

func (gcmSealer) aead() cipher.AEAD {
	b, err := aes.NewCipher(testKEK[:])
	if err != nil {
		panic(err)
	}
	g, err := cipher.NewGCM(b)
	if err != nil {
		panic(err)
	}
	return g
}

func (s gcmSealer) Seal(plaintext, ad []byte) ([]byte, error) {
	g := s.aead()
	nonce := make([]byte, g.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	return []byte(base64.StdEncoding.EncodeToString(g.Seal(nonce, nonce, plaintext, ad))), nil
}

func (s gcmSealer) Open(sealed, ad []byte) ([]byte, error) {
	raw, err := base64.StdEncoding.DecodeString(string(sealed))
	g := s.aead()
	if err != nil || len(raw) < g.NonceSize() {
		return nil, errors.New("nodetest: not sealed")
	}
	return g.Open(nil, raw[:g.NonceSize()], raw[g.NonceSize():], ad)
}

// WaitTimeout bounds every wait of this package.
const WaitTimeout = 15 * time.Second

// Config returns a node.Config for a test node: data in a fresh temp dir,
// raft on 127.0.0.1:0, raft timeouts of 200 ms, fsync off, logs at warn
// level through t.Log. APIAddr is left for the caller.
func Config(t testing.TB, id string) node.Config {
	return node.Config{
		NodeID:   id,
		DataDir:  t.TempDir(),
		RaftAddr: "127.0.0.1:0",
		Sealer:   Sealer,
		CASeed:   []byte("nodetest cluster CA seed 0123456"),
		Logger:   Logger(t, slog.LevelWarn),
		// Short enough for quick elections, long enough that a leader on a
		// loaded 2-core machine under -race (every package's tests at
		// once) keeps its lease: at 100 ms leaders stepped down mid-test.
		HeartbeatTimeout:   400 * time.Millisecond,
		ElectionTimeout:    400 * time.Millisecond,
		LeaderLeaseTimeout: 300 * time.Millisecond,
		LeaderWait:         3 * time.Second,
		JoinTimeout:        WaitTimeout,
		NoSync:             true,
		AuditKey:           fsmtest.AuditKey(), // the same for every node, as the KEK is
	}
}

// Logger returns a logger that writes through t.Log at level and above, and
// goes quiet once the test has finished.
func Logger(t testing.TB, level slog.Level) *slog.Logger {
	w := &testWriter{t: t}
	t.Cleanup(func() { w.done.Store(true) })
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: level}))
}

type testWriter struct {
	t    testing.TB
	done atomic.Bool
}

func (w *testWriter) Write(p []byte) (int, error) {
	if !w.done.Load() {
		w.t.Log(string(p[:len(p)-1]))
	}
	return len(p), nil
}

// Member is one node of a Cluster with the HTTP server in front of it. The
// server keeps its address across Stop and Start; while the node is stopped
// the address refuses connections.
type Member struct {
	Config node.Config
	// BeforeOpen functions run on each new node between New and Open.
	BeforeOpen []func(*node.Node)
	// Serve, when set, makes the handler the member's HTTPS server serves
	// for each new node (a whole API, say); nil serves only the
	// node-to-node endpoints (Handler).
	Serve func(*node.Node) http.Handler

	mu   sync.Mutex
	node *node.Node
	srv  *http.Server
	cur  atomic.Pointer[node.Node]
}

// Node returns the running node, or nil while stopped.
func (m *Member) Node() *node.Node { return m.cur.Load() }

// ID returns the node id.
func (m *Member) ID() string { return m.Config.NodeID }

// Handler serves the node-to-node endpoints of whatever node h returns; it
// answers 503 while h returns nil.
func Handler(h func() *node.Node) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := h()
		if n == nil {
			http.Error(w, `{"error":{"code":"unavailable","message":"node stopped"}}`, http.StatusServiceUnavailable)
			return
		}
		switch r.URL.Path {
		case node.JoinPath:
			n.JoinHandler().ServeHTTP(w, r)
		case node.ProposePath:
			n.ProposeHandler().ServeHTTP(w, r)
		case node.AddVoterPath:
			n.AddVoterHandler().ServeHTTP(w, r)
		case node.LeavePath:
			n.LeaveHandler().ServeHTTP(w, r)
		case node.ClusterPath:
			n.ClusterHandler().ServeHTTP(w, r)
		default:
			http.NotFound(w, r)
		}
	})
}

// NewMember reserves an API address on 127.0.0.1 for cfg (setting
// cfg.APIAddr unless set) without starting anything. The member is stopped
// at the end of the test, before cfg's temp dir is removed (cleanups run
// last-registered first, and cfg's dir was made before this call).
func NewMember(t testing.TB, cfg node.Config) *Member {
	if cfg.APIAddr == "" {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		cfg.APIAddr = ln.Addr().String()
		ln.Close()
	}
	m := &Member{Config: cfg}
	t.Cleanup(func() { m.Stop() })
	return m
}

// Start serves the member's API address, then creates and opens its node.
// After a Stop it reuses the data dir and both addresses.
func (m *Member) Start(ctx context.Context) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.node != nil {
		return errors.New("nodetest: member already started")
	}
	ln, err := listenRetry(m.Config.APIAddr)
	if err != nil {
		return err
	}
	n, err := node.New(m.Config)
	if err != nil {
		ln.Close()
		return err
	}
	for _, fn := range m.BeforeOpen {
		fn(n)
	}
	m.cur.Store(n)
	h := Handler(m.cur.Load)
	if m.Serve != nil {
		h = m.Serve(n)
	}
	m.srv = &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	go m.srv.Serve(tls.NewListener(ln, ServerTLS(m.cur.Load)))
	if err := n.Open(ctx); err != nil {
		m.cur.Store(nil)
		m.srv.Close()
		n.Close()
		return err
	}
	// Keep the raft address across restarts: it is in the raft configuration.
	m.Config.RaftAddr = n.RaftAddr()
	m.node = n
	return nil
}

// Stop closes the node and its HTTP server. Stopping a stopped member does
// nothing.
func (m *Member) Stop() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.node == nil {
		return nil
	}
	err := m.node.Close()
	m.cur.Store(nil)
	m.srv.Close()
	m.node, m.srv = nil, nil
	return err
}

// ServerTLS is the TLS configuration of a member's API: that of whatever
// node h returns (none while it is stopped or has no identity yet).
func ServerTLS(h func() *node.Node) *tls.Config {
	return &tls.Config{GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
		n := h()
		if n == nil {
			return nil, errors.New("nodetest: node stopped")
		}
		return n.ServerTLSConfig(nil), nil
	}}
}

// listenRetry listens on addr, retrying briefly while a just-closed listener
// still holds it.
func listenRetry(addr string) (net.Listener, error) {
	deadline := time.Now().Add(5 * time.Second)
	for {
		ln, err := net.Listen("tcp", addr)
		if err == nil || time.Now().After(deadline) {
			return ln, err
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Cluster is a set of Members started together: the first bootstraps, the
// others join through the API addresses of those started before them.
type Cluster struct {
	Members []*Member
}

// JoinToken makes a join token (1 h, 10 uses) through a running member.
func (c *Cluster) JoinToken(t testing.TB) string {
	t.Helper()
	for _, m := range c.Running() {
		ctx, cancel := context.WithTimeout(context.Background(), WaitTimeout)
		tok, err := m.Node().CreateJoinToken(ctx, time.Hour, 10)
		cancel()
		if err == nil {
			return tok
		}
		t.Logf("nodetest: join token through %s: %v", m.ID(), err)
	}
	t.Fatal("nodetest: no running member made a join token")
	return ""
}

// Option adjusts a new Cluster.
type Option func(*options)

type options struct {
	config     []func(*node.Config)
	beforeOpen []func(*node.Node)
	serve      func(*node.Node) http.Handler
}

// WithServe makes every member serve fn(node) instead of the node-to-node
// endpoints alone (see Member.Serve).
func WithServe(fn func(*node.Node) http.Handler) Option {
	return func(o *options) { o.serve = fn }
}

// WithConfig changes the Config of every member before it starts.
func WithConfig(fn func(*node.Config)) Option {
	return func(o *options) { o.config = append(o.config, fn) }
}

// WithBeforeOpen calls fn with each node after New and before Open, every
// time a member starts (RunOnLeader registrations go here).
func WithBeforeOpen(fn func(*node.Node)) Option {
	return func(o *options) { o.beforeOpen = append(o.beforeOpen, fn) }
}

// NewCluster starts size nodes (ids n1, n2, ...) and waits until every one is
// a voter, knows the cluster id and sees a leader. Everything stops at the
// end of the test.
func NewCluster(t testing.TB, size int, opts ...Option) *Cluster {
	t.Helper()
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	c := &Cluster{}
	t.Cleanup(c.Close)
	var joinAddrs []string
	for i := range size {
		cfg := Config(t, fmt.Sprintf("n%d", i+1))
		for _, fn := range o.config {
			fn(&cfg)
		}
		cfg.Bootstrap = i == 0
		cfg.JoinAddrs = append([]string(nil), joinAddrs...)
		if i > 0 {
			cfg.JoinToken = c.JoinToken(t)
		}
		m := NewMember(t, cfg)
		m.BeforeOpen = o.beforeOpen
		m.Serve = o.serve
		ctx, cancel := context.WithTimeout(context.Background(), WaitTimeout)
		err := m.Start(ctx)
		cancel()
		require.NoError(t, err, "start %s", cfg.NodeID)
		c.Members = append(c.Members, m)
		joinAddrs = append(joinAddrs, m.Config.APIAddr)
		if i == 0 {
			WaitFor(t, "bootstrap node to name the cluster and store its CA", func() bool {
				id, _ := m.Node().FSM().ClusterID()
				_, caErr := m.Node().FSM().ClusterCA()
				return id != "" && caErr == nil && m.Node().IsLeader()
			})
		}
	}
	c.WaitConverged(t)
	return c
}

// WaitConverged waits until every running member sees a leader, knows the
// cluster id and CA and holds a member record, with a certificate, for every
// running member.
func (c *Cluster) WaitConverged(t testing.TB) {
	t.Helper()
	WaitFor(t, "cluster to converge", func() bool {
		running := c.Running()
		for _, m := range running {
			n := m.Node()
			if id, _, api := n.Leader(); id == "" || api == "" {
				return false
			}
			if id, _ := n.FSM().ClusterID(); id == "" {
				return false
			}
			if _, err := n.FSM().ClusterCA(); err != nil {
				return false
			}
			members, err := n.FSM().Members()
			if err != nil || len(members) < len(running) {
				return false
			}
			for _, rec := range members {
				if len(rec.CertSerials) == 0 {
					return false // its certificate is still to be recorded
				}
			}
		}
		return true
	})
}

// Running returns the members whose node runs.
func (c *Cluster) Running() []*Member {
	var out []*Member
	for _, m := range c.Members {
		if m.Node() != nil {
			out = append(out, m)
		}
	}
	return out
}

// Leader waits for a running member that leads and returns it.
func (c *Cluster) Leader(t testing.TB) *Member {
	t.Helper()
	var leader *Member
	WaitFor(t, "a leader", func() bool {
		for _, m := range c.Running() {
			if m.Node().IsLeader() {
				leader = m
				return true
			}
		}
		return false
	})
	return leader
}

// Followers returns the running members that do not lead right now.
func (c *Cluster) Followers() []*Member {
	var out []*Member
	for _, m := range c.Running() {
		if !m.Node().IsLeader() {
			out = append(out, m)
		}
	}
	return out
}

// Close stops every member.
func (c *Cluster) Close() {
	var wg sync.WaitGroup
	for _, m := range c.Members {
		wg.Add(1)
		go func() {
			defer wg.Done()
			m.Stop()
		}()
	}
	wg.Wait()
}

// WaitFor polls cond every 10 ms until it holds, failing the test after
// WaitTimeout.
func WaitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(WaitTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("nodetest: timed out after %s waiting for %s", WaitTimeout, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// ClientTLS returns a client configuration that trusts the cluster CA in
// dataDir and, when withCert, presents the node certificate found there,
// asking for the node certificate of the server (clusterca.ServerName).
func ClientTLS(t testing.TB, dataDir string, withCert bool) *tls.Config {
	t.Helper()
	caFile, certFile, keyFile := node.TLSFiles(dataDir)
	caPEM, err := os.ReadFile(caFile)
	require.NoError(t, err)
	pool := x509.NewCertPool()
	require.True(t, pool.AppendCertsFromPEM(caPEM))
	cfg := &tls.Config{RootCAs: pool, ServerName: clusterca.ServerName, MinVersion: tls.VersionTLS12}
	if withCert {
		pair, err := tls.LoadX509KeyPair(certFile, keyFile)
		require.NoError(t, err)
		cfg.Certificates = []tls.Certificate{pair}
	}
	return cfg
}

// HTTPClient returns a client with ClientTLS, closed at the end of the test.
func HTTPClient(t testing.TB, dataDir string, withCert bool) *http.Client {
	tr := &http.Transport{TLSClientConfig: ClientTLS(t, dataDir, withCert)}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: WaitTimeout}
}
