package target_test

import (
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/certctl/certctl/connectors/target"
)

func TestWriteFileAtomic_Modes(t *testing.T) {
	old := syscall.Umask(0o077) // the mode is the config's, whatever the umask
	t.Cleanup(func() { syscall.Umask(old) })
	dir := t.TempDir()
	for _, mode := range []fs.FileMode{0o644, 0o600, 0o640, 0o444} {
		p := filepath.Join(dir, "f-"+mode.String())
		require.NoError(t, target.WriteFileAtomic(target.File{Path: p, Data: []byte("one"), Mode: mode, UID: -1, GID: -1}))
		require.NoError(t, target.WriteFileAtomic(target.File{Path: p, Data: []byte("two"), Mode: mode, UID: -1, GID: -1}), "replaces")
		assertFile(t, p, "two", mode)
	}
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	assert.Len(t, entries, 4, "no temporary file left behind")
}

func TestWriteFileAtomic_Owner(t *testing.T) {
	p := filepath.Join(t.TempDir(), "key.pem")
	uid, gid := os.Getuid(), os.Getgid()
	// Its own ids are always allowed, privileged or not.
	require.NoError(t, target.WriteFileAtomic(target.File{Path: p, Data: []byte("k"), Mode: 0o600, UID: uid, GID: gid}))
	fi, err := os.Stat(p)
	require.NoError(t, err)
	st := fi.Sys().(*syscall.Stat_t)
	assert.Equal(t, uint32(uid), st.Uid)
	assert.Equal(t, uint32(gid), st.Gid)
	if uid == 0 {
		require.NoError(t, target.WriteFileAtomic(target.File{Path: p, Data: []byte("k"), Mode: 0o640, UID: 65534, GID: 65534}))
		fi, err := os.Stat(p)
		require.NoError(t, err)
		assert.Equal(t, uint32(65534), fi.Sys().(*syscall.Stat_t).Uid)
		assert.Equal(t, uint32(65534), fi.Sys().(*syscall.Stat_t).Gid)
	}
}

func TestWriteFileAtomic_ReplacesLinkNotItsTarget(t *testing.T) {
	dir := t.TempDir()
	victim := filepath.Join(dir, "victim")
	require.NoError(t, os.WriteFile(victim, []byte("keep"), 0o600))
	link := filepath.Join(dir, "cert.pem")
	require.NoError(t, os.Symlink(victim, link))
	require.NoError(t, target.WriteFileAtomic(target.File{Path: link, Data: []byte("new"), Mode: 0o644, UID: -1, GID: -1}))
	assertFile(t, victim, "keep", 0o600)
	assertFile(t, link, "new", 0o644)
}

func TestWriteFileAtomic_MissingDirectory(t *testing.T) {
	err := target.WriteFileAtomic(target.File{Path: filepath.Join(t.TempDir(), "nope", "cert.pem"), Mode: 0o644, UID: -1, GID: -1})
	assert.ErrorIs(t, err, fs.ErrNotExist)
}

func TestBackupRestore(t *testing.T) {
	dir, state := t.TempDir(), filepath.Join(t.TempDir(), "state")
	cert, key, fresh := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem"), filepath.Join(dir, "chain.pem")
	require.NoError(t, os.WriteFile(cert, []byte("old cert"), 0o644))
	require.NoError(t, os.WriteFile(key, []byte("old key"), 0o600))
	require.NoError(t, os.Chmod(key, 0o640))

	require.NoError(t, target.Backup(state, []string{cert, key, fresh}))
	fi, err := os.Stat(state)
	require.NoError(t, err)
	assert.Equal(t, fs.FileMode(0o700), fi.Mode().Perm())
	copies, err := filepath.Glob(filepath.Join(state, "backup-*"))
	require.NoError(t, err)
	assert.Len(t, copies, 2, "a file that did not exist has no copy")
	for _, c := range copies {
		fi, err := os.Stat(c)
		require.NoError(t, err)
		assert.Equal(t, fs.FileMode(0o600), fi.Mode().Perm(), "copies are private: one is a key")
	}

	for _, p := range []string{cert, key, fresh} {
		require.NoError(t, target.WriteFileAtomic(target.File{Path: p, Data: []byte("new"), Mode: 0o666, UID: -1, GID: -1}))
	}
	// A retried deployment backs up again: the new files must not
	// overwrite what was saved.
	require.NoError(t, target.Backup(state, []string{cert, key, fresh}))

	restored, found, err := target.Restore(state)
	require.NoError(t, err)
	assert.True(t, found)
	assert.ElementsMatch(t, []string{cert, key, fresh}, restored)
	assertFile(t, cert, "old cert", 0o644)
	assertFile(t, key, "old key", 0o640)
	assert.NoFileExists(t, fresh, "a file the deployment created is removed")

	_, _, err = target.Restore(state)
	require.NoError(t, err, "restoring twice is restoring once")
	assertFile(t, cert, "old cert", 0o644)
	assert.NoFileExists(t, fresh)
}

