package main

import (
	"bufio"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/creack/pty"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/certctl/certctl/fsm"
	"github.com/certctl/certctl/node"
)

func addTeam(t *testing.T, n *node.Node, id string) {
	t.Helper()
	cmd, err := fsm.NewCommand(fsm.Meta{Time: time.Now().UTC(), Actor: "test", ActorType: fsm.ActorSystem}, &fsm.CreateTeam{Team: fsm.Team{ID: id, Name: id}})
	require.NoError(t, err)
	_, err = n.Propose(context.Background(), cmd)
	require.NoError(t, err)
}

func hasTeamID(n *node.Node, id string) bool {
	_, err := n.FSM().Team(id)
	return err == nil
}

// TestCLI_SnapshotRestore: unattended without --yes the restore is refused
// before anything is sent; with --yes the file saved earlier replaces the
// state (a team written since is gone); a damaged file is refused by the
// cluster with the check named, the state untouched.
func TestCLI_SnapshotRestore(t *testing.T) {
	url, n := snapshotNode(t)
	file := filepath.Join(t.TempDir(), "backup.snap")
	_, stderr, err := runCLI(t, nil, "--server", url, "snapshot", "save", file)
	require.NoError(t, err, stderr)
	addTeam(t, n, "t-after-save")

	_, _, err = runCLI(t, nil, "--server", url, "snapshot", "restore", file)
	require.Error(t, err)
	assert.True(t, isUsage(err), "%v", err)
	assert.Contains(t, err.Error(), "--yes")
	assert.True(t, hasTeamID(n, "t-after-save"), "nothing restored without --yes")

	raw, err := os.ReadFile(file)
	require.NoError(t, err)
	raw[len(raw)-10] ^= 0xff
	bad := filepath.Join(t.TempDir(), "bad.snap")
	require.NoError(t, os.WriteFile(bad, raw, 0o600))
	_, _, err = runCLI(t, nil, "--server", url, "snapshot", "restore", "--yes", bad)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "checksum check failed")
	assert.True(t, hasTeamID(n, "t-after-save"))

	stdout, stderr, err := runCLI(t, nil, "--server", url, "snapshot", "restore", "--yes", file)
	require.NoError(t, err, stderr)
	assert.Contains(t, stdout, "Restored the snapshot of cluster")
	assert.False(t, hasTeamID(n, "t-after-save"), "the restore took the state back to the save")
}

// TestCLI_SnapshotRestoreAsksOnATerminal: on a terminal restore names both
// clusters and asks; "n" changes nothing, "y" restores.
func TestCLI_SnapshotRestoreAsksOnATerminal(t *testing.T) {
	url, n := snapshotNode(t)
	file := filepath.Join(t.TempDir(), "backup.snap")
	_, stderr, err := runCLI(t, nil, "--server", url, "snapshot", "save", file)
	require.NoError(t, err, stderr)
	id, err := n.FSM().ClusterID()
	require.NoError(t, err)
	addTeam(t, n, "t-after-save")

	for _, answer := range []string{"n", "y"} {
		ptmx, tty, err := pty.Open()
		require.NoError(t, err)
		t.Setenv("CERTCTL_SERVER_URL", "")
		root := newRootCommand()
		root.SetArgs([]string{"--server", url, "snapshot", "restore", file})
		root.SetIn(tty)
		root.SetOut(tty)
		root.SetErr(tty)
		prompt := make(chan string, 1)
		go func() {
			r := bufio.NewReader(ptmx)
			var seen strings.Builder
			for !strings.Contains(seen.String(), "[y/N]") {
				b, err := r.ReadByte()
				if err != nil {
					break
				}
				seen.WriteByte(b)
			}
			prompt <- seen.String()
			_, _ = ptmx.Write([]byte(answer + "\n"))
			_, _ = r.WriteTo(discard{})
		}()
		err = root.Execute()
		screen := <-prompt
		tty.Close()
		ptmx.Close()
		assert.Contains(t, screen, "cluster "+id)
		assert.Contains(t, screen, "Everything written since the snapshot was saved is lost")
		if answer == "n" {
			require.Error(t, err)
			assert.Contains(t, err.Error(), "cancelled")
			assert.True(t, hasTeamID(n, "t-after-save"))
		} else {
			require.NoError(t, err)
			assert.False(t, hasTeamID(n, "t-after-save"))
		}
	}
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }
