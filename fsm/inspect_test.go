package fsm_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/certctl/certctl/fsm"
	"github.com/certctl/certctl/fsm/fsmtest"
)

// TestFSM_WriteStateAndInspectFileAgree: the summary WriteState takes with
// its copy is the one InspectFile recomputes from the copy, and the counts
// of the fourteen tables are Counts'.
func TestFSM_WriteStateAndInspectFileAgree(t *testing.T) {
	f := fsmtest.OpenKeyed(t)
	l := fsmtest.NewLog(t, f)
	l.Must(&fsm.InitCluster{ClusterID: "cl-inspect"})
	fsmtest.Seed(l)
	l.Must(&fsm.CreateAPIKey{Key: fsmtest.APIKey("key-1", fsm.RoleAdmin, "", 1)})

	path := filepath.Join(t.TempDir(), "copy.db")
	out, err := os.Create(path)
	require.NoError(t, err)
	wrote, err := f.WriteState(out)
	require.NoError(t, err)
	require.NoError(t, out.Close())

	read, err := fsm.InspectFile(path)
	require.NoError(t, err)
	assert.Equal(t, wrote, read)
	assert.Equal(t, "cl-inspect", read.ClusterID)
	assert.Equal(t, f.AppliedIndex(), read.AppliedIndex)
	assert.Equal(t, 1, read.Counts["api_keys"])
	assert.Equal(t, 0, read.Counts["join_tokens"], "every counted table is listed, empty ones too")
	assert.EqualValues(t, fsmtest.SeedAuditEvents+2, read.AuditSeq)
	counts, err := f.Counts()
	require.NoError(t, err)
	for table, n := range counts {
		assert.Equal(t, n, read.Counts[table], table)
	}
}
