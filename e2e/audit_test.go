package e2e

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	bolt "go.etcd.io/bbolt"

	"github.com/certctl/certctl/fsm"
)

// TestAudit_VerifyClusterNamesANodeEditedOffline edits an audit event in a
// stopped node's state file and recomputes the chain after it as someone
// without the KEK can (plain SHA-256 links), then restarts the node: its own
// audit verify fails, and audit verify --cluster names it.
func TestAudit_VerifyClusterNamesANodeEditedOffline(t *testing.T) {
	skipShort(t)
	c := NewCluster(t, certctlBin)
	c.Start(3)
	leader := c.WaitLeader()
	c.Seed(leader)
	server := strings.Join(URLs(c.Nodes()), ",")
	cli := func(args ...string) cliRun {
		return runCLI(t, append([]string{"--server", server, "--ca-file", c.CAFile(), "--api-key", AdminKey}, args...)...)
	}

	victim := c.Followers(leader)[0]
	ctx := context.Background()
	head, err := c.APIClient(AdminKey, leader).AuditHead(ctx, 0)
	require.NoError(t, err)
	require.Greater(t, head.Seq, uint64(3))
	c.Wait(victim.ID+" to apply the seed", func(ctx context.Context) error {
		_, err := c.APIClient(AdminKey, victim).AuditHead(ctx, head.AtIndex)
		return err
	})
	r := cli("audit", "verify", "--cluster").requireCode(t, 0)
	for _, n := range c.Nodes() {
		assert.Regexp(t, `(?m)^`+n.ID+`\s.*\sintact\s+agrees$`, r.stdout)
	}

	c.Stop(victim)
	rewriteAuditWithoutKey(t, filepath.Join(victim.DataDir, "state.db"), 3)
	c.Restart(victim)

	r = runCLI(t, "--server", victim.URL(), "--ca-file", c.CAFile(), "--api-key", AdminKey, "audit", "verify").requireCode(t, 1)
	assert.Regexp(t, `(?m)^First break:\s+event 3 `, r.stdout)
	assert.Contains(t, r.stderr, "plain SHA-256 link after the chain became keyed")

	r = cli("audit", "verify", "--cluster").requireCode(t, 1)
	assert.Contains(t, r.stderr, "audit chains do not agree at raft index")
	assert.Contains(t, r.stderr, ": "+victim.ID+" (DIFFERS, BROKEN)")
	for _, n := range c.Nodes() {
		if n != victim {
			assert.Regexp(t, `(?m)^`+n.ID+`\s.*\sintact\s+agrees$`, r.stdout)
		}
	}
	assert.Regexp(t, `(?m)^`+victim.ID+`\s.*\sbroken at event 3\s+DIFFERS, BROKEN$`, r.stdout)
}

// rewriteAuditWithoutKey changes the details of audit event from in the state
// file at path and recomputes every link from it to the end, and the stored
// head, as plain SHA-256 links: all that someone with the file but without
// the KEK can do.
func rewriteAuditWithoutKey(t *testing.T, path string, from uint64) {
	t.Helper()
	db, err := bolt.Open(path, 0o600, nil)
	require.NoError(t, err)
	defer func() { require.NoError(t, db.Close()) }()
	key := func(seq uint64) []byte { return binary.BigEndian.AppendUint64(nil, seq) }
	require.NoError(t, db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte("audit_events"))
		var prev fsm.AuditEvent
		require.NoError(t, json.Unmarshal(b.Get(key(from-1)), &prev))
		hash := prev.Hash
		c := b.Cursor()
		for k, v := c.Seek(key(from)); k != nil; k, v = c.Next() {
			var ev fsm.AuditEvent
			require.NoError(t, json.Unmarshal(v, &ev))
			if ev.Seq == from {
				ev.Details = json.RawMessage(`{"edited":"offline"}`)
			}
			ev.PrevHash, ev.Chain, ev.Hash = hash, "", ""
			unsealed, err := json.Marshal(&ev)
			require.NoError(t, err)
			sum := sha256.Sum256(unsealed)
			ev.Hash = hex.EncodeToString(sum[:])
			hash = ev.Hash
			raw, err := json.Marshal(&ev)
			require.NoError(t, err)
			require.NoError(t, b.Put(bytes.Clone(k), raw))
		}
		return tx.Bucket([]byte("meta")).Put([]byte("audit_head"), []byte(hash))
	}))
}
