package e2e

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/certctl/certctl/api/wire"
	"github.com/certctl/certctl/internal/pgtest"
)

// syncBuffer is a bytes.Buffer safe for a process's output and the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// follower is a running `certctl export postgres --follow`.
type follower struct {
	cmd  *exec.Cmd
	out  *syncBuffer
	done chan error
}

func startFollower(t testing.TB, args ...string) *follower {
	t.Helper()
	cmd := exec.Command(certctlBin, args...)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "CERTCTL_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	f := &follower{cmd: cmd, out: &syncBuffer{}, done: make(chan error, 1)}
	cmd.Stdout, cmd.Stderr = f.out, f.out
	require.NoError(t, cmd.Start())
	go func() { f.done <- cmd.Wait() }()
	t.Cleanup(func() { f.stop(t) })
	return f
}

// stop sends SIGTERM and waits (bounded) for a clean exit.
func (f *follower) stop(t testing.TB) {
	t.Helper()
	if f.cmd.ProcessState != nil {
		return
	}
	_ = f.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-f.done:
		assert.NoError(t, err, "export --follow did not exit cleanly:\n%s", f.out.String())
	case <-time.After(20 * time.Second):
		_ = f.cmd.Process.Kill()
		<-f.done
		t.Errorf("export --follow did not stop within 20s of SIGTERM:\n%s", f.out.String())
	}
}

// TestExport_FollowKeepsDatabaseInStep runs `certctl export postgres
// --follow` against a cluster and a real PostgreSQL: a new, an updated and
// an archived certificate reach the database; then the follower and the
// cluster stop, the cluster changes and restarts, and the restarted follower
// catches up from the index it recorded, writing only the difference.
func TestExport_FollowKeepsDatabaseInStep(t *testing.T) {
	skipShort(t)
	pg := pgtest.Start(t)
	c := NewCluster(t, certctlBin)
	c.Start(1)
	leader := c.WaitLeader()
	f := c.Seed(leader)
	api := c.APIClient(AdminKey)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	create := func(id string) {
		t.Helper()
		cert := f.NewCertificate(id)
		_, err := api.CreateCertificate(ctx, wire.Certificate{ID: cert.ID, Name: cert.Name, CommonName: cert.CommonName, SANs: cert.SANs,
			Environment: cert.Environment, OwnerID: cert.OwnerID, TeamID: cert.TeamID, IssuerID: cert.IssuerID, Tags: cert.Tags})
		require.NoError(t, err)
	}
	for i := range 50 {
		create(fmt.Sprintf("mc-exp-%03d", i))
	}

	dir := t.TempDir()
	dsnFile := filepath.Join(dir, "export.dsn")
	require.NoError(t, os.WriteFile(dsnFile, []byte(pg.CreateDB("follow")+"\n"), 0o600))
	metrics, err := FreeAddr()
	require.NoError(t, err)
	args := []string{"--server", leader.URL(), "--ca-file", c.CAFile(), "--api-key", AdminKey,
		"export", "postgres", "--dsn-file", dsnFile, "--follow", "--state-dir", filepath.Join(dir, "state"),
		"--interval", "200ms", "--metrics-addr", metrics}
	fol := startFollower(t, args...)
	query := func(sql string) string { return strings.TrimSpace(pg.Psql("follow", "-c", sql)) }
	waitFor := func(what, sql, want string) {
		t.Helper()
		err := WaitFor(60*time.Second, func(context.Context) error {
			out, err := pg.PsqlErr("follow", "-c", sql)
			if got := strings.TrimSpace(out); err != nil || got != want {
				return fmt.Errorf("%s: got %q, want %q (%v)", what, got, want, err)
			}
			return nil
		})
		require.NoError(t, err, "export output:\n%s", fol.out.String())
	}
	waitFor("first sync", "SELECT count(*) FROM managed_certificates", "50")

	// A new, an updated and an archived certificate.
	create("mc-exp-new")
	cert, err := api.GetCertificate(ctx, "mc-exp-001")
	require.NoError(t, err)
	cert.Tags = map[string]string{"suite": "e2e", "changed": "yes"}
	_, err = api.UpdateCertificate(ctx, cert.ID, *cert)
	require.NoError(t, err)
	require.NoError(t, api.ArchiveCertificate(ctx, "mc-exp-002"))
	waitFor("new", "SELECT common_name FROM managed_certificates WHERE id = 'mc-exp-new'", "mc-exp-new.example.com")
	waitFor("updated", "SELECT tags->>'changed' FROM managed_certificates WHERE id = 'mc-exp-001'", "yes")
	waitFor("archived", "SELECT status FROM managed_certificates WHERE id = 'mc-exp-002'", "Archived")

	// The lag metric is served on the loopback listener.
	resp, err := http.Get("http://" + metrics + "/metrics")
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.Contains(t, string(body), "certctl_export_lag_seconds")
	assert.Contains(t, string(body), "certctl_export_raft_index")

	// Both sides stop; the cluster changes and restarts; the follower
	// catches up from the index it recorded.
	fol.stop(t)
	before := query("SELECT raft_index FROM certctl_export")
	create("mc-exp-while-away")
	c.Stop(leader)
	c.Restart(leader)
	leader = c.WaitLeader()
	create("mc-exp-after-restart")
	require.NoError(t, api.ArchiveCertificate(ctx, "mc-exp-003"))
	fol = startFollower(t, args...)
	waitFor("caught up: while away", "SELECT count(*) FROM managed_certificates WHERE id IN ('mc-exp-while-away', 'mc-exp-after-restart')", "2")
	waitFor("caught up: archived", "SELECT status FROM managed_certificates WHERE id = 'mc-exp-003'", "Archived")
	assert.NotEqual(t, before, query("SELECT raft_index FROM certctl_export"))
	fol.stop(t)
	assert.Contains(t, fol.out.String(), "full=false", "the restarted follower should write the difference from its recorded index:\n%s", fol.out.String())
	assert.NotContains(t, fol.out.String(), "full=true")
	assert.Equal(t, query("SELECT count(*) FROM managed_certificates"), "53")
}

