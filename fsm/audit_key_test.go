package fsm_test

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	bolt "go.etcd.io/bbolt"

	"github.com/certctl/certctl/fsm"
	"github.com/certctl/certctl/fsm/fsmtest"
)

// hmacEvent computes a keyed link by hand: the HMAC-SHA256 under key of the
// event's JSON with its hash left empty.
func hmacEvent(ev fsm.AuditEvent, key []byte) string {
	ev.Hash = ""
	b, _ := json.Marshal(&ev)
	m := hmac.New(sha256.New, key)
	m.Write(b)
	return hex.EncodeToString(m.Sum(nil))
}

// writeChain applies n commands of one audit event each to the FSM at path,
// opened with opts and closed again, starting after the entries l already
// built; l is created when nil.
func writeChain(t *testing.T, path string, opts fsm.Options, l *fsmtest.Log, n int) *fsmtest.Log {
	t.Helper()
	f, err := fsm.Open(path, opts)
	require.NoError(t, err)
	if l == nil {
		l = fsmtest.NewLog(t)
	}
	for range n {
		fsmtest.ApplyBatch(t, f, l.Entry(&fsm.RegisterMember{Member: fsm.Member{NodeID: "n", RaftAddr: "r:1", APIAddr: l.Now.Format(time.RFC3339Nano)}}))
		l.Advance(time.Second)
	}
	require.NoError(t, f.Close())
	return l
}

// verifyFile opens the state file at path with opts and verifies its chain.
func verifyFile(t *testing.T, path string, opts fsm.Options) fsm.AuditVerification {
	t.Helper()
	f := fsmtest.OpenPath(t, path, opts)
	v, err := f.VerifyAudit()
	require.NoError(t, err)
	require.NoError(t, f.Close())
	return v
}

func auditKey(seq uint64) []byte { return binary.BigEndian.AppendUint64(nil, seq) }

// rewriteChain does what someone with the stopped node's state file, and
// bbolt, can do: change the details of event from, then recompute every link
// from it to the end with seal and store the new head, so that every event
// still names its predecessor's hash.
func rewriteChain(t *testing.T, path string, from uint64, seal func(ev *fsm.AuditEvent)) {
	t.Helper()
	rewriteChainUntil(t, path, from, 0, seal)
}

// rewriteChainUntil is rewriteChain stopping after event to (0: the last),
// leaving the events after it, and the stored head, as they are.
func rewriteChainUntil(t *testing.T, path string, from, to uint64, seal func(ev *fsm.AuditEvent)) {
	t.Helper()
	db, err := bolt.Open(path, 0o600, nil)
	require.NoError(t, err)
	defer func() { require.NoError(t, db.Close()) }()
	require.NoError(t, db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte("audit_events"))
		prev := ""
		if from > 1 {
			var ev fsm.AuditEvent
			require.NoError(t, json.Unmarshal(b.Get(auditKey(from-1)), &ev))
			prev = ev.Hash
		}
		c := b.Cursor()
		for k, v := c.Seek(auditKey(from)); k != nil && (to == 0 || binary.BigEndian.Uint64(k) <= to); k, v = c.Next() {
			var ev fsm.AuditEvent
			require.NoError(t, json.Unmarshal(v, &ev))
			if ev.Seq == from {
				ev.Details = json.RawMessage(`{"name":"someone else"}`)
			}
			ev.PrevHash = prev
			seal(&ev)
			prev = ev.Hash
			raw, err := json.Marshal(&ev)
			require.NoError(t, err)
			require.NoError(t, b.Put(bytes.Clone(k), raw))
		}
		if to != 0 {
			return nil
		}
		return tx.Bucket([]byte("meta")).Put([]byte("audit_head"), []byte(prev))
	}))
}

// Sealers an attacker may use to recompute links.
func plainKeepingMarker(ev *fsm.AuditEvent) { ev.Hash = hashEvent(*ev) }
func plainDroppingMarker(ev *fsm.AuditEvent) {
	ev.Chain = ""
	ev.Hash = hashEvent(*ev)
}
func keyedWith(key []byte) func(ev *fsm.AuditEvent) {
	return func(ev *fsm.AuditEvent) {
		ev.Chain = fsm.ChainHMAC
		ev.Hash = hmacEvent(*ev, key)
	}
}

