package fsm_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"github.com/certctl/certctl/api/wire"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	bolt "go.etcd.io/bbolt"

	"github.com/certctl/certctl/fsm"
	"github.com/certctl/certctl/fsm/fsmtest"
)

// The data dir of the previous release (commit b244bca, stored schema 1),
// made by `certctl server --dev` with its demo data and a few API calls, then
// stopped cleanly; testdata/README.md says how.
const (
	prevDataDir    = "testdata/datadir-schema1.tar.gz"
	prevApplied    = 91 // the last raft index its state.db holds, the last of its log
	prevClusterID  = "340a2a67b22e1b98"
	prevAuditCount = 96
)

// extractDataDir unpacks a data dir fixture into a temporary directory.
func extractDataDir(t *testing.T, archive string) string {
	t.Helper()
	f, err := os.Open(archive)
	require.NoError(t, err)
	defer f.Close()
	gz, err := gzip.NewReader(f)
	require.NoError(t, err)
	dir := t.TempDir()
	tr := tar.NewReader(gz)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return dir
		}
		require.NoError(t, err)
		name := filepath.Join(dir, filepath.FromSlash(h.Name))
		require.True(t, strings.HasPrefix(name, dir), "archive entry %q escapes", h.Name)
		switch h.Typeflag {
		case tar.TypeDir:
			require.NoError(t, os.MkdirAll(name, 0o700))
		case tar.TypeReg:
			require.NoError(t, os.MkdirAll(filepath.Dir(name), 0o700))
			data, err := io.ReadAll(tr)
			require.NoError(t, err)
			require.NoError(t, os.WriteFile(name, data, 0o600))
		}
	}
}

// dataDirAuditKey derives the audit key of a dev data dir from its kek file
// as certctl does (connectors/keywrap.AuditKey: HKDF-SHA256, no salt, info
// "certctl audit chain v1").
func dataDirAuditKey(t *testing.T, dir string) []byte {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(dir, "kek"))
	require.NoError(t, err)
	kek, err := hex.DecodeString(strings.TrimSpace(string(raw)))
	require.NoError(t, err)
	key, err := hkdf.Key(sha256.New, kek, nil, "certctl audit chain v1", 32)
	require.NoError(t, err)
	return key
}

// raftLog returns the entries of a data dir's raft log up to index last that
// raft hands a BatchingFSM (commands and configurations).
func raftLog(t *testing.T, dir string, last uint64) []*raft.Log {
	t.Helper()
	store, err := raftboltdb.New(raftboltdb.Options{
		Path:        filepath.Join(dir, "raft", "raft.db"),
		BoltOptions: &bolt.Options{ReadOnly: true, Timeout: time.Second},
	})
	require.NoError(t, err)
	defer store.Close()
	first, err := store.FirstIndex()
	require.NoError(t, err)
	require.EqualValues(t, 1, first, "the fixture's log must start at 1 to be replayed")
	var out []*raft.Log
	for i := first; i <= last; i++ {
		var l raft.Log
		require.NoError(t, store.GetLog(i, &l))
		if l.Type == raft.LogCommand || l.Type == raft.LogConfiguration {
			out = append(out, &l)
		}
	}
	return out
}

// replay applies entries to a new FSM in batches of n, as raft would.
func replay(t *testing.T, path string, key []byte, entries []*raft.Log, n int) *fsm.FSM {
	t.Helper()
	f := fsmtest.OpenPath(t, path, fsm.Options{NoSync: true, AuditKey: key})
	for i := 0; i < len(entries); i += n {
		fsmtest.ApplyBatch(t, f, entries[i:min(i+n, len(entries))]...)
	}
	return f
}

// fileContents reads every bucket of a closed state file as it is, without
// opening it as an FSM (which would migrate it).
func fileContents(t *testing.T, path string) map[string]map[string]string {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: time.Second})
	require.NoError(t, err)
	defer db.Close()
	out := map[string]map[string]string{}
	require.NoError(t, db.View(func(tx *bolt.Tx) error {
		return tx.ForEach(func(name []byte, b *bolt.Bucket) error {
			m := map[string]string{}
			out[string(name)] = m
			return b.ForEach(func(k, v []byte) error {
				m[string(k)] = string(v)
				return nil
			})
		})
	}))
	return out
}

