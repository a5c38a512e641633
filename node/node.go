package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"

	"github.com/certctl/certctl/fsm"
	"github.com/certctl/certctl/node/clusterca"
)

// Node is one certctl server's raft member: it owns the raft instance, its
// stores and transport, and the fsm they drive. Create it with New, start it
// with Open, stop it with Close. All methods are safe for concurrent use;
// the HTTP entry points (HandleJoin, ApplyForwarded and their handlers) may
// be served before Open and answer ErrClosed until raft runs.
type Node struct {
	cfg Config
	log *slog.Logger
	fsm *fsm.FSM
	// peers is the one client of node-to-node HTTP (mutual TLS).
	peers *http.Client
	// tls is this node's TLS identity: the cluster CA and its certificate.
	tls tlsState
	// verifiedPeers maps the leaf certificates of connections PeerNode has
	// verified (*x509.Certificate, shared by a connection's requests) to
	// the node they name.
	verifiedPeers sync.Map
	verifiedCount atomic.Int64

	// mu guards the lifecycle fields below. Background goroutines never
	// take it: Open and Close wait for them while holding it.
	mu     sync.Mutex
	opened bool
	failed bool // an Open failed; the Node can only be closed
	closed bool
	stores *raftStores
	trans  *raft.NetworkTransport
	obs    *raft.Observer
	// relayStop ends the goroutine that relays incoming RPCs to raft
	// (watchedTransport.relay); relayDone is closed when it has returned.
	relayStop chan struct{}
	relayDone chan struct{}

	watch *replWatch // the stall check

	raft      atomic.Pointer[raft.Raft] // set once raft runs, for lock-free reads
	advertise atomic.Pointer[string]    // the transport's advertised address

	identMu sync.Mutex
	ident   identity // node.json as last written or read

	hooksMu sync.Mutex
	hooks   []leaderHook

	termMu sync.Mutex
	term   *leaderTerm // the RunOnLeader functions running, if any

	// life is the node's lifetime, cancelled by Close: the parent of every
	// background goroutine's ctx, each counted in wg. It is a field, unlike
	// a request's ctx, because nothing else tells those goroutines to stop.
	life     context.Context
	stopLife context.CancelFunc
	wg       sync.WaitGroup

	leaderMu      sync.Mutex
	leaderChanged chan struct{} // closed and replaced at each leader change
	leaderCache   leaderAddr    // leader's API address, reset at each change

	caughtUp atomic.Bool // see Ready

	restoring atomic.Bool // a Restore is under way
}

// New checks cfg, makes the data dir or tightens it to mode 0700, refuses a
// data dir written by another node id, and opens the state file (state.db),
// so FSM is usable for reads before Open. It starts no goroutine and no
// network listener.
func New(cfg Config) (*Node, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	if err := privateDir(cfg.DataDir); err != nil {
		return nil, err
	}
	ident, found, err := readIdentity(cfg.DataDir)
	if err != nil {
		return nil, err
	}
	if found && ident.NodeID != "" && ident.NodeID != cfg.NodeID {
		return nil, &NodeIDMismatchError{DataDir: cfg.DataDir, Recorded: ident.NodeID, Configured: cfg.NodeID}
	}
	if !found {
		ident = identity{NodeID: cfg.NodeID}
	}
	f, err := fsm.Open(statePath(cfg.DataDir), fsm.Options{NoSync: cfg.NoSync, AuditKey: cfg.AuditKey})
	if err != nil {
		return nil, err
	}
	life, stopLife := context.WithCancel(context.Background())
	n := &Node{
		cfg:           cfg,
		log:           cfg.Logger.With("component", "node", "node_id", cfg.NodeID),
		fsm:           f,
		ident:         ident,
		life:          life,
		stopLife:      stopLife,
		leaderChanged: make(chan struct{}),
	}
	if from, to, ok := f.Migrated(); ok {
		n.log.Info("migrated the state file to this release's stored schema", "path", f.Path(), "from_version", from, "to_version", to)
	}
	n.peers = &http.Client{Transport: n.newPeerTransport()}
	n.watch = newReplWatch(cfg.StallTimeout, n.log)
	// The first duty of every new leader: make sure the cluster has an id and
	// this node's addresses are recorded.
	n.hooks = append(n.hooks, leaderHook{name: "cluster-membership", fn: n.tendMembership})
	return n, nil
}

