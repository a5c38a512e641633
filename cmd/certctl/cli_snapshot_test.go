package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/creack/pty"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/certctl/certctl/api"
	"github.com/certctl/certctl/fsm"
	"github.com/certctl/certctl/node"
	"github.com/certctl/certctl/node/backup"
	"github.com/certctl/certctl/node/nodetest"
)

// snapshotNode starts a one-node cluster with the API in --dev mode (plain
// HTTP on loopback, no keys) holding a few hundred teams, and returns the
// API's URL and the node.
func snapshotNode(t *testing.T) (string, *node.Node) {
	t.Helper()
	url, n := devNode(t, api.Config{})
	ctx, cancel := context.WithTimeout(context.Background(), nodetest.WaitTimeout)
	defer cancel()
	for i := range 300 {
		cmd, err := fsm.NewCommand(fsm.Meta{Time: time.Now().UTC(), Actor: "test", ActorType: fsm.ActorSystem},
			&fsm.CreateTeam{Team: fsm.Team{ID: "t-" + strings.Repeat("x", 40) + "-" + string(rune('a'+i%26)) + time.Duration(i).String(), Name: "team " + time.Duration(i).String(), Description: strings.Repeat("d", 200)}})
		require.NoError(t, err)
		_, err = n.Propose(ctx, cmd)
		require.NoError(t, err)
	}
	return url, n
}

func TestCLI_SnapshotSaveAndInspect(t *testing.T) {
	url, n := snapshotNode(t)
	dir := t.TempDir()
	file := filepath.Join(dir, "backup.snap")
	stdout, stderr, err := runCLI(t, nil, "--server", url, "snapshot", "save", file)
	require.NoError(t, err, stderr)
	assert.Empty(t, stderr, "no progress bar when stderr is not a terminal")
	assert.Contains(t, stdout, "Saved")
	info, err := os.Stat(file)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), info.Mode().Perm())
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	assert.Len(t, entries, 1, "no temporary file left")

	h, _, err := backup.Inspect(file)
	require.NoError(t, err)
	id, _ := n.FSM().ClusterID()
	assert.Equal(t, id, h.ClusterID)
	assert.Equal(t, 300, h.Counts["teams"])

	stdout, _, err = runCLI(t, nil, "snapshot", "inspect", file)
	require.NoError(t, err)
	for _, want := range []string{id, "teams", "300", "checksum", "records"} {
		assert.Contains(t, stdout, want)
	}
	assert.NotContains(t, stdout, "FAILED")

	stdout, _, err = runCLI(t, nil, "snapshot", "inspect", file, "-o", "json")
	require.NoError(t, err)
	var got inspection
	require.NoError(t, json.Unmarshal([]byte(stdout), &got))
	assert.True(t, got.OK)
	assert.Equal(t, h.BodySHA256, got.Header.BodySHA256)
	assert.Len(t, got.Checks, 4)

	// One byte flipped in the body: inspect says which check failed, exits
	// non-zero.
	raw, err := os.ReadFile(file)
	require.NoError(t, err)
	raw[len(raw)-5000] ^= 0xff
	bad := filepath.Join(dir, "bad.snap")
	require.NoError(t, os.WriteFile(bad, raw, 0o600))
	stdout, _, err = runCLI(t, nil, "snapshot", "inspect", bad)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "checksum mismatch")
	assert.Contains(t, stdout, "FAILED")
	stdout, _, err = runCLI(t, nil, "snapshot", "inspect", bad, "-o", "json")
	require.Error(t, err)
	require.NoError(t, json.Unmarshal([]byte(stdout), &got))
	assert.False(t, got.OK)
	assert.Contains(t, got.Error, "checksum")

	_, _, err = runCLI(t, nil, "snapshot", "inspect", filepath.Join(dir, "missing.snap"))
	assert.True(t, isUsage(err), "%v", err)
}

// TestCLI_SnapshotSaveProgressOnATerminalOnly: on a terminal (a pty as
// stdout and stderr) save shows a progress bar with bytes and records;
// piped, the same save writes no bar.
func TestCLI_SnapshotSaveProgressOnATerminalOnly(t *testing.T) {
	url, _ := snapshotNode(t)
	dir := t.TempDir()

	ptmx, tty, err := pty.Open()
	require.NoError(t, err)
	defer ptmx.Close()
	require.NoError(t, pty.Setsize(ptmx, &pty.Winsize{Rows: 24, Cols: 120}))
	var seen bytes.Buffer
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		_, _ = io.Copy(&seen, ptmx) // ends when tty is closed
	}()
	t.Setenv("CERTCTL_SERVER_URL", "")
	root := newRootCommand()
	root.SetArgs([]string{"--server", url, "snapshot", "save", filepath.Join(dir, "tty.snap")})
	root.SetOut(tty)
	root.SetErr(tty)
	require.NoError(t, root.Execute())
	tty.Close()
	wg.Wait()
	screen := seen.String()
	assert.Contains(t, screen, "snapshot, ", "the bar's description: %q", screen)
	assert.Contains(t, screen, " records", "records shown: %q", screen)
	assert.Contains(t, screen, "100%", "the bar completes: %q", screen)
	t.Logf("terminal: %q", screen)
	assert.Contains(t, screen, "kB", "bytes shown: %q", screen)

	// Piped: the same command writes only its summary.
	rOut, wOut, err := os.Pipe()
	require.NoError(t, err)
	rErr, wErr, err := os.Pipe()
	require.NoError(t, err)
	root = newRootCommand()
	root.SetArgs([]string{"--server", url, "snapshot", "save", filepath.Join(dir, "piped.snap")})
	root.SetOut(wOut)
	root.SetErr(wErr)
	var outBuf, errBuf bytes.Buffer
	wg.Add(2)
	go func() { defer wg.Done(); _, _ = io.Copy(&outBuf, rOut) }()
	go func() { defer wg.Done(); _, _ = io.Copy(&errBuf, rErr) }()
	require.NoError(t, root.Execute())
	wOut.Close()
	wErr.Close()
	wg.Wait()
	assert.Empty(t, errBuf.String(), "no progress bar when piped")
	assert.NotContains(t, outBuf.String(), "%")
	assert.Contains(t, outBuf.String(), "Saved")
}
