package webserver_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/certctl/certctl/connectors/target"
	"github.com/certctl/certctl/connectors/target/webserver"
)

// filesTarget is a Files target writing all four files into a fresh
// directory.
func filesTarget(t *testing.T) (dir string, config map[string]string) {
	dir = t.TempDir()
	return dir, map[string]string{
		"cert_path": filepath.Join(dir, "cert.pem"), "key_path": filepath.Join(dir, "key.pem"),
		"chain_path": filepath.Join(dir, "chain.pem"), "fullchain_path": filepath.Join(dir, "fullchain.pem"),
	}
}

// allowing are the options of an agent whose allowed_dirs is dir and
// whose allowed_commands are commands.
func allowing(dir string, commands ...string) target.HostOptions {
	return target.HostOptions{AllowedDirs: []string{dir}, Runner: &target.Runner{Allowed: commands}}
}

func TestFiles_Deploy(t *testing.T) {
	p := newPKI(t)
	dir, config := filesTarget(t)
	config = with(config, "cert_mode", "0640", "key_mode", "0640",
		"owner", strconv.Itoa(os.Getuid()), "group", strconv.Itoa(os.Getgid()),
		"validate_command", "echo checked", "reload_command", "echo reloaded")
	conn := webserver.NewFiles(allowing(dir, "echo checked", "echo reloaded"))
	req := p.request(t, config, p.a, p.keyAPath)
	res, err := conn.DeployCertificate(context.Background(), req)
	require.NoError(t, err)
	assert.ElementsMatch(t, []string{config["cert_path"], config["key_path"], config["chain_path"], config["fullchain_path"]}, res.Files)
	assert.Equal(t, "validate_command: checked\nreload_command: reloaded", res.Output)
	assert.Contains(t, res.Message, "reloaded")
	assert.NotContains(t, res.Message+res.Output, "PRIVATE KEY")

	assertContent(t, config["cert_path"], p.a.pem, 0o640)
	assertContent(t, config["chain_path"], p.chainPEM, 0o640)
	assertContent(t, config["fullchain_path"], p.a.pem+p.chainPEM, 0o640)
	assertContent(t, config["key_path"], readKey(t, p.keyAPath), 0o640)
	fi, err := os.Stat(config["key_path"])
	require.NoError(t, err)
	assert.Equal(t, uint32(os.Getuid()), fi.Sys().(*syscall.Stat_t).Uid)

	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	assert.Len(t, entries, 4, "no temporary file left")

	v := validate(t, conn, config, p.a)
	assert.True(t, v.Valid, v.Message)
	assert.Equal(t, "files", v.Method)
	v = validate(t, conn, config, p.b)
	assert.False(t, v.Valid)
	assert.Equal(t, p.a.fp, v.ServedFingerprint)
}

func TestFiles_DefaultModes(t *testing.T) {
	p := newPKI(t)
	old := syscall.Umask(0o077)
	t.Cleanup(func() { syscall.Umask(old) })
	dir, config := filesTarget(t)
	_, err := webserver.NewFiles(allowing(dir)).DeployCertificate(context.Background(), p.request(t, config, p.a, p.keyAPath))
	require.NoError(t, err)
	assertContent(t, config["cert_path"], p.a.pem, 0o644)
	assertContent(t, config["key_path"], readKey(t, p.keyAPath), 0o600)
}

func TestFiles_RollbackRemovesNewFiles(t *testing.T) {
	p := newPKI(t)
	dir, config := filesTarget(t)
	writeFile(t, config["cert_path"], "the operator's old certificate", 0o644)
	conn := webserver.NewFiles(allowing(dir))
	req := p.request(t, config, p.a, p.keyAPath)
	_, err := conn.DeployCertificate(context.Background(), req)
	require.NoError(t, err)

	res, err := conn.Rollback(context.Background(), target.RollbackRequest{Config: req.Config, StateDir: req.StateDir})
	require.NoError(t, err)
	assert.Len(t, res.Files, 4)
	assertContent(t, config["cert_path"], "the operator's old certificate", 0o644)
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	assert.Len(t, entries, 1, "the files the deployment created are gone")
}

func TestFiles_RetryKeepsFirstBackup(t *testing.T) {
	p := newPKI(t)
	dir, config := filesTarget(t)
	writeFile(t, config["cert_path"], "old", 0o644)
	conn := webserver.NewFiles(allowing(dir))
	req := p.request(t, config, p.a, p.keyAPath)
	_, err := conn.DeployCertificate(context.Background(), req)
	require.NoError(t, err)
	// The agent restarted and runs the same deployment again.
	_, err = conn.DeployCertificate(context.Background(), req)
	require.NoError(t, err)
	_, err = conn.Rollback(context.Background(), target.RollbackRequest{Config: req.Config, StateDir: req.StateDir})
	require.NoError(t, err)
	assertContent(t, config["cert_path"], "old", 0o644)
}