// FSM returns the state machine this node applies the raft log to. Read it
// freely; change it only through Propose. It is valid from New until Close.
func (n *Node) FSM() *fsm.FSM { return n.fsm }

// ID returns this node's id.
func (n *Node) ID() string { return n.cfg.NodeID }

// RaftAddr returns the address other nodes dial for raft: the advertised
// address once Open has bound the transport, else the configured one.
func (n *Node) RaftAddr() string {
	if a := n.advertise.Load(); a != nil {
		return *a
	}
	if n.cfg.RaftAdvertise != "" {
		return n.cfg.RaftAdvertise
	}
	return n.cfg.RaftAddr
}

// APIAddr returns the API address this node records for itself.
func (n *Node) APIAddr() string { return n.cfg.APIAddr }

// Open starts raft. With no raft state in the data dir it bootstraps
// (Config.Bootstrap) or joins one of Config.JoinAddrs, retrying for up to
// Config.JoinTimeout; with existing state it restarts, first checking that
// the cluster at JoinAddrs (if any answers quickly) is the one the data dir
// belongs to. Open returns once raft runs and, for a join, once this node is a
// voter; it does not wait for a leader. On error everything Open started is
// stopped and the Node can only be closed.
func (n *Node) Open(ctx context.Context) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	switch {
	case n.closed:
		return ErrClosed
	case n.opened:
		return errors.New("node: already open")
	case n.failed:
		return errors.New("node: an earlier Open failed; close this Node and create a new one")
	}
	if err := n.open(ctx); err != nil {
		n.abortOpen()
		n.failed = true
		return err
	}
	n.opened = true
	return nil
}

// open does Open's work with n.mu held.
func (n *Node) open(ctx context.Context) error {
	stores, err := openRaftStores(n.cfg)
	if err != nil {
		return err
	}
	n.stores = stores
	existing, err := stores.hasState()
	if err != nil {
		return err
	}
	seed := n.cfg.RestoreFrom != "" && !existing
	if n.cfg.RestoreFrom != "" && existing {
		n.log.Warn("the data dir already holds raft state; not restoring from the snapshot again", "restore_from", n.cfg.RestoreFrom)
	}
	if seed && n.fsm.AppliedIndex() > 0 {
		return fmt.Errorf("node: restoring from %s needs an empty data dir, and %s already holds state (applied index %d)",
			n.cfg.RestoreFrom, n.fsm.Path(), n.fsm.AppliedIndex())
	}
	if existing {
		restored, err := catchUpFromSnapshot(n.fsm, stores.snaps)
		if err != nil {
			return err
		}
		if restored {
			n.log.Warn("state file was behind the newest raft snapshot; restored it from the snapshot", "applied_index", n.fsm.AppliedIndex())
		}
	}

	local, err := n.localClusterID()
	if err != nil {
		return err
	}
	// Bound first: a joining node's certificate names its raft address.
	ln, adv, err := listenRaft(n.cfg.RaftAddr, n.cfg.RaftAdvertise)
	if err != nil {
		return err
	}
	advStr := adv.String()
	n.advertise.Store(&advStr)
	if seed {
		if err := n.seedFromSnapshot(n.cfg.RestoreFrom, stores.snaps, advStr); err != nil {
			ln.Close()
			return err
		}
		existing = true
		if _, err := catchUpFromSnapshot(n.fsm, stores.snaps); err != nil {
			ln.Close()
			return err
		}
		if local, err = n.localClusterID(); err != nil {
			ln.Close()
			return err
		}
	}
	if err := n.establishIdentity(ctx, existing, local, ln); err != nil {
		ln.Close()
		return err
	}
	if local == "" {
		if local, err = n.localClusterID(); err != nil {
			ln.Close()
			return err
		}
	}
	if existing && local != "" && len(n.cfg.JoinAddrs) > 0 {
		if err := n.checkCluster(ctx, local); err != nil {
			ln.Close()
			return err
		}
	}

	trans := n.newTransport(ln, adv)
	n.trans = trans

	wt := newWatchedTransport(trans, n.watch)
	n.relayStop, n.relayDone = make(chan struct{}), make(chan struct{})
	go func(stop, done chan struct{}) {
		defer close(done)
		wt.relay(stop)
	}(n.relayStop, n.relayDone)

	r, err := raft.NewRaft(n.cfg.raftConfig(), raftFSM{n.fsm}, stores.logs, stores.bolt, stores.snaps, wt)
	if err != nil {
		return fmt.Errorf("node: start raft: %w", err)
	}
	n.raft.Store(r)
	n.startWatchers(r)

	switch {
	case existing:
		n.log.Info("restarted with existing raft state", "last_index", r.LastIndex(), "applied_index", n.fsm.AppliedIndex(), "cluster_id", local)
		n.wg.Add(1)
		go func() {
			defer n.wg.Done()
			n.snapshotIfDue(r, stores.snaps)
		}()
	case n.cfg.Bootstrap:
		cfg := raft.Configuration{Servers: []raft.Server{{
			Suffrage: raft.Voter,
			ID:       raft.ServerID(n.cfg.NodeID),
			Address:  trans.LocalAddr(),
		}}}
		if err := r.BootstrapCluster(cfg).Error(); err != nil && !errors.Is(err, raft.ErrCantBootstrap) {
			return fmt.Errorf("node: bootstrap: %w", err)
		}
		n.log.Info("bootstrapped a new cluster", "raft_addr", trans.LocalAddr(), "cluster_id", local, "ca_fingerprint", n.CAFingerprint())
	default:
		leader, err := n.addSelf(ctx, string(trans.LocalAddr()))
		if err != nil {
			return err
		}
		n.log.Info("joined the cluster", "cluster_id", local, "leader", leader)
	}
	n.wg.Add(2)
	go n.renewCertLoop()
	go n.recordOwnCert()
	return nil
}