func TestBackup_AddsPathsNotYetSaved(t *testing.T) {
	dir, state := t.TempDir(), t.TempDir()
	a, b := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	require.NoError(t, os.WriteFile(a, []byte("old a"), 0o644))
	require.NoError(t, os.WriteFile(b, []byte("old b"), 0o644))
	require.NoError(t, target.Backup(state, []string{a}))
	require.NoError(t, os.WriteFile(a, []byte("new a"), 0o644))
	require.NoError(t, target.Backup(state, []string{a, b}))
	require.NoError(t, os.WriteFile(b, []byte("new b"), 0o644))
	_, _, err := target.Restore(state)
	require.NoError(t, err)
	assertFile(t, a, "old a", 0o644)
	assertFile(t, b, "old b", 0o644)
}

func TestBackupRestore_SymbolicLink(t *testing.T) {
	dir, state := t.TempDir(), t.TempDir()
	real := filepath.Join(dir, "live-1.pem")
	link := filepath.Join(dir, "cert.pem")
	require.NoError(t, os.WriteFile(real, []byte("live"), 0o644))
	require.NoError(t, os.Symlink("live-1.pem", link))
	require.NoError(t, target.Backup(state, []string{link}))
	require.NoError(t, target.WriteFileAtomic(target.File{Path: link, Data: []byte("new"), Mode: 0o644, UID: -1, GID: -1}))
	_, _, err := target.Restore(state)
	require.NoError(t, err)
	dest, err := os.Readlink(link)
	require.NoError(t, err)
	assert.Equal(t, "live-1.pem", dest)
	assertFile(t, real, "live", 0o644)
}

func TestRestore_NoBackup(t *testing.T) {
	restored, found, err := target.Restore(t.TempDir())
	require.NoError(t, err)
	assert.False(t, found)
	assert.Empty(t, restored)
}

func TestBackup_RefusesDirectory(t *testing.T) {
	err := target.Backup(t.TempDir(), []string{t.TempDir()})
	assert.ErrorContains(t, err, "not a regular file")
}

func TestParseMode(t *testing.T) {
	for s, want := range map[string]fs.FileMode{"": 0o640, "0644": 0o644, "600": 0o600, "0": 0, "0777": 0o777} {
		m, err := target.ParseMode("cert_mode", s, 0o640)
		require.NoError(t, err, s)
		assert.Equal(t, want, m, s)
	}
	for _, s := range []string{"rw-r--r--", "0888", "4755", "01777", "-1", "0x1a4"} {
		_, err := target.ParseMode("key_mode", s, 0o600)
		assert.ErrorContains(t, err, "key_mode", s)
	}
}

func TestOwnership(t *testing.T) {
	uid, gid, err := target.Ownership{}.IDs()
	require.NoError(t, err)
	assert.Equal(t, -1, uid)
	assert.Equal(t, -1, gid)

	uid, gid, err = target.Ownership{Owner: "0", Group: "root"}.IDs()
	require.NoError(t, err)
	assert.Equal(t, 0, uid)
	assert.Equal(t, 0, gid)

	_, _, err = target.Ownership{Owner: "no-such-user-certctl"}.IDs()
	assert.ErrorContains(t, err, "owner")

	assert.NoError(t, target.Ownership{Owner: "www-data", Group: "ssl-cert"}.Check())
	assert.ErrorContains(t, target.Ownership{Owner: "www data"}.Check(), "owner")
	assert.ErrorContains(t, target.Ownership{Group: "../etc"}.Check(), "group")
}

func assertFile(t *testing.T, p, content string, mode fs.FileMode) {
	t.Helper()
	data, err := os.ReadFile(p)
	require.NoError(t, err)
	assert.Equal(t, content, string(data), p)
	fi, err := os.Stat(p)
	require.NoError(t, err)
	assert.Equal(t, mode, fi.Mode().Perm(), p)
}
