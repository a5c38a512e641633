package node_test

import (
	"bytes"
	"crypto/sha256"
	"crypto/tls"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	bolt "go.etcd.io/bbolt"

	"github.com/certctl/certctl/fsm"
	"github.com/certctl/certctl/node"
	"github.com/certctl/certctl/node/clusterca"
	"github.com/certctl/certctl/node/nodetest"
)

func b64(der []byte) string { return base64.StdEncoding.EncodeToString(der) }

// raftHandshake dials addr with cfg and exchanges a byte, which in TLS 1.3
// is when the server's verdict on the client's certificate arrives.
func raftHandshake(t *testing.T, addr string, cfg *tls.Config) error {
	t.Helper()
	cfg = cfg.Clone()
	cfg.InsecureSkipVerify = true // the server's certificate is not what is tested here
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 3 * time.Second}, "tcp", addr, cfg)
	if err != nil {
		return err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(3 * time.Second))
	if _, err := conn.Write([]byte{0}); err != nil {
		return err
	}
	_, err = conn.Read(make([]byte, 1))
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		return nil // accepted: raft waits for the rest of the RPC
	}
	return err
}

// hostileStream is a raft stream layer that dials with an attacker's TLS
// configuration (or none).
type hostileStream struct {
	tls *tls.Config
}

func (h hostileStream) Dial(addr raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	if h.tls == nil {
		return net.DialTimeout("tcp", string(addr), timeout)
	}
	return tls.DialWithDialer(&net.Dialer{Timeout: timeout}, "tcp", string(addr), h.tls)
}
func (hostileStream) Accept() (net.Conn, error) { select {} }
func (hostileStream) Close() error              { return nil }
func (hostileStream) Addr() net.Addr            { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1} }

// TestNode_RaftPortRefusesStrangers speaks raft's wire protocol to a
// follower's raft port as a host on the network would, trying to append a
// CreateAPIKey with role admin: without a certificate, and with a
// certificate of another cluster's CA. The handshake refuses both; the
// follower's log, state and audit head do not move.
func TestNode_RaftPortRefusesStrangers(t *testing.T) {
	c := nodetest.NewCluster(t, 3)
	follower := c.Followers()[0]
	leader := c.Leader(t)
	f := follower.Node().FSM()
	before := f.AppliedIndex()
	headBefore, err := f.VerifyAudit()
	require.NoError(t, err)

	// Another cluster's CA and a node certificate from it, with the name of
	// a real member.
	otherCA, _, err := clusterca.New("other", time.Now())
	require.NoError(t, err)
	key, err := clusterca.NewNodeKey()
	require.NoError(t, err)
	csr, err := clusterca.NodeCSR(key, leader.ID())
	require.NoError(t, err)
	forged, err := otherCA.SignNode(csr, leader.ID(), []string{"127.0.0.1"}, time.Now())
	require.NoError(t, err)
	forgedPair := tls.Certificate{Certificate: [][]byte{forged.Raw, otherCA.Cert.Raw}, PrivateKey: key, Leaf: forged}

	cmd := command(t, &fsm.CreateAPIKey{Key: fsm.APIKey{ID: "key-evil", Name: "evil", Role: fsm.RoleAdmin, Hash: hash("evil"), Prefix: "evil"}})
	data, err := cmd.Encode()
	require.NoError(t, err)
	args := &raft.AppendEntriesRequest{
		RPCHeader:         raft.RPCHeader{ID: []byte(leader.ID()), Addr: []byte(leader.Node().RaftAddr())},
		Term:              1 << 40,
		PrevLogEntry:      f.AppliedIndex(),
		PrevLogTerm:       1,
		Entries:           []*raft.Log{{Index: f.AppliedIndex() + 1, Term: 1 << 40, Type: raft.LogCommand, Data: data}},
		LeaderCommitIndex: f.AppliedIndex() + 1,
	}
	for name, cfg := range map[string]*tls.Config{
		"plain TCP":            nil,
		"TLS without a cert":   {InsecureSkipVerify: true},
		"another cluster's CA": {InsecureSkipVerify: true, Certificates: []tls.Certificate{forgedPair}},
	} {
		t.Run(name, func(t *testing.T) {
			trans := raft.NewNetworkTransport(hostileStream{tls: cfg}, 1, 2*time.Second, nil)
			defer trans.Close()
			var resp raft.AppendEntriesResponse
			err := trans.AppendEntries(raft.ServerID(follower.ID()), raft.ServerAddress(follower.Node().RaftAddr()), args, &resp)
			require.Error(t, err, "the append must not be answered")
			assert.False(t, resp.Success)
		})
	}
	require.Error(t, raftHandshake(t, follower.Node().RaftAddr(), &tls.Config{Certificates: []tls.Certificate{forgedPair}}))

	// The cluster goes on; nothing of the attempt is anywhere.
	proposeOnLeader(t, c, createTeam(t, "t-after-attack", "req-after-attack"))
	nodetest.WaitFor(t, "the follower applies the next write", func() bool { return f.AppliedIndex() > before })
	_, err = f.APIKey("key-evil")
	require.ErrorIs(t, err, fsm.ErrNotFound)
	nodetest.WaitFor(t, "the follower applies the team", func() bool { return hasTeam(follower, "t-after-attack") })
	headAfter, err := f.VerifyAudit()
	require.NoError(t, err)
	assert.True(t, headAfter.Valid)
	assert.Greater(t, headAfter.Events, headBefore.Events)
	nodetest.WaitFor(t, "the follower's audit head equals the leader's", func() bool {
		h, _ := f.VerifyAudit()
		lh, _ := leader.Node().FSM().VerifyAudit()
		return h.Head == lh.Head && lh.Head != ""
	})
}