func TestFSM_AuditChainIsKeyed(t *testing.T) {
	f := fsmtest.OpenKeyed(t)
	fsmtest.ApplyBatch(t, f, mixedLog(t, 5, 120)...)
	events := auditEvents(t, f)
	require.Greater(t, len(events), 20)

	for _, ev := range events {
		assert.Equal(t, fsm.ChainHMAC, ev.Chain, "event %d", ev.Seq)
		assert.Equal(t, hmacEvent(ev, fsmtest.AuditKey()), ev.Hash, "event %d", ev.Seq)
		assert.NotEqual(t, hashEvent(ev), ev.Hash, "event %d is not a plain SHA-256 link", ev.Seq)
	}
	v, err := f.VerifyAudit()
	require.NoError(t, err)
	assert.True(t, v.Valid, "%+v", v.Break)
	assert.True(t, v.Keyed)
	assert.Equal(t, uint64(1), v.KeyedFrom)
	assert.Zero(t, v.UnkeyedEvents)
	assert.Equal(t, uint64(len(events)), v.Events)
}

// TestFSM_VerifyAuditFindsAnOfflineRewrite edits an event in a stopped
// node's state file and recomputes the chain after it, as an attacker
// without the KEK would (plain SHA-256, or a key of their own): verify names
// the edited event. Only the cluster's own key makes a rewrite pass, and then
// the head differs from the other nodes' (audit verify --cluster).
func TestFSM_VerifyAuditFindsAnOfflineRewrite(t *testing.T) {
	const events = 20
	keyed := fsm.Options{NoSync: true, AuditKey: fsmtest.AuditKey()}
	cases := []struct {
		name    string
		from    uint64
		seal    func(ev *fsm.AuditEvent)
		seq     uint64
		because string
	}{
		{"plain SHA-256, keyed marker kept", 5, plainKeepingMarker, 5, "does not match the event's content under this cluster's audit key"},
		{"plain SHA-256, keyed marker dropped", 5, plainDroppingMarker, 5, "plain SHA-256 link after the chain became keyed at event 1"},
		{"whole chain as plain SHA-256", 1, plainDroppingMarker, events, "no keyed link"},
		{"another key", 5, keyedWith(bytes.Repeat([]byte{1}, 32)), 5, "does not match the event's content under this cluster's audit key"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "state.db")
			writeChain(t, path, keyed, nil, events)
			before := verifyFile(t, path, keyed)
			require.True(t, before.Valid, "%+v", before.Break)
			require.Equal(t, uint64(events), before.Events)

			rewriteChain(t, path, tc.from, tc.seal)
			v := verifyFile(t, path, keyed)

			assert.False(t, v.Valid)
			require.NotNil(t, v.Break)
			assert.Equal(t, tc.seq, v.Break.Seq)
			assert.Contains(t, v.Break.Reason, tc.because)
		})
	}

	t.Run("the cluster's key", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "state.db")
		writeChain(t, path, keyed, nil, events)
		before := fsmtest.OpenPath(t, path, keyed)
		headBefore, err := before.AuditHeadAt(0)
		require.NoError(t, err)
		require.NoError(t, before.Close())

		rewriteChain(t, path, 5, keyedWith(fsmtest.AuditKey()))
		f := fsmtest.OpenPath(t, path, keyed)
		v, err := f.VerifyAudit()
		require.NoError(t, err)
		assert.True(t, v.Valid, "whoever holds the KEK can rewrite the chain: %+v", v.Break)
		head, err := f.AuditHeadAt(headBefore.AtIndex)
		require.NoError(t, err)
		assert.Equal(t, headBefore.Seq, head.Seq)
		assert.NotEqual(t, headBefore.Hash, head.Hash, "but its head is no longer the other nodes'")
	})
}