// TestFiles_ReloadFailureRestoresAndReloads uses a reload command that
// fails once: the files go back and the reload runs again with them.
func TestFiles_ReloadFailureRestoresAndReloads(t *testing.T) {
	p := newPKI(t)
	dir, config := filesTarget(t)
	writeFile(t, config["cert_path"], "old", 0o644)
	marker := filepath.Join(t.TempDir(), "reloaded-once")
	reload := writeScript(t, "reload.sh", `if [ -e `+marker+` ]; then echo reloaded with the old files; exit 0; fi
touch `+marker+`
echo "app: bad certificate" >&2
exit 2
`)
	config = with(config, "reload_command", reload)
	_, err := webserver.NewFiles(allowing(dir, reload)).DeployCertificate(context.Background(), p.request(t, config, p.a, p.keyAPath))
	var cerr *target.CommandError
	require.ErrorAs(t, err, &cerr)
	assert.Equal(t, "reload_command", cerr.Field)
	assert.Equal(t, 2, cerr.ExitCode)
	assert.Contains(t, err.Error(), "app: bad certificate")
	assert.Contains(t, err.Error(), "restored and reloaded")
	assert.FileExists(t, marker)
	assertContent(t, config["cert_path"], "old", 0o644)
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	assert.Len(t, entries, 1)
}

func TestFiles_ReloadFailsTwice(t *testing.T) {
	p := newPKI(t)
	dir, config := filesTarget(t)
	config = with(config, "reload_command", "false")
	_, err := webserver.NewFiles(allowing(dir, "false")).DeployCertificate(context.Background(), p.request(t, config, p.a, p.keyAPath))
	require.ErrorIs(t, err, target.ErrCommand)
	assert.Contains(t, err.Error(), "reloading with them failed too")
}

func TestFiles_RefusesMismatchedRequest(t *testing.T) {
	p := newPKI(t)
	dir, config := filesTarget(t)
	conn := webserver.NewFiles(allowing(dir))

	req := p.request(t, config, p.a, p.keyAPath)
	req.FingerprintSHA256 = p.b.fp
	_, err := conn.DeployCertificate(context.Background(), req)
	assert.ErrorContains(t, err, "the deployment is for "+p.b.fp)

	req = p.request(t, config, p.a, p.keyAPath)
	req.ChainPEM += readKey(t, p.keyAPath)
	_, err = conn.DeployCertificate(context.Background(), req)
	assert.ErrorContains(t, err, `holds a "EC PRIVATE KEY" block`)
	assert.NotContains(t, err.Error(), readKey(t, p.keyAPath))

	req = p.request(t, with(config, "key_path", ""), p.a, "")
	_, err = conn.DeployCertificate(context.Background(), req)
	require.NoError(t, err, "no key file, no key needed")

	req = p.request(t, config, p.a, "")
	_, err = conn.DeployCertificate(context.Background(), req)
	assert.ErrorContains(t, err, "names no local private key")
}

// TestFiles_RefusesLinkIntoProtectedDir: a directory link inside an
// allowed directory does not lead into the agent's key directory.
func TestFiles_RefusesLinkIntoProtectedDir(t *testing.T) {
	p := newPKI(t)
	allowed := t.TempDir()
	require.NoError(t, os.Symlink(p.keyDir, filepath.Join(allowed, "keys")))
	conn := webserver.NewFiles(target.HostOptions{AllowedDirs: []string{allowed}, ProtectedDirs: []string{p.keyDir}})
	config := map[string]string{"cert_path": filepath.Join(allowed, "keys", "a.key")}
	require.NoError(t, conn.ValidateConfig(context.Background(), rawConfig(t, config)), "the string alone is fine")
	req := p.request(t, config, p.a, p.keyAPath)
	_, err := conn.DeployCertificate(context.Background(), req)
	require.ErrorIs(t, err, target.ErrInvalidConfig)
	assert.Contains(t, err.Error(), "own keys and state")
	assertContent(t, p.keyAPath, readKey(t, p.keyAPath), 0o600)
	assert.NoDirExists(t, req.StateDir)
}