// TestExport_SQLScriptMatchesDirectExport exports one saved snapshot both
// ways through the CLI: `psql -f` of the script gives the rows the direct
// export wrote. A non-admin key is refused the export.
func TestExport_SQLScriptMatchesDirectExport(t *testing.T) {
	skipShort(t)
	pg := pgtest.Start(t)
	c := NewCluster(t, certctlBin)
	c.Start(1)
	leader := c.WaitLeader()
	f := c.Seed(leader)
	api := c.APIClient(AdminKey)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for i := range 20 {
		cert := f.NewCertificate(fmt.Sprintf("mc-sql-%03d", i))
		_, err := api.CreateCertificate(ctx, wire.Certificate{ID: cert.ID, Name: cert.Name, CommonName: cert.CommonName, SANs: cert.SANs,
			Environment: cert.Environment, OwnerID: cert.OwnerID, TeamID: cert.TeamID, IssuerID: cert.IssuerID, Tags: cert.Tags})
		require.NoError(t, err)
	}
	dir := t.TempDir()
	global := []string{"--server", leader.URL(), "--ca-file", c.CAFile(), "--api-key", AdminKey}
	snap := filepath.Join(dir, "state.snap")
	runCLI(t, append(global, "snapshot", "save", snap)...).requireCode(t, 0)

	runCLI(t, append(global, "export", "postgres", "--snapshot", snap, "--dsn", pg.CreateDB("direct"))...).requireCode(t, 0)
	script := filepath.Join(dir, "export.sql")
	runCLI(t, append(global, "export", "sql", "--snapshot", snap, "--out", script)...).requireCode(t, 0)
	info, err := os.Stat(script)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), info.Mode().Perm())
	pg.CreateDB("script")
	pg.Psql("script", "-f", script)
	for _, table := range []string{"teams", "owners", "issuers", "managed_certificates", "audit_events", "certctl_export"} {
		sql := fmt.Sprintf("COPY (SELECT * FROM %s ORDER BY 1) TO STDOUT", table)
		if table == "certctl_export" {
			sql = "SELECT cluster_id, raft_index FROM certctl_export"
		}
		direct := pg.Psql("direct", "-c", sql)
		assert.NotEmpty(t, direct, table)
		assert.Equal(t, direct, pg.Psql("script", "-c", sql), table)
	}

	// Straight from the cluster too, and only for admin keys.
	runCLI(t, append(global, "export", "postgres", "--dsn", pg.CreateDB("live"))...).requireCode(t, 0)
	assert.Equal(t, "20", strings.TrimSpace(pg.Psql("live", "-c", "SELECT count(*) FROM managed_certificates")))
	viewer, err := api.CreateKey(ctx, "export viewer", "viewer", "")
	require.NoError(t, err)
	r := runCLI(t, "--server", leader.URL(), "--ca-file", c.CAFile(), "--api-key", viewer.APIKey, "export", "sql", "--out", filepath.Join(dir, "viewer.sql"))
	assert.NotEqual(t, 0, r.code)
	assert.Contains(t, r.stderr, "role")
	_, err = os.Stat(filepath.Join(dir, "viewer.sql"))
	assert.True(t, os.IsNotExist(err), "a refused export must leave no file")
}
