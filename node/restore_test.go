package node_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	bolt "go.etcd.io/bbolt"

	"github.com/certctl/certctl/fsm"
	"github.com/certctl/certctl/node"
	"github.com/certctl/certctl/node/backup"
	"github.com/certctl/certctl/node/nodetest"
)

// identityTables are the tables that describe the cluster itself; a restore
// keeps the running cluster's (and audit_events grows by the restore's own
// writes afterwards, so it is compared separately).
var identityTables = map[string]bool{"members": true, "join_tokens": true, "node_cert_revocations": true, "meta": true}

// saveSnapshot writes m's state as a snapshot file and returns its path and
// the state's hash per table at that moment.
func saveSnapshot(t *testing.T, m *nodetest.Member, dir string) (string, map[string]string) {
	t.Helper()
	p, err := backup.Prepare(m.Node().FSM(), dir, m.ID(), time.Now())
	require.NoError(t, err)
	defer p.Close()
	path := filepath.Join(dir, fmt.Sprintf("snap-%d.snap", time.Now().UnixNano()))
	f, err := os.Create(path)
	require.NoError(t, err)
	_, err = p.WriteTo(f)
	require.NoError(t, err)
	require.NoError(t, f.Close())
	// The hash of exactly what the file holds: its body, opened as a state.
	_, _, err = backup.Inspect(path)
	require.NoError(t, err)
	return path, bodyHash(t, path)
}

// bodyHash returns the hash per table of the state a snapshot file holds.
func bodyHash(t *testing.T, path string) map[string]string {
	t.Helper()
	in, err := os.Open(path)
	require.NoError(t, err)
	defer in.Close()
	_, body, err := backup.Read(in)
	require.NoError(t, err)
	dir := t.TempDir()
	out, err := os.Create(filepath.Join(dir, "state.db"))
	require.NoError(t, err)
	_, err = out.ReadFrom(body)
	require.NoError(t, err)
	require.NoError(t, out.Close())
	f, err := fsm.Open(filepath.Join(dir, "state.db"), fsm.Options{})
	require.NoError(t, err)
	defer f.Close()
	h, err := f.StateHash()
	require.NoError(t, err)
	return h
}

func stateHash(t *testing.T, m *nodetest.Member) map[string]string {
	t.Helper()
	h, err := m.Node().FSM().StateHash()
	require.NoError(t, err)
	return h
}

func proposeTeams(t *testing.T, m *nodetest.Member, prefix string, n int) {
	t.Helper()
	for i := range n {
		id := fmt.Sprintf("t-%s-%d", prefix, i)
		_, err := m.Node().Propose(testCtx(t), createTeam(t, id, "req-"+id))
		require.NoError(t, err)
	}
}

// TestNode_RestoreSnapshot restores a snapshot into a running 3-node cluster:
// every node then holds the snapshot's tables (those written after it are
// gone), keeps the cluster's own identity and membership, and takes writes.
func TestNode_RestoreSnapshot(t *testing.T) {
	c := nodetest.NewCluster(t, 3)
	leader := c.Leader(t)
	proposeTeams(t, leader, "before", 5)
	path, saved := saveSnapshot(t, leader, t.TempDir())
	proposeTeams(t, leader, "after", 5)
	membersBefore := stateHash(t, leader)["members"]
	clusterID, err := leader.Node().FSM().ClusterID()
	require.NoError(t, err)

	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	res, err := leader.Node().Restore(testCtx(t), f, node.RestoreOptions{})
	require.NoError(t, err)
	assert.Greater(t, res.Index, res.Header.Index)

	for _, m := range c.Members {
		nodetest.WaitFor(t, m.ID()+" to install the restored state", func() bool { return !hasTeam(m, "t-after-0") })
		got := stateHash(t, m)
		for table, h := range saved {
			if identityTables[table] || table == "audit_events" || table == "idx_audit_by_time" || table == "counts" {
				continue
			}
			assert.Equal(t, h, got[table], "%s: table %s differs from the snapshot's", m.ID(), table)
		}
		assert.Equal(t, membersBefore, got["members"], "%s: the cluster's members were not kept", m.ID())
		id, err := m.Node().FSM().ClusterID()
		require.NoError(t, err)
		assert.Equal(t, clusterID, id)
		assert.True(t, hasTeam(m, "t-before-4"))
		assert.False(t, hasTeam(m, "t-after-0"), "%s still holds a team written after the snapshot", m.ID())
	}
	// The cluster goes on: a write through a follower commits everywhere.
	fol := c.Followers()[0]
	_, err = fol.Node().Propose(testCtx(t), createTeam(t, "t-later", "req-later"))
	require.NoError(t, err)
	for _, m := range c.Members {
		nodetest.WaitFor(t, m.ID()+" to hold the write after the restore", func() bool { return hasTeam(m, "t-later") })
	}
	// A restart of a follower keeps the restored state and rejoins.
	require.NoError(t, fol.Stop())
	require.NoError(t, fol.Start(testCtx(t)))
	nodetest.WaitFor(t, "restarted follower to hold the restored state", func() bool {
		return fol.Node() != nil && hasTeam(fol, "t-later") && !hasTeam(fol, "t-after-0")
	})
	c.WaitConverged(t)
}

// TestNode_RestoreRefused feeds the leader broken snapshot files: each is
// refused by the check named, with a message saying what failed, and no
// node's state changes.
func TestNode_RestoreRefused(t *testing.T) {
	c := nodetest.NewCluster(t, 3)
	leader := c.Leader(t)
	proposeTeams(t, leader, "x", 3)
	dir := t.TempDir()
	path, _ := saveSnapshot(t, leader, dir)
	good, err := os.ReadFile(path)
	require.NoError(t, err)
	headerEnd := bytes.IndexByte(good[bytes.IndexByte(good, '\n')+1:], '\n') + bytes.IndexByte(good, '\n') + 2

	// A snapshot of another cluster: a single node of its own.
	other := nodetest.NewCluster(t, 1)
	otherPath, _ := saveSnapshot(t, other.Members[0], dir)
	otherFile, err := os.ReadFile(otherPath)
	require.NoError(t, err)
	otherID, err := other.Members[0].Node().FSM().ClusterID()
	require.NoError(t, err)

	// Files whose checksum is right but whose body is not: a record that
	// does not decode, a stored schema newer than this binary's.
	badRecord := rewriteBody(t, good, func(tx *bolt.Tx) error {
		return tx.Bucket([]byte("managed_certificates")).Put([]byte("mc-broken"), []byte("{not json"))
	})
	newerSchema := rewriteBody(t, good, func(tx *bolt.Tx) error {
		v := make([]byte, 8)
		binary.BigEndian.PutUint64(v, 999)
		return tx.Bucket([]byte("meta")).Put([]byte("schema_version"), v)
	})

	flipped := bytes.Clone(good)
	flipped[headerEnd+(len(good)-headerEnd)/2] ^= 0x01
	cases := []struct {
		name  string
		file  []byte
		check string
		says  string
	}{
		{"one byte flipped", flipped, node.RestoreCheckChecksum, "checksum"},
		{"truncated", good[:headerEnd+(len(good)-headerEnd)/3], node.RestoreCheckChecksum, "truncated"},
		{"unknown format version", append([]byte("certctl-snapshot 9\n"), good[bytes.IndexByte(good, '\n')+1:]...), node.RestoreCheckFormat, "format version 9"},
		{"another cluster", otherFile, node.RestoreCheckClusterID, otherID},
		{"not a snapshot", []byte("hello\n"), node.RestoreCheckFormat, "not a certctl snapshot"},
		{"a record that does not decode", badRecord, node.RestoreCheckRecords, "mc-broken"},
		{"a newer stored schema", newerSchema, node.RestoreCheckSchema, "version 999"},
	}
	before := map[string]map[string]string{}
	for _, m := range c.Members {
		before[m.ID()] = stateHash(t, m)
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := leader.Node().Restore(testCtx(t), bytes.NewReader(tc.file), node.RestoreOptions{})
			var re *node.SnapshotRefusedError
			require.True(t, errors.As(err, &re), "want a refusal, got %v", err)
			assert.Equal(t, tc.check, re.Check)
			assert.Contains(t, err.Error(), tc.says)
			info := node.DescribeError(err)
			assert.Equal(t, node.CodeSnapshotRefused, info.Code)
			assert.Equal(t, 422, info.Status)
			assert.Contains(t, info.Message, tc.check+" check failed")
		})
	}
	// The cluster is untouched: a barrier write, then every node's state
	// is what it was (but for the barrier's own team).
	for _, m := range c.Members {
		assert.Equal(t, before[m.ID()], stateHash(t, m), "%s: state changed by a refused restore", m.ID())
	}
	entries, err := os.ReadDir(leader.Config.DataDir)
	require.NoError(t, err)
	for _, e := range entries {
		assert.NotContains(t, e.Name(), ".restore-", "a spooled snapshot was left behind")
	}

	// The other cluster's snapshot goes in when asked to: its data, this
	// cluster's identity.
	clusterID, err := leader.Node().FSM().ClusterID()
	require.NoError(t, err)
	_, err = leader.Node().Restore(testCtx(t), bytes.NewReader(otherFile), node.RestoreOptions{AllowOtherCluster: true})
	require.NoError(t, err)
	id, err := leader.Node().FSM().ClusterID()
	require.NoError(t, err)
	assert.Equal(t, clusterID, id)
	assert.False(t, hasTeam(leader, "t-x-0"))
	_, err = leader.Node().Propose(testCtx(t), createTeam(t, "t-y", "req-y"))
	require.NoError(t, err)
}

