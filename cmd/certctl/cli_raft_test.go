package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestRecoverConfig(t *testing.T) {
	dir := t.TempDir()
	kek := filepath.Join(dir, "kek")
	require.NoError(t, os.WriteFile(kek, []byte("000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\n"), 0o600))
	write := func(body string) string {
		p := filepath.Join(t.TempDir(), "certctl.yaml")
		require.NoError(t, os.WriteFile(p, []byte(body), 0o600))
		return p
	}

	// What the server would use: the defaults for keys the file leaves out.
	rc, err := recoverConfig(write("kek_file: "+kek+"\n"), "", "")
	require.NoError(t, err)
	assert.Equal(t, "/var/lib/certctl", rc.DataDir)
	assert.Equal(t, "127.0.0.1:8300", rc.RaftAddr)
	assert.Empty(t, rc.NodeID, "node.json names the node when the file does not")
	assert.Len(t, rc.AuditKey, 32)

	rc, err = recoverConfig(write("node_id: n2\ndata_dir: /srv/a\nraft_addr: 0.0.0.0:8300\nadvertise_addr: 10.0.0.2:8300\n"), "/srv/b", "")
	require.NoError(t, err)
	assert.Equal(t, "/srv/b", rc.DataDir, "--data-dir beats the file")
	assert.Equal(t, "10.0.0.2:8300", rc.RaftAddr, "the advertised address")
	assert.Equal(t, "n2", rc.NodeID)
	assert.Empty(t, rc.AuditKey)

	rc, err = recoverConfig("", "/srv/c", kek)
	require.NoError(t, err)
	assert.Equal(t, "", rc.RaftAddr, "without a file: the address the log gives the node")
	assert.Len(t, rc.AuditKey, 32)

	_, err = recoverConfig("", "", "")
	var ue usageError
	require.ErrorAs(t, err, &ue)
	assert.Contains(t, err.Error(), "--data-dir")
	_, err = recoverConfig(write("no_such_key: 1\n"), "", "")
	require.ErrorAs(t, err, &ue)
	_, err = recoverConfig("", "/srv/c", filepath.Join(dir, "missing"))
	require.ErrorAs(t, err, &ue)
	assert.Contains(t, err.Error(), "--kek-file")
}
