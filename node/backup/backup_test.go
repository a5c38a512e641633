package backup_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	bolt "go.etcd.io/bbolt"

	"github.com/certctl/certctl/fsm"
	"github.com/certctl/certctl/fsm/fsmtest"
	"github.com/certctl/certctl/node/backup"
)

var created = time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)

// seeded returns an FSM holding a cluster id and Seed's records.
func seeded(t *testing.T) *fsm.FSM {
	f := fsmtest.OpenKeyed(t)
	l := fsmtest.NewLog(t, f)
	l.Must(&fsm.InitCluster{ClusterID: "cl-backup"})
	fsmtest.Seed(l)
	return f
}

// snapshotFile writes a snapshot file of f and returns its bytes.
func snapshotFile(t *testing.T, f backup.State) []byte {
	p, err := backup.Prepare(f, t.TempDir(), "node-1", created)
	require.NoError(t, err)
	defer p.Close()
	var buf bytes.Buffer
	n, err := p.WriteTo(&buf)
	require.NoError(t, err)
	size, err := p.Size()
	require.NoError(t, err)
	assert.Equal(t, size, n)
	assert.EqualValues(t, buf.Len(), n)
	return buf.Bytes()
}

func writeFile(t *testing.T, b []byte) string {
	path := filepath.Join(t.TempDir(), "backup.snap")
	require.NoError(t, os.WriteFile(path, b, 0o600))
	return path
}

func TestBackup_RoundTrip(t *testing.T) {
	f := seeded(t)
	file := snapshotFile(t, f)
	require.True(t, bytes.HasPrefix(file, []byte("certctl-snapshot 1\n{")))

	h, body, err := backup.Read(bytes.NewReader(file))
	require.NoError(t, err)
	got, err := io.ReadAll(body)
	require.NoError(t, err)
	assert.EqualValues(t, h.BodySize, len(got))
	assert.Equal(t, "cl-backup", h.ClusterID)
	assert.Equal(t, "node-1", h.NodeID)
	assert.Equal(t, f.AppliedIndex(), h.Index)
	assert.EqualValues(t, 1, h.Term)
	assert.True(t, created.Equal(h.CreatedAt))
	assert.EqualValues(t, fsm.SchemaVersion(), h.SchemaVersion)
	assert.Equal(t, 1, h.Counts["managed_certificates"])
	assert.Equal(t, 1, h.Counts["teams"])
	assert.Contains(t, h.Counts, "api_keys")
	assert.Len(t, h.Counts, 22)
	assert.EqualValues(t, fsmtest.SeedAuditEvents+1, h.AuditHead.Seq)
	assert.NotEmpty(t, h.AuditHead.Hash)
	head, err := f.AuditHeadAt(0)
	require.NoError(t, err)
	assert.Equal(t, head.Hash, h.AuditHead.Hash)

	// The body restores into an FSM holding the same state.
	g := fsmtest.Open(t)
	require.NoError(t, g.Restore(io.NopCloser(bytes.NewReader(got))))
	want, err := f.StateHash()
	require.NoError(t, err)
	have, err := g.StateHash()
	require.NoError(t, err)
	assert.Equal(t, want, have)

	ih, rep, err := backup.Inspect(writeFile(t, file))
	require.NoError(t, err)
	assert.True(t, rep.OK())
	assert.Equal(t, h, ih)
	assert.Equal(t, h.Counts, rep.Counts)
	names := []string{}
	for _, c := range rep.Checks {
		names = append(names, c.Name)
	}
	assert.Equal(t, []string{backup.CheckFormat, backup.CheckChecksum, backup.CheckRecords, backup.CheckHeader}, names)
}

