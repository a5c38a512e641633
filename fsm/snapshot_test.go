package fsm_test

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	bolt "go.etcd.io/bbolt"

	"github.com/certctl/certctl/fsm"
	"github.com/certctl/certctl/fsm/fsmtest"
)

func restore(f *fsm.FSM, data []byte) error {
	return f.Restore(io.NopCloser(bytes.NewReader(data)))
}

func TestFSM_SnapshotRestore(t *testing.T) {
	entries := mixedLog(t, 4, 400)
	src := fsmtest.Open(t)
	fsmtest.ApplyBatch(t, src, entries[:300]...)
	data := fsmtest.Snapshot(t, src)

	dst, l := seeded(t) // state of its own, which the snapshot replaces
	l.Must(&fsm.CreateTeam{Team: fsmtest.Team("team-only-here", "Only here")})
	require.NoError(t, restore(dst, data))

	assert.Equal(t, stateHash(t, src), stateHash(t, dst))
	assert.Equal(t, src.AppliedIndex(), dst.AppliedIndex())
	_, err := dst.Team("team-only-here")
	assert.ErrorIs(t, err, fsm.ErrNotFound)
	v, err := dst.VerifyAudit()
	require.NoError(t, err)
	assert.True(t, v.Valid)
	assert.Equal(t, []string{"state.db"}, dirNames(t, filepath.Dir(dst.Path())), "no temporary file is left behind")

	// The restored replica goes on in step with the one it came from.
	fsmtest.ApplyBatch(t, src, entries[300:]...)
	fsmtest.ApplyBatch(t, dst, entries[300:]...)
	assert.Equal(t, stateHash(t, src), stateHash(t, dst))
}

// TestFSM_SnapshotIsPointInTime checks that a snapshot holds the state of the
// moment Snapshot was called while Persist streams it and writes go on.
func TestFSM_SnapshotIsPointInTime(t *testing.T) {
	entries := mixedLog(t, 5, 400)
	src := fsmtest.Open(t)
	fsmtest.ApplyBatch(t, src, entries[:200]...)
	want, wantIndex := stateHash(t, src), src.AppliedIndex()

	snap, err := src.Snapshot()
	require.NoError(t, err)
	persisted := make(chan []byte, 1)
	go func() { // as raft does: Persist, then Release, off the apply goroutine
		defer snap.Release()
		sink := &fsmtest.Sink{}
		assert.NoError(t, snap.Persist(sink))
		persisted <- sink.Bytes()
	}()
	for _, e := range entries[200:] {
		fsmtest.ApplyBatch(t, src, e)
	}
	data := <-persisted

	dst := fsmtest.Open(t)
	require.NoError(t, restore(dst, data))
	assert.Equal(t, want, stateHash(t, dst))
	assert.Equal(t, wantIndex, dst.AppliedIndex())
	assert.NotEqual(t, want, stateHash(t, src), "the source moved on meanwhile")
}

// snapshotOf returns the snapshot of the seeded state with certs more
// certificates (100 are enough for the larger buckets to have branch pages),
// and its page size.
func snapshotOf(t *testing.T, certs int) ([]byte, int) {
	t.Helper()
	_, l := seeded(t)
	for i := range certs {
		l.Must(&fsm.CreateCertificate{Certificate: fsmtest.Certificate(fmt.Sprintf("mc-%03d", i), fmt.Sprintf("h%d.example.com", i))})
	}
	data := fsmtest.Snapshot(t, l.FSMs()[0])
	// Page 0 is a meta page: a 16-byte page header, then magic, version, page size.
	pageSize := int(binary.LittleEndian.Uint32(data[24:]))
	require.Zero(t, len(data)%pageSize)
	return data, pageSize
}

// eachPage calls fn with the offset of every page of data that has the given
// bbolt page flags (1 branch, 2 leaf). Freed pages keep their old contents,
// so only damaging every such page is sure to reach one in use.
func eachPage(t *testing.T, data []byte, pageSize int, flags uint16, fn func(id, off int)) {
	t.Helper()
	n := 0
	for id := 2; id < len(data)/pageSize; id++ {
		p := data[id*pageSize:]
		if binary.LittleEndian.Uint64(p) == uint64(id) && binary.LittleEndian.Uint16(p[8:]) == flags {
			fn(id, id*pageSize)
			n++
		}
	}
	require.Positive(t, n, "no page with flags %#x", flags)
}

// stateFileWith returns the bytes of a bbolt file prepared by fn.
func stateFileWith(t *testing.T, fn func(tx *bolt.Tx) error) []byte {
	t.Helper()
	path := filepath.Join(t.TempDir(), "other.db")
	f, err := fsm.Open(path, fsm.Options{NoSync: true})
	require.NoError(t, err)
	require.NoError(t, f.Close())
	db, err := bolt.Open(path, 0o600, nil)
	require.NoError(t, err)
	require.NoError(t, db.Update(fn))
	require.NoError(t, db.Close())
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	return data
}