// TestFSM_OpensPreviousReleaseDataDir opens the state file of the previous
// release's data dir with this code: it is migrated from schema 1 and every
// record reads as it was written.
func TestFSM_OpensPreviousReleaseDataDir(t *testing.T) {
	dir := extractDataDir(t, prevDataDir)
	path := filepath.Join(dir, "state.db")
	require.EqualValues(t, 1, schemaVersionOf(t, path))
	require.NoError(t, fsm.VerifyFile(path), "an older schema is still a state file")

	f := fsmtest.OpenPath(t, path, fsm.Options{AuditKey: dataDirAuditKey(t, dir)})

	from, to, ok := f.Migrated()
	assert.True(t, ok)
	assert.EqualValues(t, 1, from)
	assert.Equal(t, fsm.SchemaVersion(), to)
	assert.EqualValues(t, prevApplied, f.AppliedIndex())

	counts, err := f.Counts()
	require.NoError(t, err)
	assert.Equal(t, 15, counts["managed_certificates"])
	assert.Equal(t, 5, counts["jobs"])
	assert.Equal(t, 6, counts["teams"])
	assert.Equal(t, prevAuditCount, counts["audit_events"])

	revoked, err := f.Certificate("mc-old-api")
	require.NoError(t, err)
	assert.Equal(t, fsm.CertRevoked, revoked.Status)
	prod, err := f.Certificate("mc-api-prod")
	require.NoError(t, err)
	assert.Equal(t, "api.example.com", prod.CommonName)
	assert.NotNil(t, prod.ExpiresAt)
	assert.NotEmpty(t, prod.TargetIDs)
	raw, err := f.CertificateJSON("mc-api-prod")
	require.NoError(t, err)
	wire, err := json.Marshal(prod)
	require.NoError(t, err)
	assert.JSONEq(t, string(wire), string(raw))

	job, err := f.Job("job-demo-1")
	require.NoError(t, err)
	assert.Equal(t, fsm.JobCompleted, job.Status)
	// The index the migration built: the renewal asked for through the API
	// and the demo's renewal waiting for a CSR are open, finished jobs not.
	open, err := f.OpenJobs("mc-api-stg", fsm.JobRenewal)
	require.NoError(t, err)
	require.Len(t, open, 1)
	assert.Equal(t, "job-6f9ba1f0ec35ae8a", open[0].ID)
	assert.Equal(t, fsm.JobAwaitingCSR, open[0].Status)
	open, err = f.OpenJobs("mc-api-prod", "")
	require.NoError(t, err)
	assert.Empty(t, open)
	open, err = f.OpenJobs("mc-web-prod", "")
	require.NoError(t, err)
	assert.Equal(t, []string{"job-demo-4"}, jobIDs(open))

	v, err := f.VerifyAudit()
	require.NoError(t, err)
	assert.True(t, v.Valid, "audit chain: %+v", v.Break)
	assert.True(t, v.Keyed)
	assert.EqualValues(t, prevAuditCount, v.Events)
	cluster, err := f.ClusterID()
	require.NoError(t, err)
	assert.Equal(t, prevClusterID, cluster)

	require.NoError(t, f.Close())
	require.NoError(t, fsm.VerifyFile(path))
	assert.Equal(t, fsm.SchemaVersion(), schemaVersionOf(t, path))
	again := fsmtest.OpenPath(t, path, fsm.Options{AuditKey: dataDirAuditKey(t, dir)})
	_, _, ok = again.Migrated()
	assert.False(t, ok, "a migrated file is not migrated again")
}

func jobIDs(jobs []fsm.Job) []string {
	out := []string{}
	for _, j := range jobs {
		out = append(out, j.ID)
	}
	return out
}

