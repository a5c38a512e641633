package target_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/certctl/certctl/connectors/target"
)

func TestState_WriteThenRead(t *testing.T) {
	type kept struct {
		Profile string   `json:"profile"`
		Certs   []string `json:"certs"`
	}
	dir := t.TempDir()
	got, err := target.ReadState[kept](dir, "previous.json")
	require.NoError(t, err)
	assert.Nil(t, got, "no state: nothing to roll back")

	path, err := target.WriteState(dir, "previous.json", kept{Profile: "/p", Certs: []string{"a", "b"}})
	require.NoError(t, err)
	assert.Equal(t, filepath.Join(dir, "previous.json"), path)
	fi, err := os.Stat(path)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm())

	got, err = target.ReadState[kept](dir, "previous.json")
	require.NoError(t, err)
	assert.Equal(t, &kept{Profile: "/p", Certs: []string{"a", "b"}}, got)

	require.NoError(t, os.WriteFile(path, []byte("{half"), 0o600))
	_, err = target.ReadState[kept](dir, "previous.json")
	assert.ErrorContains(t, err, "rollback state "+path+" is corrupt")
}

func TestState_Kept(t *testing.T) {
	type kept struct {
		Profile string `json:"profile"`
	}
	st, nothing, err := target.KeptState[kept]("", "previous.json")
	require.NoError(t, err)
	assert.Nil(t, st)
	assert.Equal(t, "nothing to roll back: no StateDir", nothing.Message)

	dir := t.TempDir()
	st, nothing, err = target.KeptState[kept](dir, "previous.json")
	require.NoError(t, err)
	assert.Nil(t, st)
	assert.Equal(t, "nothing to roll back: the deployment changed nothing", nothing.Message)

	_, err = target.WriteState(dir, "previous.json", kept{Profile: "/p"})
	require.NoError(t, err)
	st, nothing, err = target.KeptState[kept](dir, "previous.json")
	require.NoError(t, err)
	assert.Nil(t, nothing)
	assert.Equal(t, &kept{Profile: "/p"}, st)

	require.NoError(t, os.WriteFile(filepath.Join(dir, "previous.json"), []byte("{half"), 0o600))
	st, nothing, err = target.KeptState[kept](dir, "previous.json")
	require.Error(t, err)
	assert.Nil(t, st)
	assert.Nil(t, nothing)
}