// TestNode_RestoreOnFollowerRefused: only the leader restores.
func TestNode_RestoreOnFollowerRefused(t *testing.T) {
	c := nodetest.NewCluster(t, 3)
	_, err := c.Followers()[0].Node().Restore(context.Background(), bytes.NewReader(nil), node.RestoreOptions{})
	assert.ErrorIs(t, err, node.ErrNotLeader)
}

// TestNode_RestoreFrom starts a new cluster of one node from a snapshot of a
// 3-node cluster, then joins a fresh node to it: both hold the saved tables,
// the saved cluster's id and CA, and take writes; the saved cluster's other
// members are gone and their node certificates revoked.
func TestNode_RestoreFrom(t *testing.T) {
	c := nodetest.NewCluster(t, 3)
	leader := c.Leader(t)
	proposeTeams(t, leader, "saved", 5)
	path, saved := saveSnapshot(t, leader, t.TempDir())
	oldCA, err := leader.Node().FSM().ClusterCA()
	require.NoError(t, err)
	n2, err := leader.Node().FSM().Member("n2")
	require.NoError(t, err)
	c.Close()

	cfg := nodetest.Config(t, "n1")
	cfg.RestoreFrom = path
	m := nodetest.NewMember(t, cfg)
	require.NoError(t, m.Start(testCtx(t)))
	t.Cleanup(func() { _ = m.Stop() })
	fresh := &nodetest.Cluster{Members: []*nodetest.Member{m}}
	nodetest.WaitFor(t, "restored node to lead", func() bool { return m.Node().IsLeader() })

	got := stateHash(t, m)
	for _, table := range []string{"teams", "managed_certificates", "jobs", "agents", "api_keys"} {
		assert.Equal(t, saved[table], got[table], "table %s", table)
	}
	ca, err := m.Node().FSM().ClusterCA()
	require.NoError(t, err)
	assert.Equal(t, oldCA.Fingerprint, ca.Fingerprint)
	_, err = m.Node().FSM().Member("n2")
	assert.ErrorIs(t, err, fsm.ErrNotFound)
	for _, s := range n2.CertSerials {
		revoked, err := m.Node().FSM().NodeCertRevoked(s)
		require.NoError(t, err)
		assert.True(t, revoked, "n2's old certificate %s", s)
	}

	cfg2 := nodetest.Config(t, "n4")
	cfg2.JoinAddrs = []string{m.Config.APIAddr}
	cfg2.JoinToken = fresh.JoinToken(t)
	m2 := nodetest.NewMember(t, cfg2)
	require.NoError(t, m2.Start(testCtx(t)))
	t.Cleanup(func() { _ = m2.Stop() })
	fresh.Members = append(fresh.Members, m2)
	fresh.WaitConverged(t)
	_, err = m2.Node().Propose(testCtx(t), createTeam(t, "t-new", "req-new"))
	require.NoError(t, err)
	for _, mm := range fresh.Members {
		nodetest.WaitFor(t, mm.ID()+" to hold the saved and the new teams", func() bool { return hasTeam(mm, "t-new") && hasTeam(mm, "t-saved-4") })
	}
	assert.Equal(t, stateHash(t, m)["teams"], stateHash(t, m2)["teams"])

	// A restart with the same flag does not restore again.
	require.NoError(t, m.Stop())
	require.NoError(t, m.Start(testCtx(t)))
	nodetest.WaitFor(t, "restarted node to keep its writes", func() bool { return m.Node() != nil && hasTeam(m, "t-new") })
}

// rewriteBody returns the snapshot file with its body changed by fn and its
// header's size and checksum made to match, so only the body's content is
// wrong.
func rewriteBody(t *testing.T, file []byte, fn func(*bolt.Tx) error) []byte {
	t.Helper()
	h, body, err := backup.Read(bytes.NewReader(file))
	require.NoError(t, err)
	path := filepath.Join(t.TempDir(), "body.db")
	out, err := os.Create(path)
	require.NoError(t, err)
	_, err = out.ReadFrom(body)
	require.NoError(t, err)
	require.NoError(t, out.Close())
	db, err := bolt.Open(path, 0o600, nil)
	require.NoError(t, err)
	require.NoError(t, db.Update(fn))
	require.NoError(t, db.Close())
	raw, err := os.ReadFile(path)
	require.NoError(t, err)
	sum := sha256.Sum256(raw)
	h.BodySize, h.BodySHA256 = int64(len(raw)), hex.EncodeToString(sum[:])
	var buf bytes.Buffer
	require.NoError(t, backup.Write(&buf, *h, bytes.NewReader(raw)))
	return buf.Bytes()
}