// TestFSM_ReplayMatchesMigratedDataDir replays the previous release's raft
// log on a fresh FSM of this code and compares it with that release's state
// file. Before the migration the two differ in exactly the bytes schemas 2
// and 3 add (the version, the open-jobs index, the jobs' type counters); after it they hold the same
// state (StateHash), and so they do after both apply the same new entries.
func TestFSM_ReplayMatchesMigratedDataDir(t *testing.T) {
	dir := extractDataDir(t, prevDataDir)
	key := dataDirAuditKey(t, dir)
	entries := raftLog(t, dir, prevApplied)
	replayPath := filepath.Join(t.TempDir(), "replayed.db")
	replayed := replay(t, replayPath, key, entries, 64)
	require.EqualValues(t, prevApplied, replayed.AppliedIndex())
	want := stateHash(t, replayed)
	open, err := replayed.OpenJobs("mc-api-stg", fsm.JobRenewal)
	require.NoError(t, err)
	require.Len(t, open, 1, "the replay keeps the open-jobs index")
	require.NoError(t, replayed.Close())

	t.Run("before migration", func(t *testing.T) {
		old := fileContents(t, filepath.Join(dir, "state.db"))
		now := fileContents(t, replayPath)
		var differ []string
		for name, bucket := range now {
			if _, ok := old[name]; !ok {
				differ = append(differ, "bucket "+name+" is new")
				continue
			}
			for k, v := range bucket {
				if ov, ok := old[name][k]; !ok || ov != v {
					differ = append(differ, fmt.Sprintf("%s/%s: %x -> %x", name, k, ov, v))
				}
			}
			for k := range old[name] {
				if _, ok := bucket[k]; !ok {
					differ = append(differ, fmt.Sprintf("%s/%s: gone", name, k))
				}
			}
		}
		for name := range old {
			if _, ok := now[name]; !ok {
				differ = append(differ, "bucket "+name+" is gone")
			}
		}
		// Schema 3's counters of jobs by status and type are new too.
		var typeCounts []string
		differ = slices.DeleteFunc(differ, func(d string) bool {
			if strings.HasPrefix(d, "counts/jobs\x00status_type\x00") {
				typeCounts = append(typeCounts, d)
				return true
			}
			return false
		})
		assert.NotEmpty(t, typeCounts, "the replay counts jobs by status and type")
		assert.ElementsMatch(t, []string{
			"bucket acme_challenges is new", // empty: it holds only live challenge answers
			"bucket idx_open_jobs_by_certificate is new",
			"bucket idx_renewal_scan is new",
			"bucket idx_renewal_info is new", // empty: no older certificate has a CA's window
			"bucket renewal_scan_ended is new",
			"bucket idx_certificates_weak is new", // schema 4; this log has no weak key
			fmt.Sprintf("meta/schema_version: %x -> %x", u64(1), u64(fsm.SchemaVersion())),
		}, differ)
		require.NotEmpty(t, now["idx_open_jobs_by_certificate"])
	})

	migrated := fsmtest.OpenPath(t, filepath.Join(dir, "state.db"), fsm.Options{AuditKey: key})
	replayed = fsmtest.OpenPath(t, replayPath, fsm.Options{NoSync: true, AuditKey: key})
	assert.Equal(t, want, stateHash(t, migrated), "migrated file and replayed log")

	// The log goes on: the same new entries on both, jobs finished and
	// opened, give the same state.
	l := fsmtest.NewLog(t, migrated, replayed)
	l.Index, l.Term, l.Now = prevApplied, 3, time.Date(2026, 12, 8, 9, 0, 0, 0, time.UTC)
	require.NoError(t, l.Apply(&fsm.CancelJob{JobID: "job-6f9ba1f0ec35ae8a"}).Err)
	require.NoError(t, l.Apply(&fsm.CreateJobs{Jobs: []fsm.Job{{
		ID: "job-after-migration", Type: fsm.JobRenewal, CertificateID: "mc-web-stg", ScheduledAt: l.Now,
	}}}).Err)
	assert.Equal(t, stateHash(t, replayed), stateHash(t, migrated))
	for _, f := range []*fsm.FSM{migrated, replayed} {
		open, err := f.OpenJobs("mc-api-stg", "")
		require.NoError(t, err)
		assert.Empty(t, open)
		open, err = f.OpenJobs("mc-web-stg", "renewal")
		require.NoError(t, err)
		assert.Equal(t, []string{"job-after-migration"}, jobIDs(open))
	}
}

