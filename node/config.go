package node

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"time"

	"github.com/hashicorp/raft"

	"github.com/certctl/certctl/fsm"
	"github.com/certctl/certctl/node/clusterca"
)

// Defaults for the fields of Config that are not raft's own.
const (
	DefaultMaxAppendEntries = 512
	DefaultCommitTimeout    = 5 * time.Millisecond
	DefaultJoinTimeout      = 60 * time.Second
	DefaultApplyTimeout     = 10 * time.Second
	DefaultLeaderWait       = 5 * time.Second
	// DefaultTransportTimeout bounds each raft RPC and dial; see
	// Config.TransportTimeout.
	DefaultTransportTimeout = 1 * time.Second
	DefaultShutdownTimeout  = 10 * time.Second
	DefaultStallTimeout     = 5 * time.Second
)

// Config is what a Node needs. The zero value of every tuning field means its
// default; raft's timing defaults are raft.DefaultConfig's.
type Config struct {
	// NodeID names this node in the raft configuration and the members
	// bucket. It never changes for a data dir.
	NodeID string
	// DataDir holds raft/raft.db, raft/snapshots, state.db and node.json.
	DataDir string
	// RaftAddr is the host:port the raft transport binds to.
	RaftAddr string
	// RaftAdvertise is the host:port other nodes dial to reach this node's
	// raft transport. Empty means the bound address, which must then not be
	// unspecified (0.0.0.0).
	RaftAdvertise string
	// APIAddr is the host:port other nodes use to reach this node's HTTPS
	// API (joins and forwarded writes). It is recorded in the members bucket.
	APIAddr string
	// TLSHosts are names (DNS or IP) the node certificate carries besides
	// the hosts of RaftAdvertise (or RaftAddr) and APIAddr: the addresses
	// clients use to reach this node (the operator's tls_sans).
	TLSHosts []string
	// CASeed, derived from the key-encryption key every node shares, lets a
	// node of a cluster that has no cluster CA yet (upgraded from a certctl
	// without TLS between nodes) derive the same CA as every other node
	// (clusterca.Derive). Nil: such a data dir is refused.
	CASeed []byte
	// Sealer seals the cluster CA's key under the key-encryption key every
	// node shares. Required: a node without it cannot bootstrap a cluster,
	// admit a joining node or renew its own certificate.
	Sealer Sealer

	// Bootstrap makes this node a one-voter cluster if its data dir holds no
	// raft state. Exactly one node of a new cluster bootstraps.
	Bootstrap bool
	// RestoreFrom is the path of a snapshot file (certctl snapshot save)
	// that a node with an empty data dir starts from: a new cluster of this
	// node alone holding the snapshot's state, which the other nodes then
	// join. Ignored, with a warning, once the data dir holds raft state.
	RestoreFrom string
	// JoinAddrs are API addresses (host:port or a URL) of members of the
	// cluster to join when the data dir holds no raft state. With existing
	// state they are only used to check that the cluster is still the same.
	JoinAddrs []string
	// JoinToken is the token (cjt1.<id>.<secret>.<CA fingerprint>) this
	// node presents to join a cluster, when its data dir holds no state. It
	// buys one node certificate; it never authenticates anything else.
	JoinToken string
	// JoinTimeout bounds the whole join attempt (default 60 s).
	JoinTimeout time.Duration

	// Logger receives raft's and node's logs. Nil means slog.Default().
	Logger *slog.Logger
	// Now is the clock used to stamp the commands node proposes itself.
	// Nil means time.Now.
	Now func() time.Time

	// Raft timing; zero means raft.DefaultConfig's value.
	HeartbeatTimeout   time.Duration
	ElectionTimeout    time.Duration
	LeaderLeaseTimeout time.Duration
	// CommitTimeout is how long the leader waits, with no new entries, before
	// telling followers the commit index. A follower answers a forwarded
	// write only once it has applied it, so this bounds a quiet follower's
	// write latency. Default 5 ms, not raft's 50 ms: measured in-process, a
	// write through a follower took 51 ms at 50 ms and 7 ms at 5 ms, for a
	// few extra empty AppendEntries a second when idle.
	CommitTimeout time.Duration
	// MaxAppendEntries is the most entries sent in one AppendEntries RPC
	// (default 512, raft allows at most 1024).
	MaxAppendEntries int

	// SnapshotThreshold is how many new entries trigger a snapshot and log
	// truncation (default 8192). SnapshotInterval is how often raft checks
	// (default 2 min). TrailingLogs is how many entries are kept behind a
	// snapshot so a lagging follower catches up without a snapshot
	// (default 10240).
	SnapshotThreshold uint64
	SnapshotInterval  time.Duration
	TrailingLogs      uint64

	// ApplyTimeout bounds how long a proposal may wait to enter raft's
	// queue when the caller's context has no deadline (default 10 s).
	ApplyTimeout time.Duration
	// LeaderWait is how long a proposal waits for a leader to be known
	// before failing with ErrNoLeader (default 5 s, never past its ctx).
	LeaderWait time.Duration

	// TransportTimeout is the I/O deadline of each raft RPC and the timeout
	// of each raft dial (default 1 s; raft's examples use 10 s). A request
	// lost in a partition holds the follower's replication until this
	// deadline or TCP's next retransmission, whichever is first: a follower
	// healed from a partition waits up to this long (plus raft's retry
	// backoff) for entries again (BenchmarkHealToApply: max 0.8 s at 1 s,
	// 1.5 s at 2 s). It must exceed the longest a follower takes to store a
	// batch of MaxAppendEntries; an RPC that takes longer fails and is sent
	// again. An InstallSnapshot gets more, in proportion to its size.
	TransportTimeout time.Duration
	// ShutdownTimeout bounds Close (default 10 s): the hand-off of
	// leadership and the RunOnLeader functions get up to half of it, raft's
	// shutdown the rest. A node that cannot stop within it logs what it was
	// waiting for and Close returns ErrShutdownTimeout.
	ShutdownTimeout time.Duration
	// StallTimeout is how long replication may make no progress while the
	// peers are in contact before the stall check reports it (default 5 s).
	// See NodeStats.ReplicationStalled.
	StallTimeout time.Duration

	// WrapStream, when set, wraps the raft stream layer before the
	// transport uses it. Tests only: it is how they inject network faults
	// between nodes.
	WrapStream func(raft.StreamLayer) raft.StreamLayer

	// NoSync skips fsync in raft.db and state.db. Tests only: a crash can
	// lose acknowledged writes.
	NoSync bool

	// AuditKey keys the links of the audit chain (fsm.Options.AuditKey):
	// the same on every node of a cluster, derived from the KEK. Empty:
	// plain SHA-256 links. Never logged.
	AuditKey []byte
}