// establishIdentity loads this node's TLS identity, or makes it: a new
// cluster CA and a certificate signed by it when bootstrapping, a
// certificate bought with the join token when joining, a certificate signed
// locally with the replicated CA when the data dir lost its tls/ directory.
func (n *Node) establishIdentity(ctx context.Context, existing bool, local string, ln net.Listener) error {
	id, found, err := loadIdentityTLS(n.cfg.DataDir)
	if err != nil {
		return err
	}
	switch {
	case found:
		n.tls.cur.Store(id)
		return n.checkIdentity(id)
	case existing:
		ca, err := n.signingCA()
		if errors.Is(err, fsm.ErrNotFound) && len(n.cfg.CASeed) > 0 && local != "" {
			return n.upgradeIdentity(local)
		}
		if err != nil {
			return fmt.Errorf("node: data dir %s holds raft state but no node certificate (%s), and the state holds no cluster CA to sign one: "+
				"it was written by a certctl without TLS between nodes, or tls/ was lost before the cluster had a CA: %w", n.cfg.DataDir, tlsDir(n.cfg.DataDir), err)
		}
		if _, err := n.issueSelf(ca); err != nil {
			return err
		}
		n.log.Warn("the data dir had no node certificate; signed a new one with the cluster CA", "dir", tlsDir(n.cfg.DataDir))
		return nil
	case n.cfg.Bootstrap:
		return n.bootstrapIdentity(local)
	case len(n.cfg.JoinAddrs) > 0:
		return n.certify(ctx, ln.Addr().String())
	default:
		return errors.New("node: the data dir holds no cluster: start the first node with Bootstrap, the others with JoinAddrs and a JoinToken")
	}
}

// upgradeIdentity gives a node of a cluster written by a certctl without
// TLS between nodes its TLS identity: the cluster CA derived from CASeed and
// the cluster id (the same on every node, with no node to ask), kept sealed
// in tls/ca.key.sealed for the first leader to replicate, and a node
// certificate signed by it.
func (n *Node) upgradeIdentity(clusterID string) error {
	ca, keyPEM, err := clusterca.Derive(clusterID, n.cfg.CASeed)
	if err != nil {
		return err
	}
	if err := n.adoptCA(clusterID, ca, keyPEM); err != nil {
		return err
	}
	n.log.Warn("this cluster had no cluster CA (a certctl without TLS between nodes wrote it): derived it from the key-encryption key and the cluster id, as every node does, and signed this node's certificate",
		"cluster_id", clusterID, "ca_fingerprint", ca.Fingerprint())
	return nil
}