// TestFiles_RefusedByAllowListsWritesAndRunsNothing: a deployment whose
// command or path the agent's allow-lists do not permit fails before
// anything is written, backed up or run: the directory stays empty, no
// backup is made, and a command that would leave a marker file leaves none.
func TestFiles_RefusedByAllowListsWritesAndRunsNothing(t *testing.T) {
	p := newPKI(t)
	touch, err := exec.LookPath("touch")
	require.NoError(t, err)
	markers := t.TempDir()
	allowedMarker, otherMarker := filepath.Join(markers, "allowed"), filepath.Join(markers, "other")
	elsewhere := t.TempDir()
	for _, tc := range []struct {
		name           string
		opts           func(dir string) target.HostOptions
		change         []string
		field, setting string
	}{
		{"nothing allowed", func(string) target.HostOptions { return target.HostOptions{} },
			nil, "key_path", "allowed_dirs"},
		{"no command allowed", func(dir string) target.HostOptions { return allowing(dir) },
			[]string{"reload_command", touch + " " + otherMarker}, "reload_command", "allowed_commands"},
		{"same program, other arguments", func(dir string) target.HostOptions { return allowing(dir, touch+" "+allowedMarker) },
			[]string{"reload_command", touch + " " + otherMarker}, "reload_command", "allowed_commands"},
		{"path outside allowed_dirs", func(dir string) target.HostOptions { return allowing(dir, touch+" "+allowedMarker) },
			[]string{"cert_path", filepath.Join(elsewhere, "cert.pem"), "reload_command", touch + " " + allowedMarker}, "cert_path", "allowed_dirs"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir, config := filesTarget(t)
			config = with(config, tc.change...)
			conn := webserver.NewFiles(tc.opts(dir))
			assert.ErrorIs(t, conn.ValidateConfig(context.Background(), rawConfig(t, config)), target.ErrNotAllowed)
			req := p.request(t, config, p.a, p.keyAPath)
			_, err := conn.DeployCertificate(context.Background(), req)
			var nerr *target.NotAllowedError
			require.ErrorAs(t, err, &nerr)
			assert.Equal(t, tc.field, nerr.Field)
			assert.Equal(t, tc.setting, nerr.Setting)
			assert.Contains(t, err.Error(), "to "+tc.setting)

			for _, d := range []string{dir, elsewhere, markers} {
				entries, err := os.ReadDir(d)
				require.NoError(t, err)
				assert.Empty(t, entries, "nothing written into %s, nothing run", d)
			}
			assert.NoDirExists(t, req.StateDir, "no backup either")
			_, err = conn.Rollback(context.Background(), target.RollbackRequest{Config: req.Config, StateDir: req.StateDir})
			assert.ErrorIs(t, err, target.ErrNotAllowed, "nor on a rollback")
			entries, err := os.ReadDir(markers)
			require.NoError(t, err)
			assert.Empty(t, entries)
		})
	}
}

// TestFiles_PlaceholderCommand: a line with placeholders runs the command
// with the target's own paths, after they are written.
func TestFiles_PlaceholderCommand(t *testing.T) {
	p := newPKI(t)
	cp, err := exec.LookPath("cp")
	require.NoError(t, err)
	dir, config := filesTarget(t)
	copyDir := t.TempDir()
	copied := filepath.Join(copyDir, "copy.pem")
	conn := webserver.NewFiles(allowing(dir, cp+" {fullchain_path} "+copied))
	_, err = conn.DeployCertificate(context.Background(), p.request(t, with(config, "reload_command", "cp "+config["fullchain_path"]+" "+copied), p.a, p.keyAPath))
	require.NoError(t, err)
	assertContent(t, copied, p.a.pem+p.chainPEM, 0o644&^currentUmask())

	// The same line does not run cp on another file of the target.
	_, err = conn.DeployCertificate(context.Background(), p.request(t, with(config, "reload_command", "cp "+config["key_path"]+" "+copied), p.b, p.keyBPath))
	require.ErrorIs(t, err, target.ErrNotAllowed)
	assertContent(t, copied, p.a.pem+p.chainPEM, 0o644&^currentUmask())
}

func currentUmask() os.FileMode {
	m := syscall.Umask(0)
	syscall.Umask(m)
	return os.FileMode(m)
}

func TestFiles_ValidateWithoutCertificateFile(t *testing.T) {
	dir, config := filesTarget(t)
	_, err := webserver.NewFiles(allowing(dir)).ValidateDeployment(context.Background(),
		target.ValidationRequest{Config: rawConfig(t, map[string]string{"key_path": config["key_path"]}), FingerprintSHA256: "00"})
	require.ErrorIs(t, err, target.ErrInvalidConfig)
	assert.Contains(t, err.Error(), "set endpoint")
}

func assertContent(t *testing.T, path, content string, mode os.FileMode) {
	t.Helper()
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, content, string(data), path)
	fi, err := os.Stat(path)
	require.NoError(t, err)
	assert.Equal(t, mode, fi.Mode().Perm(), path)
}

func writeScript(t *testing.T, name, body string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	writeFile(t, path, "#!/bin/sh\n"+body, 0o755)
	return path
}