// TestFSM_RestoreMigratesOlderSnapshot restores a snapshot of the previous
// release (its state file is what its Persist wrote) on this code: it is
// migrated like a data dir and holds what the replayed log holds.
func TestFSM_RestoreMigratesOlderSnapshot(t *testing.T) {
	dir := extractDataDir(t, prevDataDir)
	key := dataDirAuditKey(t, dir)
	replayed := replay(t, filepath.Join(t.TempDir(), "replayed.db"), key, raftLog(t, dir, prevApplied), 16)

	f := fsmtest.OpenPath(t, filepath.Join(t.TempDir(), "state.db"), fsm.Options{NoSync: true, AuditKey: key})
	snap, err := os.Open(filepath.Join(dir, "state.db"))
	require.NoError(t, err)
	require.NoError(t, f.Restore(snap))

	from, _, ok := f.Migrated()
	assert.True(t, ok)
	assert.EqualValues(t, 1, from)
	assert.EqualValues(t, prevApplied, f.AppliedIndex())
	assert.Equal(t, stateHash(t, replayed), stateHash(t, f))

	// A snapshot of this version restores without a migration.
	snapOf(t, replayed, f)
	_, _, ok = f.Migrated()
	assert.False(t, ok)
}

// snapOf restores a snapshot of src into dst.
func snapOf(t *testing.T, src, dst *fsm.FSM) {
	t.Helper()
	s, err := src.Snapshot()
	require.NoError(t, err)
	defer s.Release()
	sink := &fsmtest.Sink{}
	require.NoError(t, s.Persist(sink))
	require.NoError(t, dst.Restore(io.NopCloser(bytes.NewReader(sink.Bytes()))))
}

// TestFSM_NewerSchemaRefused checks that a state file and a snapshot of a
// newer stored schema are refused, naming both versions, and left as they
// were.
func TestFSM_NewerSchemaRefused(t *testing.T) {
	newer := fsm.SchemaVersion() + 1
	path := filepath.Join(t.TempDir(), "state.db")
	f := fsmtest.OpenPath(t, path, fsm.Options{NoSync: true})
	l := fsmtest.NewLog(t, f)
	require.NoError(t, l.Apply(&fsm.CreateTeam{Team: fsmtest.Team("t-a", "a")}).Err)
	require.NoError(t, f.Close())
	setSchemaVersion(t, path, newer)

	_, err := fsm.Open(path, fsm.Options{NoSync: true})
	require.ErrorIs(t, err, fsm.ErrSchemaNewer)
	var se *fsm.SchemaError
	require.ErrorAs(t, err, &se)
	assert.Equal(t, newer, se.File)
	assert.Equal(t, fsm.SchemaVersion(), se.Binary)
	assert.Contains(t, err.Error(), fmt.Sprintf("stored-schema version %d, newer than version %d", newer, fsm.SchemaVersion()))
	assert.Equal(t, newer, schemaVersionOf(t, path), "the refused file is left as it was")

	g := fsmtest.Open(t)
	want := stateHash(t, g)
	snap, err := os.Open(path)
	require.NoError(t, err)
	err = g.Restore(snap)
	require.ErrorIs(t, err, fsm.ErrSchemaNewer)
	assert.Contains(t, err.Error(), fmt.Sprintf("the snapshot has stored-schema version %d, newer than version %d", newer, fsm.SchemaVersion()))
	assert.Contains(t, err.Error(), "state left unchanged")
	assert.Equal(t, want, stateHash(t, g))
}

func u64(v uint64) []byte { return binary.BigEndian.AppendUint64(nil, v) }

func setSchemaVersion(t *testing.T, path string, v uint64) {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	require.NoError(t, err)
	defer db.Close()
	require.NoError(t, db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket([]byte("meta")).Put([]byte("schema_version"), u64(v))
	}))
}

func schemaVersionOf(t *testing.T, path string) uint64 {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: time.Second})
	require.NoError(t, err)
	defer db.Close()
	var v uint64
	require.NoError(t, db.View(func(tx *bolt.Tx) error {
		v = binary.BigEndian.Uint64(tx.Bucket([]byte("meta")).Get([]byte("schema_version")))
		return nil
	}))
	return v
}