// TestFSM_RestoreRefusesDamagedSnapshot checks that a truncated, corrupt or
// foreign snapshot is refused with a reason, leaves the state as it was, and
// leaves the FSM usable.
func TestFSM_RestoreRefusesDamagedSnapshot(t *testing.T) {
	good, pageSize := snapshotOf(t, 100)
	edit := func(fn func(b []byte)) []byte {
		b := bytes.Clone(good)
		fn(b)
		return b
	}
	garbage := make([]byte, 16*pageSize)
	_, _ = rand.NewChaCha8([32]byte{1}).Read(garbage)
	cases := []struct {
		name   string
		data   []byte
		reason string
	}{
		{"empty", nil, "not a state file"},
		{"garbage", garbage, "not a state file"},
		{"truncated to half", good[:len(good)/2], "truncated"},
		{"truncated by one page", good[:len(good)-pageSize], "truncated"},
		{"truncated inside a page", good[:len(good)-100], "truncated"},
		{"only the meta pages", good[:2*pageSize], "truncated"},
		{"meta pages zeroed", edit(func(b []byte) { clear(b[:2*pageSize]) }), "not a state file"},
		{"page ids scrambled", edit(func(b []byte) {
			for id := 2; id < len(b)/pageSize; id++ {
				b[id*pageSize] ^= 0x5a
			}
		}), "damaged"},
		{"branch pages referring to themselves", edit(func(b []byte) {
			eachPage(t, good, pageSize, 0x01, func(id, off int) {
				binary.LittleEndian.PutUint64(b[off+16+8:], uint64(id)) // first element's child
			})
		}), "referenced twice"},
		{"branch pages referring past the end", edit(func(b []byte) {
			eachPage(t, good, pageSize, 0x01, func(_, off int) {
				binary.LittleEndian.PutUint64(b[off+16+8:], 1<<40)
			})
		}), "out of bounds"},
		{"leaf elements outside their page", edit(func(b []byte) {
			eachPage(t, good, pageSize, 0x02, func(_, off int) {
				binary.LittleEndian.PutUint32(b[off+16+4:], 1<<30) // first element's key offset
			})
		}), "outside the page"},
		{"bucket missing", stateFileWith(t, func(tx *bolt.Tx) error { return tx.DeleteBucket([]byte("jobs")) }), `lacks bucket "jobs"`},
		{"newer schema", stateFileWith(t, func(tx *bolt.Tx) error {
			return tx.Bucket([]byte("meta")).Put([]byte("schema_version"), binary.BigEndian.AppendUint64(nil, 99))
		}), "schema version 99"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f, l := seeded(t)
			before, index := stateHash(t, f), f.AppliedIndex()

			err := restore(f, tc.data)

			require.Error(t, err)
			assert.Contains(t, err.Error(), "fsm: restore refused, state left unchanged")
			assert.Contains(t, err.Error(), tc.reason)
			assert.Equal(t, before, stateHash(t, f))
			assert.Equal(t, index, f.AppliedIndex())
			assert.Equal(t, []string{"state.db"}, dirNames(t, filepath.Dir(f.Path())))
			require.NoError(t, l.Apply(&fsm.CreateTeam{Team: fsmtest.Team("team-2", "Security")}).Err, "the FSM is still usable")
			_, err = f.Team("team-2")
			assert.NoError(t, err)
		})
	}

	t.Run("snapshot of a build without the issuer_material bucket", func(t *testing.T) {
		f, _ := seeded(t)
		older := stateFileWith(t, func(tx *bolt.Tx) error { return tx.DeleteBucket([]byte("issuer_material")) })
		require.NoError(t, restore(f, older))
		_, err := f.IssuerMaterial(fsmtest.IssuerID)
		assert.ErrorIs(t, err, fsm.ErrNotFound, "the bucket is there, empty")
	})

	t.Run("snapshot of a build without the server_keys bucket", func(t *testing.T) {
		f, _ := seeded(t)
		older := stateFileWith(t, func(tx *bolt.Tx) error {
			if err := tx.DeleteBucket([]byte("issuer_material")); err != nil {
				return err
			}
			return tx.DeleteBucket([]byte("server_keys"))
		})
		require.NoError(t, restore(f, older))
		_, err := f.ServerKey(fsmtest.CertificateID)
		assert.ErrorIs(t, err, fsm.ErrNotFound, "the bucket is there, empty")
	})

	t.Run("good snapshot after refused ones", func(t *testing.T) {
		f, _ := seeded(t)
		require.Error(t, restore(f, good[:len(good)/2]))
		require.NoError(t, restore(f, good))
		list, err := f.Certificates(fsm.CertificateFilter{}, fsm.Page{})
		require.NoError(t, err)
		assert.Equal(t, 101, list.Total)
	})
}

// TestFSM_RestoreSurvivesDamageAnywhere flips bytes across a whole snapshot.
// bbolt panics or faults on many damaged pages, in places no recover reaches;
// Restore must turn each into a refusal and never crash or hang. Damage to
// record contents cannot be told from data (bbolt keeps no page checksums;
// raft's snapshot store checks a CRC before Restore runs), so such a snapshot
// may be accepted.
func TestFSM_RestoreSurvivesDamageAnywhere(t *testing.T) {
	good, _ := snapshotOf(t, 100)
	f, _ := seeded(t)
	refused, tried := 0, 0
	state := stateHash(t, f)
	step := len(good)/100 | 1 // odd, so the damage lands at every position within a page
	for off := 0; off < len(good); off += step {
		tried++
		damaged := bytes.Clone(good)
		for i := off; i < min(off+16, len(damaged)); i++ {
			damaged[i] ^= 0x5a
		}
		err := restore(f, damaged)
		after := stateHash(t, f)
		if err != nil {
			refused++
			require.Equal(t, state, after, "offset %d: refused but changed", off)
		}
		state = after
	}
	t.Logf("%d of %d damaged snapshots refused", refused, tried)
	assert.Positive(t, refused)
	require.NoError(t, restore(f, good))
	require.NoError(t, f.Close())
	assert.NoError(t, fsm.VerifyFile(f.Path()))
}

func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}