// adoptCA keeps a cluster CA this node made (its key sealed, in
// tls/ca.key.sealed, until a leader has replicated it) and signs this node's
// certificate with it. It clears keyPEM.
func (n *Node) adoptCA(clusterID string, ca *clusterca.CA, keyPEM []byte) error {
	defer clear(keyPEM)
	sealed, err := n.cfg.Sealer.Seal(keyPEM, caKeyAAD(clusterID))
	if err != nil {
		return fmt.Errorf("node: seal the cluster CA's key: %w", err)
	}
	if err := os.MkdirAll(tlsDir(n.cfg.DataDir), 0o700); err != nil {
		return fmt.Errorf("node: %w", err)
	}
	if err := writeFileAtomic(sealedCAKeyPath(n.cfg.DataDir), sealed, 0o600); err != nil {
		return err
	}
	_, err = n.issueSelf(ca)
	return err
}

// checkIdentity refuses a TLS identity that does not name this node.
func (n *Node) checkIdentity(id *identityTLS) error {
	got, ok := clusterca.NodeID(id.leaf)
	if !ok || got != n.cfg.NodeID {
		return fmt.Errorf("node: %s names node %q, not %s", nodeCertPath(n.cfg.DataDir), got, n.cfg.NodeID)
	}
	return nil
}

// bootstrapIdentity makes the cluster's id, its CA (the key sealed, kept in
// tls/ca.key.sealed until the first leader has replicated it) and this
// node's certificate.
func (n *Node) bootstrapIdentity(clusterID string) error {
	if clusterID == "" {
		clusterID = randomHex(8)
		if err := n.recordClusterID(clusterID); err != nil {
			return err
		}
	}
	ca, keyPEM, err := clusterca.New(clusterID, n.cfg.Now())
	if err != nil {
		return err
	}
	if err := n.adoptCA(clusterID, ca, keyPEM); err != nil {
		return err
	}
	n.log.Info("made the cluster CA", "cluster_id", clusterID, "ca_fingerprint", ca.Fingerprint())
	return nil
}

// localClusterID is the cluster this data dir belongs to, from node.json or
// the state file, or "" for a data dir that never joined one.
func (n *Node) localClusterID() (string, error) {
	fromState, err := n.fsm.ClusterID()
	if err != nil {
		return "", fmt.Errorf("node: read cluster id: %w", err)
	}
	n.identMu.Lock()
	fromFile := n.ident.ClusterID
	n.identMu.Unlock()
	switch {
	case fromFile != "" && fromState != "" && fromFile != fromState:
		return "", fmt.Errorf("node: data dir %s is inconsistent: %s names cluster %s but the state file holds cluster %s",
			n.cfg.DataDir, identityPath(n.cfg.DataDir), fromFile, fromState)
	case fromFile != "":
		return fromFile, nil
	default:
		return fromState, nil
	}
}

// abortOpen undoes a failed open, with n.mu held.
func (n *Node) abortOpen() {
	n.stopLife()
	if r := n.raft.Swap(nil); r != nil {
		if err := r.Shutdown().Error(); err != nil {
			n.log.Warn("raft shutdown after a failed open", "err", err)
		}
		if n.obs != nil {
			r.DeregisterObserver(n.obs)
		}
	}
	n.wg.Wait()
	n.stopRelay()
	if n.trans != nil {
		n.trans.Close()
		n.trans = nil
	}
	if n.stores != nil {
		n.stores.Close()
		n.stores = nil
	}
}