// TestFSM_OpenJobsIndex checks that Apply keeps the open-jobs index as jobs
// are created, moved on and finished.
func TestFSM_OpenJobsIndex(t *testing.T) {
	f := fsmtest.Open(t)
	l := fsmtest.NewLog(t, f)
	fsmtest.Seed(l)
	require.NoError(t, l.Apply(&fsm.CreateJobs{Jobs: []fsm.Job{
		fsmtest.Job("job-2", fsm.JobRenewal), fsmtest.Job("job-1", fsm.JobRenewal), fsmtest.Job("job-3", fsm.JobIssuance),
	}}).Err)
	open := func(typ wire.JobType) []string {
		jobs, err := f.OpenJobs(fsmtest.CertificateID, typ)
		require.NoError(t, err)
		return jobIDs(jobs)
	}
	assert.Equal(t, []string{"job-1", "job-2", "job-3"}, open(""), "Issuance and Renewal share one slot, by id")
	assert.Equal(t, []string{"job-1", "job-2"}, open(fsm.JobRenewal))

	require.NoError(t, l.Apply(&fsm.CancelJob{JobID: "job-1"}).Err)
	assert.Equal(t, []string{"job-2"}, open(fsm.JobRenewal))
	assert.Equal(t, []string{"job-3"}, open(fsm.JobIssuance))
	assert.Empty(t, open(fsm.JobDeployment))
	jobs, err := f.OpenJobs("mc-unknown", "")
	require.NoError(t, err)
	assert.Empty(t, jobs)
}

// TestFSM_WeakKeysIndex: Apply keeps idx_certificates_weak (what the
// weak_keys list walks) as versions and statuses change, and schema 4's
// migration builds it from a version 3 file's records, giving the file a
// replay would have written.
func TestFSM_WeakKeysIndex(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	f := fsmtest.OpenPath(t, path, fsm.Options{NoSync: true})
	l := fsmtest.NewLog(t, f)
	fsmtest.Seed(l)
	weak := func(f *fsm.FSM) []string {
		t.Helper()
		rc := fsm.RiskClock{Now: l.Now}
		list, err := f.Certificates(fsm.CertificateFilter{Risk: fsm.RiskWeakKeys, Clock: rc}, fsm.Page{})
		require.NoError(t, err)
		ids := []string{}
		for _, c := range list.Items {
			ids = append(ids, c.ID)
		}
		s, err := f.StatsSummary(rc)
		require.NoError(t, err)
		assert.Equal(t, len(ids), s.Certificates.WeakKeys, "the count and the list agree")
		return ids
	}
	for i, id := range []string{"w-3", "w-1", "w-2", "w-4"} {
		l.Must(&fsm.CreateCertificate{Certificate: fsmtest.Certificate(id, id+".example.com")})
		v := fsmtest.Version("cv-"+id, id, i+1, l.Now.Add(-fsm.Day), 90*fsm.Day)
		v.WeakKey = id != "w-3"
		l.Must(&fsm.RecordVersion{Version: v})
	}
	assert.Equal(t, []string{"w-1", "w-2", "w-4"}, weak(f))
	l.Must(&fsm.RevokeCertificate{CertificateID: "w-2", Reason: "keyCompromise"})
	assert.Equal(t, []string{"w-1", "w-4"}, weak(f), "a revoked certificate is no longer at risk")
	strong := fsmtest.Version("cv-w-4b", "w-4", 9, l.Now, 90*fsm.Day)
	l.Must(&fsm.RecordVersion{Version: strong})
	assert.Equal(t, []string{"w-1"}, weak(f), "a strong key replaced the weak one")
	want := stateHash(t, f)
	require.NoError(t, f.Close())

	// The same file at version 3, without the index.
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	require.NoError(t, err)
	require.NoError(t, db.Update(func(tx *bolt.Tx) error { return tx.DeleteBucket([]byte("idx_certificates_weak")) }))
	require.NoError(t, db.Close())
	setSchemaVersion(t, path, 3)
	g := fsmtest.OpenPath(t, path, fsm.Options{NoSync: true})
	from, _, ok := g.Migrated()
	require.True(t, ok)
	assert.EqualValues(t, 3, from)
	assert.Equal(t, []string{"w-1"}, weak(g))
	assert.Equal(t, want, stateHash(t, g), "the migrated file is the one Apply wrote")
}