// withDefaults returns a copy of c with every zero tuning field set.
func (c Config) withDefaults() Config {
	d := raft.DefaultConfig()
	if c.HeartbeatTimeout == 0 {
		c.HeartbeatTimeout = d.HeartbeatTimeout
	}
	if c.ElectionTimeout == 0 {
		c.ElectionTimeout = d.ElectionTimeout
	}
	if c.LeaderLeaseTimeout == 0 {
		c.LeaderLeaseTimeout = min(d.LeaderLeaseTimeout, c.HeartbeatTimeout)
	}
	if c.CommitTimeout == 0 {
		c.CommitTimeout = DefaultCommitTimeout
	}
	if c.MaxAppendEntries == 0 {
		c.MaxAppendEntries = DefaultMaxAppendEntries
	}
	if c.SnapshotThreshold == 0 {
		c.SnapshotThreshold = d.SnapshotThreshold
	}
	if c.SnapshotInterval == 0 {
		c.SnapshotInterval = d.SnapshotInterval
	}
	if c.TrailingLogs == 0 {
		c.TrailingLogs = d.TrailingLogs
	}
	if c.JoinTimeout == 0 {
		c.JoinTimeout = DefaultJoinTimeout
	}
	if c.ApplyTimeout == 0 {
		c.ApplyTimeout = DefaultApplyTimeout
	}
	if c.LeaderWait == 0 {
		c.LeaderWait = DefaultLeaderWait
	}
	if c.TransportTimeout == 0 {
		c.TransportTimeout = DefaultTransportTimeout
	}
	if c.ShutdownTimeout == 0 {
		c.ShutdownTimeout = DefaultShutdownTimeout
	}
	if c.StallTimeout == 0 {
		c.StallTimeout = DefaultStallTimeout
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}

// Validate reports the first problem with c, after defaults are applied.
func (c Config) Validate() error {
	c = c.withDefaults()
	if err := fsm.ValidID("node_id", c.NodeID); err != nil {
		return fmt.Errorf("node: invalid NodeID: %w", err)
	}
	if c.DataDir == "" {
		return errors.New("node: DataDir is required")
	}
	if err := validHostPort("RaftAddr", c.RaftAddr); err != nil {
		return err
	}
	if c.RaftAdvertise != "" {
		if err := validHostPort("RaftAdvertise", c.RaftAdvertise); err != nil {
			return err
		}
	}
	if err := validHostPort("APIAddr", c.APIAddr); err != nil {
		return err
	}
	if c.Sealer == nil {
		return errors.New("node: Sealer is required: the cluster CA's key is sealed under the key-encryption key (--kek-file)")
	}
	for _, h := range c.TLSHosts {
		if err := validTLSHost(h); err != nil {
			return err
		}
	}
	if c.RestoreFrom != "" && len(c.JoinAddrs) > 0 {
		return errors.New("node: RestoreFrom and JoinAddrs are mutually exclusive: restore one node from the snapshot, join the others to it")
	}
	if c.Bootstrap && len(c.JoinAddrs) > 0 {
		return errors.New("node: Bootstrap and JoinAddrs are mutually exclusive: bootstrap one node, join the others to it")
	}
	for _, a := range c.JoinAddrs {
		if strings.TrimSpace(a) == "" {
			return errors.New("node: JoinAddrs holds an empty address")
		}
		if hp := strings.TrimPrefix(a, "https://"); strings.Contains(hp, "://") {
			return fmt.Errorf("node: join address %q: nodes speak HTTPS only; give host:port (or https://host:port)", a)
		} else if _, _, err := net.SplitHostPort(strings.TrimRight(hp, "/")); err != nil {
			return fmt.Errorf("node: join address %q is not host:port: %w", a, err)
		}
	}
	if c.JoinToken != "" {
		if _, err := clusterca.ParseJoinToken(c.JoinToken); err != nil {
			return fmt.Errorf("node: JoinToken: %w", err)
		}
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"TransportTimeout", c.TransportTimeout}, {"ShutdownTimeout", c.ShutdownTimeout}, {"StallTimeout", c.StallTimeout}} {
		if d.v < 0 {
			return fmt.Errorf("node: %s %s must be positive (zero means the default)", d.name, d.v)
		}
	}
	if c.ShutdownTimeout <= 2*c.TransportTimeout {
		// Raft's shutdown waits for a dial or an RPC in flight.
		return fmt.Errorf("node: ShutdownTimeout %s must be more than twice TransportTimeout %s: raft's shutdown waits for an RPC in flight", c.ShutdownTimeout, c.TransportTimeout)
	}
	rc := c.raftConfig()
	if err := raft.ValidateConfig(rc); err != nil {
		return fmt.Errorf("node: raft settings: %w", err)
	}
	return nil
}

