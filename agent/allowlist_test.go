package agent

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/certctl/certctl/api/wire"
	"github.com/certctl/certctl/connectors/target"
	"github.com/certctl/certctl/connectors/target/webserver"
)

// allowRig is an agent whose Files targets are the real connector, under
// allow-lists: allowed_dirs is dir alone, allowed_commands the line that
// touches the marker "allowed" in markers.
type allowRig struct {
	*rig
	dir, markers, allowedCmd string
}

func newAllowRig(t *testing.T) *allowRig {
	t.Helper()
	base := t.TempDir()
	touch, err := exec.LookPath("touch")
	require.NoError(t, err)
	r := &allowRig{rig: &rig{cluster: newFakeCluster(t), keyDir: filepath.Join(base, "keys"), state: filepath.Join(base, "state")},
		dir: filepath.Join(base, "www"), markers: filepath.Join(base, "markers")}
	require.NoError(t, os.Mkdir(r.dir, 0o755))
	require.NoError(t, os.Mkdir(r.markers, 0o755))
	r.allowedCmd = touch + " " + filepath.Join(r.markers, "allowed")
	reg := target.NewRegistry()
	require.NoError(t, reg.Register("Files", webserver.NewFiles(target.HostOptions{
		AllowedDirs:   []string{r.dir},
		ProtectedDirs: []string{r.keyDir, r.state},
		Runner:        &target.Runner{Allowed: []string{r.allowedCmd}},
	})))
	r.agent, err = New(Config{AgentID: "ag-web", Hostname: "web1", Version: "test", KeyDir: r.keyDir, StateDir: r.state,
		API: r.cluster, Targets: reg, JobTimeout: 10 * time.Second, ShutdownGrace: time.Second})
	require.NoError(t, err)
	return r
}

// deploy runs a renewal whose deployment goes to a Files target of config,
// and returns the deployment's report.
func (r *allowRig) deploy(t *testing.T, n int, config map[string]string) wire.JobStatusRequest {
	t.Helper()
	raw, err := json.Marshal(config)
	require.NoError(t, err)
	r.cluster.add(csrJob("job-csr-"+strconv.Itoa(n), "mc-web", ""))
	r.poll(t)
	job := deployJob("job-dep-"+strconv.Itoa(n), "mc-web")
	job.TargetType, job.TargetConfig = "Files", raw
	r.cluster.add(job)
	r.poll(t)
	reports := r.cluster.reports(job.ID)
	require.Len(t, reports, 1)
	return reports[0]
}

func (r *allowRig) assertNothingWrittenOrRun(t *testing.T, elsewhere string) {
	t.Helper()
	for _, d := range []string{r.dir, r.markers, elsewhere} {
		entries, err := os.ReadDir(d)
		require.NoError(t, err)
		assert.Empty(t, entries, "nothing written into %s, and no command run", d)
	}
	assertJournalEmpty(t, r.state)
}

// TestAgent_AllowListRefusalFailsTheJob: a deployment whose reload command
// no line of allowed_commands holds whole (the same program with other
// arguments), or whose path is outside allowed_dirs, is reported Failed
// with the setting to change and the value to add; nothing is written,
// backed up or run, and the key made for it is not put in service. The
// same target within the lists deploys, writes and runs.
func TestAgent_AllowListRefusalFailsTheJob(t *testing.T) {
	r := newAllowRig(t)
	elsewhere := t.TempDir()
	other := filepath.Join(r.markers, "other")
	touch, err := exec.LookPath("touch")
	require.NoError(t, err)
	for i, tc := range []struct {
		config []string
		want   []string
	}{
		{[]string{"cert_path", filepath.Join(r.dir, "cert.pem"), "reload_command", touch + " " + other},
			[]string{`reload_command "` + touch + " " + other + `" is not allowed on this agent`,
				"matches no command line of allowed_commands (" + r.allowedCmd + ")",
				`add "` + touch + " " + other + `" to allowed_commands`}},
		{[]string{"cert_path", filepath.Join(elsewhere, "cert.pem"), "reload_command", r.allowedCmd},
			[]string{`cert_path "` + filepath.Join(elsewhere, "cert.pem") + `" is not allowed on this agent`,
				"outside every directory of allowed_dirs (" + r.dir + ")",
				`add "` + elsewhere + `" to allowed_dirs`}},
	} {
		config := map[string]string{}
		for k := 0; k < len(tc.config); k += 2 {
			config[tc.config[k]] = tc.config[k+1]
		}
		rep := r.deploy(t, i, config)
		assert.Equal(t, wire.JobFailed, rep.Status)
		for _, want := range tc.want {
			assert.Contains(t, rep.Error, want)
		}
		r.assertNothingWrittenOrRun(t, elsewhere)
		assert.NoFileExists(t, filepath.Join(r.keyDir, "mc-web.key"), "the key of a refused deployment is not put in service")
	}

	rep := r.deploy(t, 9, map[string]string{"cert_path": filepath.Join(r.dir, "cert.pem"), "reload_command": r.allowedCmd})
	require.Equal(t, wire.JobCompleted, rep.Status, rep.Error)
	assert.FileExists(t, filepath.Join(r.dir, "cert.pem"))
	assert.FileExists(t, filepath.Join(r.markers, "allowed"), "the allowed command ran")
	assert.NoFileExists(t, other)
	assert.FileExists(t, filepath.Join(r.keyDir, "mc-web.key"))
}