// TestFSM_VerifyAuditAcrossTheUpgrade keeps the plain SHA-256 links written
// before the chain was keyed: they verify, and the first keyed link seals
// them, so an edit of them is found there.
func TestFSM_VerifyAuditAcrossTheUpgrade(t *testing.T) {
	plain := fsm.Options{NoSync: true}
	keyed := fsm.Options{NoSync: true, AuditKey: fsmtest.AuditKey()}
	upgraded := func(t *testing.T) string {
		path := filepath.Join(t.TempDir(), "state.db")
		l := writeChain(t, path, plain, nil, 10)
		writeChain(t, path, keyed, l, 5)
		return path
	}

	t.Run("old links verify", func(t *testing.T) {
		v := verifyFile(t, upgraded(t), keyed)
		assert.True(t, v.Valid, "%+v", v.Break)
		assert.Equal(t, uint64(15), v.Events)
		assert.Equal(t, uint64(11), v.KeyedFrom)
		assert.Equal(t, uint64(10), v.UnkeyedEvents)
	})
	t.Run("an old link edited", func(t *testing.T) {
		path := upgraded(t)
		// Recompute the plain links 3 to 10; the keyed link 11 cannot be.
		rewriteChainUntil(t, path, 3, 10, plainDroppingMarker)
		v := verifyFile(t, path, keyed)
		assert.False(t, v.Valid)
		require.NotNil(t, v.Break)
		assert.Equal(t, uint64(11), v.Break.Seq)
		assert.Contains(t, v.Break.Reason, "prev_hash does not match")
	})
	t.Run("no key to check keyed links", func(t *testing.T) {
		v := verifyFile(t, upgraded(t), plain)
		assert.False(t, v.Valid)
		assert.False(t, v.Keyed)
		require.NotNil(t, v.Break)
		assert.Equal(t, uint64(11), v.Break.Seq)
		assert.Contains(t, v.Break.Reason, "has no audit key")
	})
	t.Run("a chain never keyed, read without a key", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "state.db")
		writeChain(t, path, plain, nil, 10)
		v := verifyFile(t, path, plain)
		assert.True(t, v.Valid, "%+v", v.Break)
		assert.Zero(t, v.KeyedFrom)
		assert.Equal(t, uint64(10), v.UnkeyedEvents)
	})
}

func TestFSM_AuditHeadAt(t *testing.T) {
	f := fsmtest.OpenKeyed(t)
	l := fsmtest.NewLog(t, f)
	head, err := f.AuditHeadAt(0)
	require.NoError(t, err)
	assert.Equal(t, fsm.AuditHead{}, head, "no event yet")

	l.Must(&fsm.CreateTeam{Team: fsmtest.Team("team-a", "A")}) // index 1
	fsmtest.ApplyBatch(t, f, l.Noop())                         // index 2: no event
	l.Must(&fsm.CreateTeam{Team: fsmtest.Team("team-b", "B")}) // index 3
	events := auditEvents(t, f)
	require.Len(t, events, 2)

	cases := []struct {
		at   uint64
		want fsm.AuditEvent
	}{
		{1, events[0]},
		{2, events[0]},
		{3, events[1]},
		{0, events[1]}, // the applied index
	}
	for _, tc := range cases {
		head, err := f.AuditHeadAt(tc.at)
		require.NoError(t, err)
		assert.Equal(t, fsm.AuditHead{AtIndex: tc.at, AppliedIndex: 3, Seq: tc.want.Seq, ID: tc.want.ID,
			Hash: tc.want.Hash, RaftIndex: tc.want.RaftIndex}, withAt(head, tc.at), "at %d", tc.at)
	}
	head, err = f.AuditHeadAt(0)
	require.NoError(t, err)
	assert.Equal(t, uint64(3), head.AtIndex, "0 means the applied index")

	_, err = f.AuditHeadAt(4)
	require.ErrorIs(t, err, fsm.ErrState)
	var fe *fsm.Error
	require.ErrorAs(t, err, &fe)
	assert.Equal(t, "at_index", fe.Field)
	assert.Contains(t, fe.Message, "applied index 3")
}

// withAt returns h with AtIndex as asked (0 stays 0), so one table compares
// the asked and the defaulted index alike.
func withAt(h fsm.AuditHead, at uint64) fsm.AuditHead {
	h.AtIndex = at
	return h
}

func TestFSM_OpenRefusesAShortAuditKey(t *testing.T) {
	_, err := fsm.Open(filepath.Join(t.TempDir(), "state.db"), fsm.Options{AuditKey: make([]byte, 16)})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "AuditKey is 16 bytes")
}