// TestBackup_Refused: each damaged file is refused by Read's body reader
// and by Inspect with an error saying what failed.
func TestBackup_Refused(t *testing.T) {
	good := snapshotFile(t, seeded(t))
	bodyAt := bytes.IndexByte(good[bytes.IndexByte(good, '\n')+1:], '\n') + bytes.IndexByte(good, '\n') + 2
	flip := func(at int) []byte {
		b := bytes.Clone(good)
		b[at] ^= 0x01
		return b
	}
	tests := []struct {
		name     string
		file     []byte
		is       error  // matched by Read (and its body) and Inspect
		contains string // in the message
		check    string // the check of Inspect that fails
	}{
		{"byte flipped in the body", flip(bodyAt + len(good[bodyAt:])/2), backup.ErrChecksum, "SHA-256", backup.CheckChecksum},
		{"last byte flipped", flip(len(good) - 1), backup.ErrChecksum, "SHA-256", backup.CheckChecksum},
		{"truncated", good[:len(good)-100], backup.ErrTruncated, "truncated", backup.CheckChecksum},
		{"truncated in the header", good[:bodyAt-10], backup.ErrHeader, "ends before", backup.CheckFormat},
		{"longer", append(bytes.Clone(good), 'x'), backup.ErrTooLong, "body_size", backup.CheckChecksum},
		{"unknown version", append([]byte("certctl-snapshot 7\n"), good[len("certctl-snapshot 1\n"):]...), backup.ErrVersion, "version 7: this certctl reads format version 1", backup.CheckFormat},
		{"garbage header", append([]byte("certctl-snapshot 1\n{\"index\": nope}\n"), good[bodyAt:]...), backup.ErrHeader, "header is unreadable", backup.CheckFormat},
		{"header without checksum", append([]byte("certctl-snapshot 1\n{\"format_version\":1,\"body_size\":10}\n"), good[bodyAt:]...), backup.ErrHeader, "body_sha256", backup.CheckFormat},
		{"not a snapshot", []byte("SQLite format 3\x00..."), backup.ErrNotSnapshot, "certctl-snapshot", backup.CheckFormat},
		{"empty", nil, backup.ErrNotSnapshot, "not a certctl snapshot", backup.CheckFormat},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, body, err := backup.Read(bytes.NewReader(tt.file))
			if err == nil {
				_, err = io.Copy(io.Discard, body)
			}
			require.Error(t, err)
			assert.ErrorIs(t, err, tt.is)
			assert.Contains(t, err.Error(), tt.contains)

			_, rep, err := backup.Inspect(writeFile(t, tt.file))
			require.Error(t, err)
			assert.ErrorIs(t, err, tt.is)
			assert.False(t, rep.OK())
			last := rep.Checks[len(rep.Checks)-1]
			assert.Equal(t, tt.check, last.Name)
			assert.False(t, last.OK)
		})
	}
}

// editedState is a State whose body is the state of f with edit applied to
// the copy: a file whose checksum is right but whose content is not.
type editedState struct {
	f    *fsm.FSM
	t    *testing.T
	edit func(tx *bolt.Tx) error
}

func (e editedState) WriteState(w io.Writer) (fsm.StateSummary, error) {
	path := filepath.Join(e.t.TempDir(), "copy.db")
	out, err := os.Create(path)
	require.NoError(e.t, err)
	s, err := e.f.WriteState(out)
	require.NoError(e.t, err)
	require.NoError(e.t, out.Close())
	db, err := bolt.Open(path, 0o600, nil)
	require.NoError(e.t, err)
	require.NoError(e.t, db.Update(e.edit))
	require.NoError(e.t, db.Close())
	in, err := os.Open(path)
	require.NoError(e.t, err)
	defer in.Close()
	_, err = io.Copy(w, in)
	return s, err
}

func TestInspect_RecordDoesNotDecode(t *testing.T) {
	f := seeded(t)
	file := snapshotFile(t, editedState{f: f, t: t, edit: func(tx *bolt.Tx) error {
		return tx.Bucket([]byte("managed_certificates")).Put([]byte(fsmtest.CertificateID), []byte(`{"id": 12`))
	}})
	_, rep, err := backup.Inspect(writeFile(t, file))
	require.Error(t, err)
	var re *fsm.RecordError
	require.True(t, errors.As(err, &re), err)
	assert.Equal(t, "managed_certificates", re.Table)
	assert.Equal(t, fsmtest.CertificateID, re.Key)
	assert.Contains(t, err.Error(), "table managed_certificates, key mc-1: record does not decode")
	assert.Equal(t, backup.CheckRecords, rep.Checks[len(rep.Checks)-1].Name)
}

func TestInspect_HeaderDisagreesWithBody(t *testing.T) {
	f := seeded(t)
	file := snapshotFile(t, editedState{f: f, t: t, edit: func(tx *bolt.Tx) error {
		return tx.Bucket([]byte("teams")).Delete([]byte(fsmtest.TeamID))
	}})
	_, rep, err := backup.Inspect(writeFile(t, file))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "counts.teams is 1 in the header and 0 in the body")
	assert.Equal(t, backup.CheckHeader, rep.Checks[len(rep.Checks)-1].Name)
}

func TestInspect_BodyNotAStateFile(t *testing.T) {
	body := []byte(strings.Repeat("not bbolt ", 1000))
	var buf bytes.Buffer
	require.NoError(t, backup.Write(&buf, backup.Header{BodySize: int64(len(body)), BodySHA256: sha(body)}, bytes.NewReader(body)))
	_, rep, err := backup.Inspect(writeFile(t, buf.Bytes()))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "the body is not a readable state file")
	assert.Equal(t, backup.CheckRecords, rep.Checks[len(rep.Checks)-1].Name)
}

func TestWrite_RefusesBodyThatDiffersFromHeader(t *testing.T) {
	body := []byte("abc")
	var buf bytes.Buffer
	err := backup.Write(&buf, backup.Header{BodySize: 4, BodySHA256: sha(body)}, bytes.NewReader(body))
	assert.ErrorContains(t, err, "body is 3 bytes, the header says 4")
	err = backup.Write(&buf, backup.Header{BodySize: 3, BodySHA256: sha([]byte("abd"))}, bytes.NewReader(body))
	assert.ErrorContains(t, err, "body SHA-256")
	err = backup.Write(&buf, backup.Header{BodySize: 3}, bytes.NewReader(body))
	assert.ErrorContains(t, err, "body_sha256")
}

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}