// Close stops the node within Config.ShutdownTimeout. A leader first hands
// leadership to the most up-to-date follower, so a planned stop costs the
// cluster one fast election instead of an election timeout. Then the
// RunOnLeader functions are cancelled and waited for (hand-off and functions
// get half the timeout), raft is shut down (the rest), and the transport, the
// stores and the state file are closed.
//
// A node that cannot stop within the timeout logs what it was waiting for and
// Close returns an error wrapping ErrShutdownTimeout; it then leaves open the
// files that something still running may use (raft.db while raft runs,
// state.db while raft runs), so that nothing writes to a closed file. Both are bbolt files, consistent after every
// commit: the next start finds them as after a crash, which it recovers from.
// The process is expected to exit.
//
// Close is idempotent; the Node cannot be reopened.
func (n *Node) Close() error {
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		return nil
	}
	n.closed = true
	n.mu.Unlock()

	start := time.Now()
	half, end := start.Add(n.cfg.ShutdownTimeout/2), start.Add(n.cfg.ShutdownTimeout)
	var errs []error
	r := n.raft.Load()
	if r != nil {
		n.handOff(r, half)
	}
	n.stopLife()
	leaderFuncsDone := waitUntil(half, n.wg.Wait)
	if !leaderFuncsDone {
		running := n.runningLeaderFuncs()
		n.log.Error("RunOnLeader functions did not return in time; shutting raft down without them",
			"waiting_for", running, "after", time.Since(start).Round(time.Millisecond))
		errs = append(errs, fmt.Errorf("%w: RunOnLeader functions still running after %s: %s",
			ErrShutdownTimeout, time.Since(start).Round(time.Millisecond), strings.Join(running, ", ")))
	}
	n.raft.Store(nil)
	raftDone := true
	if r != nil {
		var shutdownErr error
		raftDone = waitUntil(end, func() { shutdownErr = r.Shutdown().Error() })
		if !raftDone {
			busy := raftGoroutines()
			n.log.Error("raft did not shut down in time; leaving raft.db and state.db open for the next start to recover",
				"waiting_for", "raft shutdown", "raft_goroutines", busy, "after", time.Since(start).Round(time.Millisecond))
			errs = append(errs, fmt.Errorf("%w: raft still shutting down after %s (raft goroutines in this process: %s)",
				ErrShutdownTimeout, time.Since(start).Round(time.Millisecond), busy))
		} else if shutdownErr != nil {
			errs = append(errs, fmt.Errorf("node: raft shutdown: %w", shutdownErr))
		}
		n.mu.Lock()
		if n.obs != nil {
			r.DeregisterObserver(n.obs)
		}
		n.mu.Unlock()
	}
	n.mu.Lock()
	n.stopRelay()
	if n.trans != nil {
		if err := n.trans.Close(); err != nil {
			errs = append(errs, fmt.Errorf("node: close transport: %w", err))
		}
	}
	if n.stores != nil && raftDone {
		if err := n.stores.Close(); err != nil {
			errs = append(errs, fmt.Errorf("node: close raft store: %w", err))
		}
	}
	n.mu.Unlock()
	// Raft's FSM goroutine is the only writer of the state file: once raft
	// has stopped no Apply can run. Close waits for readers (a RunOnLeader
	// function still running reads "fsm: closed" afterwards).
	if raftDone {
		var closeErr error
		if !waitUntil(latest(end, time.Now().Add(100*time.Millisecond)), func() { closeErr = n.fsm.Close() }) {
			n.log.Error("the state file is still in use; leaving it open for the next start to recover", "waiting_for", "state file readers")
			errs = append(errs, fmt.Errorf("%w: state file still in use after %s", ErrShutdownTimeout, time.Since(start).Round(time.Millisecond)))
		} else if closeErr != nil {
			errs = append(errs, fmt.Errorf("node: close state: %w", closeErr))
		}
	}
	n.peers.CloseIdleConnections()
	return errors.Join(errs...)
}

// handOff transfers leadership away if this node leads a cluster with other
// voters, waiting a few election timeouts at most, and never past deadline.
func (n *Node) handOff(r *raft.Raft, deadline time.Time) {
	if r.State() != raft.Leader || n.otherVoters(r) == 0 {
		return
	}
	ctx, cancel := context.WithDeadline(context.Background(), minTime(deadline, time.Now().Add(3*n.cfg.ElectionTimeout)))
	defer cancel()
	start := time.Now()
	if err := n.TransferLeadership(ctx); err != nil {
		n.log.Warn("leadership transfer before shutdown failed", "err", err)
		return
	}
	n.log.Info("handed leadership over before shutdown", "took", time.Since(start))
}

func (n *Node) otherVoters(r *raft.Raft) int {
	f := r.GetConfiguration()
	if f.Error() != nil {
		return 0
	}
	c := 0
	for _, s := range f.Configuration().Servers {
		if s.Suffrage == raft.Voter && string(s.ID) != n.cfg.NodeID {
			c++
		}
	}
	return c
}

// raftOrErr returns the running raft instance or ErrClosed.
func (n *Node) raftOrErr() (*raft.Raft, error) {
	if r := n.raft.Load(); r != nil {
		return r, nil
	}
	return nil, ErrClosed
}