func hash(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// A node renews its own certificate once a third of its lifetime is left:
// it signs a new one with the replicated cluster CA, records its serial,
// and goes on talking to the others with it.
func TestNode_RenewsItsCertificate(t *testing.T) {
	var offset atomic.Int64
	clock := func() time.Time { return time.Now().Add(time.Duration(offset.Load())) }
	c := nodetest.NewCluster(t, 3, nodetest.WithConfig(func(cfg *node.Config) { cfg.Now = clock }))
	ctx := testCtx(t)
	f := c.Followers()[0]
	before := f.Node().NodeCertificate()

	require.NoError(t, f.Node().RenewCertIfDue(ctx))
	assert.Equal(t, before.SerialNumber, f.Node().NodeCertificate().SerialNumber, "not due yet")

	offset.Store(int64(clusterca.NodeLifetime * 2 / 3))
	require.NoError(t, f.Node().RenewCertIfDue(ctx))
	after := f.Node().NodeCertificate()
	require.NotEqual(t, before.SerialNumber, after.SerialNumber)
	assert.True(t, after.NotAfter.After(before.NotAfter))
	rec, err := c.Leader(t).Node().FSM().Member(f.ID())
	require.NoError(t, err)
	assert.Equal(t, clusterca.Serial(after), rec.CertSerials[0], "the new serial is recorded first")
	assert.Contains(t, rec.CertSerials, clusterca.Serial(before), "the old one stays known until it expires")

	// On disk too, for the next start; and the cluster takes it.
	_, certFile, _ := node.TLSFiles(f.Config.DataDir)
	onDisk, err := os.ReadFile(certFile)
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(string(onDisk), string(clusterca.EncodeCert(after))), "the renewed certificate, then its key")
	require.NoError(t, raftHandshake(t, c.Leader(t).Node().RaftAddr(), nodetest.ClientTLS(t, f.Config.DataDir, true)))
	_, err = f.Node().Propose(ctx, createTeam(t, "t-after-renewal", ""))
	require.NoError(t, err)
}

// A node that was down past its certificate's expiry signs itself a new one
// on its own (no peer would take the expired one) and rejoins the cluster.
func TestNode_RenewsAnExpiredCertificateAndRejoins(t *testing.T) {
	var offset atomic.Int64
	clock := func() time.Time { return time.Now().Add(time.Duration(offset.Load())) }
	c := nodetest.NewCluster(t, 3, nodetest.WithConfig(func(cfg *node.Config) { cfg.Now = clock }))
	ctx := testCtx(t)
	f := c.Followers()[0]
	before := f.Node().NodeCertificate()

	// The others renew on time; f, as if it were down, does not.
	offset.Store(int64(clusterca.NodeLifetime * 2 / 3))
	for _, m := range c.Members {
		if m != f {
			require.NoError(t, m.Node().RenewCertIfDue(ctx))
		}
	}
	offset.Store(int64(clusterca.NodeLifetime + 24*time.Hour))
	require.NoError(t, f.Node().RenewCertIfDue(ctx))
	after := f.Node().NodeCertificate()
	require.NotEqual(t, before.SerialNumber, after.SerialNumber)
	assert.True(t, clock().Before(after.NotAfter))
	nodetest.WaitFor(t, "the new serial recorded", func() bool {
		rec, err := c.Leader(t).Node().FSM().Member(f.ID())
		return err == nil && len(rec.CertSerials) > 0 && rec.CertSerials[0] == clusterca.Serial(after)
	})
}