// validTLSHost checks a name for a node certificate: an IP address or a
// DNS name.
func validTLSHost(h string) error {
	if net.ParseIP(h) != nil {
		return nil
	}
	if h == "" || len(h) > 253 {
		return fmt.Errorf("node: TLS host %q must be an IP address or a DNS name", h)
	}
	for _, label := range strings.Split(strings.TrimPrefix(h, "*."), ".") {
		if label == "" || len(label) > 63 {
			return fmt.Errorf("node: TLS host %q must be an IP address or a DNS name", h)
		}
		for _, r := range label {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-') {
				return fmt.Errorf("node: TLS host %q must be an IP address or a DNS name (letters, digits, '-' and '.')", h)
			}
		}
	}
	return nil
}

func validHostPort(field, addr string) error {
	if addr == "" {
		return fmt.Errorf("node: %s is required", field)
	}
	if _, _, err := net.SplitHostPort(addr); err != nil {
		return fmt.Errorf("node: %s %q is not host:port: %w", field, addr, err)
	}
	return nil
}

// raftConfig translates c (with defaults) into raft's configuration.
func (c Config) raftConfig() *raft.Config {
	rc := raft.DefaultConfig()
	rc.LocalID = raft.ServerID(c.NodeID)
	rc.HeartbeatTimeout = c.HeartbeatTimeout
	rc.ElectionTimeout = c.ElectionTimeout
	rc.LeaderLeaseTimeout = c.LeaderLeaseTimeout
	rc.CommitTimeout = c.CommitTimeout
	rc.MaxAppendEntries = c.MaxAppendEntries
	rc.SnapshotThreshold = c.SnapshotThreshold
	rc.SnapshotInterval = c.SnapshotInterval
	rc.TrailingLogs = c.TrailingLogs
	// The fsm keeps its state in state.db across restarts and skips
	// entries at or below its applied index, so a restart must not wipe it
	// with the last snapshot.
	rc.NoSnapshotRestoreOnStart = true
	// Hand raft's queued applies to the fsm as one batch: one bbolt commit.
	rc.BatchApplyCh = true
	rc.Logger = newHCLog(c.Logger, "raft")
	return rc
}

// wrapStream applies WrapStream, if set, to the stream layer s.
func (c Config) wrapStream(s raft.StreamLayer) raft.StreamLayer {
	if c.WrapStream == nil {
		return s
	}
	return c.WrapStream(s)
}
