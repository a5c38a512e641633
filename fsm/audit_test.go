package fsm_test

import (
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

func TestFSM_VerifyAudit(t *testing.T) {
	f := fsmtest.Open(t)
	fsmtest.ApplyBatch(t, f, mixedLog(t, 9, 400)...)
	events := auditEvents(t, f)
	require.Greater(t, len(events), 50)

	v, err := f.VerifyAudit()

	require.NoError(t, err)
	assert.True(t, v.Valid)
	assert.Nil(t, v.Break)
	assert.Equal(t, uint64(len(events)), v.Events)
	assert.Equal(t, events[len(events)-1].Hash, v.Head)
	for i, ev := range events {
		assert.Equal(t, uint64(i+1), ev.Seq)
		if i > 0 {
			assert.Equal(t, events[i-1].Hash, ev.PrevHash, "event %d", ev.Seq)
		}
	}
}

func TestFSM_VerifyAuditEmpty(t *testing.T) {
	v, err := fsmtest.Open(t).VerifyAudit()
	require.NoError(t, err)
	assert.Equal(t, fsm.AuditVerification{Valid: true}, v)
}

// hashEvent computes an event's hash as the FSM does: the SHA-256 of its JSON
// with the hash left empty. A forger who knows the scheme can do the same.
func hashEvent(ev fsm.AuditEvent) string {
	ev.Hash = ""
	b, _ := json.Marshal(&ev)
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// TestFSM_VerifyAuditFindsTampering edits the state file behind the FSM's
// back, as someone with access to the disk could, and checks that VerifyAudit
// names the first event that no longer fits the chain.
func TestFSM_VerifyAuditFindsTampering(t *testing.T) {
	const events = 20
	key := func(seq uint64) []byte { return binary.BigEndian.AppendUint64(nil, seq) }
	rewrite := func(seq uint64, rehash bool) func(t *testing.T, b *bolt.Bucket) {
		return func(t *testing.T, b *bolt.Bucket) {
			var ev fsm.AuditEvent
			require.NoError(t, json.Unmarshal(b.Get(key(seq)), &ev))
			ev.Details = json.RawMessage(`{"name":"someone else"}`)
			if rehash {
				ev.Hash = hashEvent(ev)
			}
			raw, err := json.Marshal(&ev)
			require.NoError(t, err)
			require.NoError(t, b.Put(key(seq), raw))
		}
	}
	cases := []struct {
		name    string
		tamper  func(t *testing.T, b *bolt.Bucket)
		seq     uint64
		id      string
		because string
	}{
		{"details changed", rewrite(5, false), 5, "audit-000000000005", "hash does not match"},
		{"details changed and rehashed", rewrite(5, true), 6, "audit-000000000006", "prev_hash does not match"},
		{"event removed", func(t *testing.T, b *bolt.Bucket) { require.NoError(t, b.Delete(key(5))) }, 6, "audit-000000000006", "sequence gap: expected 5"},
		{"event unreadable", func(t *testing.T, b *bolt.Bucket) { require.NoError(t, b.Put(key(3), []byte("{"))) }, 3, "", "unreadable"},
		{"last event removed", func(t *testing.T, b *bolt.Bucket) { require.NoError(t, b.Delete(key(events))) }, events, "", "chain head"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "state.db")
			f := fsmtest.OpenPath(t, path, fsm.Options{NoSync: true})
			l := fsmtest.NewLog(t, f)
			for range events { // one event each
				l.Must(&fsm.RegisterMember{Member: fsm.Member{NodeID: "n", RaftAddr: "r:1", APIAddr: l.Now.Format(time.RFC3339Nano)}})
				l.Advance(time.Second)
			}
			before, err := f.VerifyAudit()
			require.NoError(t, err)
			require.True(t, before.Valid)
			require.Equal(t, uint64(events), before.Events)
			require.NoError(t, f.Close())

			db, err := bolt.Open(path, 0o600, nil)
			require.NoError(t, err)
			require.NoError(t, db.Update(func(tx *bolt.Tx) error {
				tc.tamper(t, tx.Bucket([]byte("audit_events")))
				return nil
			}))
			require.NoError(t, db.Close())
			f = fsmtest.OpenPath(t, path, fsm.Options{NoSync: true})

			v, err := f.VerifyAudit()

			require.NoError(t, err)
			assert.False(t, v.Valid)
			require.NotNil(t, v.Break)
			assert.Equal(t, tc.seq, v.Break.Seq)
			assert.Equal(t, tc.id, v.Break.ID)
			assert.Contains(t, v.Break.Reason, tc.because)
		})
	}
}

func TestFSM_AuditEventsFilter(t *testing.T) {
	f, l := seeded(t) // eight events at T0
	l.Advance(time.Hour)
	l.ActorType = fsm.ActorAgent
	l.Actor = fsmtest.AgentID
	l.Must(&fsm.RecordHeartbeats{Beats: []fsm.Heartbeat{{AgentID: fsmtest.AgentID, At: l.Now}}})
	l.Advance(time.Hour)
	l.ActorType, l.Actor = fsm.ActorUser, "ada"
	l.Must(&fsm.UpdateTeam{Team: fsmtest.Team(fsmtest.TeamID, "Platform Eng")})
	l.Must(&fsm.SetCertificateStatus{ID: fsmtest.CertificateID, Status: fsm.CertActive})

	cases := []struct {
		name string
		flt  fsm.AuditFilter
		want []string // actions, in time order
	}{
		{"actor", fsm.AuditFilter{Actor: "ada"}, []string{"team_updated", "certificate_status_changed"}},
		{"actor type, any case", fsm.AuditFilter{ActorType: "agent"}, []string{"heartbeats_recorded"}},
		{"action", fsm.AuditFilter{Action: "team_updated"}, []string{"team_updated"}},
		{"resource", fsm.AuditFilter{ResourceType: "certificate", ResourceID: fsmtest.CertificateID},
			[]string{"certificate_created", "certificate_status_changed"}},
		{"from, inclusive", fsm.AuditFilter{From: ptr(at(time.Hour))}, []string{"heartbeats_recorded", "team_updated", "certificate_status_changed"}},
		{"to, exclusive", fsm.AuditFilter{From: ptr(at(time.Minute)), To: ptr(at(2 * time.Hour))}, []string{"heartbeats_recorded"}},
		{"nothing", fsm.AuditFilter{Actor: "nobody"}, []string{}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			list, err := f.AuditEvents(tc.flt, fsm.Page{})
			require.NoError(t, err)
			got := []string{}
			for _, ev := range list.Items {
				got = append(got, ev.Action)
			}
			assert.Equal(t, tc.want, got)
			assert.Equal(t, len(tc.want), list.Total)
		})
	}

	t.Run("by id", func(t *testing.T) {
		ev, err := f.AuditEvent("audit-000000000009")
		require.NoError(t, err)
		assert.Equal(t, "heartbeats_recorded", ev.Action)
		for _, id := range []string{"audit-000000000099", "audit-9", "nonsense"} {
			_, err = f.AuditEvent(id)
			assert.ErrorIs(t, err, fsm.ErrNotFound, id)
		}
	})
}