// The cluster CA's key exists only sealed: no byte of it is in any file of
// any node (state, raft log, snapshots, tls/), after a snapshot too.
func TestNode_ClusterCAKeyNeverInPlaintext(t *testing.T) {
	c := nodetest.NewCluster(t, 3, nodetest.WithConfig(func(cfg *node.Config) {
		cfg.SnapshotThreshold, cfg.TrailingLogs, cfg.SnapshotInterval = 8, 4, 50*time.Millisecond
	}))
	for i := range 20 {
		proposeOnLeader(t, c, createTeam(t, fmt.Sprintf("t-snap-%d", i), fmt.Sprintf("req-snap-%d", i)))
	}
	leader := c.Leader(t)
	nodetest.WaitFor(t, "a snapshot", func() bool { return snapshotCount(leader.Config.DataDir) > 0 })
	scalar, err := leader.Node().SigningCAKeyBytes()
	require.NoError(t, err)
	require.Len(t, scalar, 32)
	searched := 0
	for _, m := range c.Members {
		require.NoError(t, filepath.WalkDir(m.Config.DataDir, func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			searched++
			assert.False(t, bytes.Contains(data, scalar), "%s holds the cluster CA's key in the clear", p)
			return nil
		}))
	}
	assert.GreaterOrEqual(t, searched, 12, "state, raft log, snapshots and tls/ of every node")
}

// A cluster written by a certctl without TLS between nodes has raft state
// but no cluster CA and no tls/ in any data dir. Stopped, upgraded and
// started again, every node derives the same cluster CA from the shared
// key-encryption key and the cluster id, signs its own certificate, and the
// cluster carries on with its data; the first leader replicates the CA.
func TestNode_UpgradeFromAClusterWithoutTLS(t *testing.T) {
	c := nodetest.NewCluster(t, 3)
	ctx := testCtx(t)
	_, err := c.Leader(t).Node().Propose(ctx, createTeam(t, "t-before-upgrade", ""))
	require.NoError(t, err)
	for _, m := range c.Members {
		nodetest.WaitFor(t, "the team on "+m.ID(), func() bool { return hasTeam(m, "t-before-upgrade") })
	}
	oldCA := c.Members[0].Node().CAFingerprint()
	c.Close()

	// What an older build left: no tls/, no cluster CA in the state.
	for _, m := range c.Members {
		require.NoError(t, os.RemoveAll(filepath.Join(m.Config.DataDir, "tls")))
		db, err := bolt.Open(filepath.Join(m.Config.DataDir, "state.db"), 0o600, nil)
		require.NoError(t, err)
		require.NoError(t, db.Update(func(tx *bolt.Tx) error { return tx.Bucket([]byte("meta")).Delete([]byte("cluster_ca")) }))
		require.NoError(t, db.Close())
	}

	for _, m := range c.Members {
		require.NoError(t, m.Start(ctx), "restart %s", m.ID())
	}
	c.WaitConverged(t)
	derived := c.Members[0].Node().CAFingerprint()
	assert.NotEqual(t, oldCA, derived)
	for _, m := range c.Members {
		assert.Equal(t, derived, m.Node().CAFingerprint(), "%s derived the same CA", m.ID())
		assert.True(t, hasTeam(m, "t-before-upgrade"), "%s kept its data", m.ID())
	}
	_, err = c.Leader(t).Node().Propose(ctx, createTeam(t, "t-after-upgrade", ""))
	require.NoError(t, err)
	for _, m := range c.Members {
		nodetest.WaitFor(t, "the CA replicated to "+m.ID(), func() bool {
			ca, err := m.Node().FSM().ClusterCA()
			return err == nil && ca.Fingerprint == derived
		})
	}
	// And a new node joins it as usual.
	cfg := nodetest.Config(t, "n4")
	cfg.JoinAddrs = []string{c.Members[1].Config.APIAddr}
	cfg.JoinToken = c.JoinToken(t)
	m := nodetest.NewMember(t, cfg)
	require.NoError(t, m.Start(ctx))
	c.Members = append(c.Members, m)
	c.WaitConverged(t)
}
