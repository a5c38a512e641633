package api_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/certctl/certctl/api"
	"github.com/certctl/certctl/api/wire"
	"github.com/certctl/certctl/fsm"
	"github.com/certctl/certctl/node/backup"
	"github.com/certctl/certctl/node/nodetest"
)

// fakeSchedule reports a fixed scheduled-snapshot status.
type fakeSchedule struct{ st wire.SnapshotStatus }

func (f fakeSchedule) Status() wire.SnapshotStatus { return f.st }

// checkSnapshot checks a downloaded snapshot file end to end: its header,
// its body's checksum and every record.
func checkSnapshot(t *testing.T, raw []byte) *backup.Header {
	t.Helper()
	path := filepath.Join(t.TempDir(), "got.snap")
	require.NoError(t, os.WriteFile(path, raw, 0o600))
	h, rep, err := backup.Inspect(path)
	require.NoError(t, err, "%+v", rep)
	return h
}

func TestAPI_ClusterSnapshotStreamsTheLeadersState(t *testing.T) {
	e := newEnv(t, api.Config{RateLimit: -1})
	e.propose(t, &fsm.CreateTeam{Team: fsm.Team{ID: "t-snap", Name: "Snap"}})

	a := e.must(t, http.StatusOK, "GET", "/api/v1/cluster/snapshot", nil)
	assert.Equal(t, api.SnapshotMediaType, a.header.Get("Content-Type"))
	assert.Equal(t, strconv.Itoa(len(a.raw)), a.header.Get("Content-Length"))
	h := checkSnapshot(t, a.raw)
	id, _ := e.node.FSM().ClusterID()
	assert.Equal(t, id, h.ClusterID)
	assert.Equal(t, "n1", h.NodeID)
	assert.Equal(t, 1, h.Counts["teams"])
	assert.GreaterOrEqual(t, h.Counts["api_keys"], 1)
	assert.Equal(t, strconv.FormatInt(h.Records(), 10), a.header.Get(api.SnapshotRecordsHeader))
	assert.LessOrEqual(t, h.Index, e.node.FSM().AppliedIndex())
	assert.WithinDuration(t, time.Now(), h.CreatedAt, time.Hour)
	assert.Contains(t, a.header.Get("Content-Disposition"), "certctl-"+id+"-")

	// The whole state: only admins may take it.
	for _, role := range []string{fsm.RoleOperator, fsm.RoleViewer, fsm.RoleAuditor} {
		key := e.bootstrapKey(t, "k-"+role, role, "")
		requireError(t, e.as(t, key, "GET", "/api/v1/cluster/snapshot", nil), http.StatusForbidden, "")
	}
	requireError(t, e.as(t, "", "GET", "/api/v1/cluster/snapshot", nil), http.StatusUnauthorized, "")
}

func TestAPI_ClusterSnapshotThroughAFollowerIsTheLeaders(t *testing.T) {
	st := wire.SnapshotStatus{NodeID: "x", Interval: "6h0m0s", Dir: "/backups", Retain: 7, LastSuccessFile: "/backups/f.snap", Failures: 2}
	c := newAPICluster(t, api.Config{RateLimit: -1, Snapshots: fakeSchedule{st}})
	leader, follower := c.Leader(t), c.Followers()[0]

	req, err := http.NewRequest(http.MethodGet, "https://"+follower.Config.APIAddr+"/api/v1/cluster/snapshot", nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+c.admin)
	res, err := nodetest.HTTPClient(t, follower.Config.DataDir, false).Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, res.StatusCode, "%s", raw)
	h := checkSnapshot(t, raw)
	assert.Equal(t, leader.ID(), h.NodeID, "the leader made it")
	assert.Equal(t, 1, h.Counts["api_keys"])
	assert.Equal(t, 3, h.Counts["members"])

	// A follower's cluster overview carries the leader's scheduled
	// snapshots' outcome.
	req, err = http.NewRequest(http.MethodGet, "https://"+follower.Config.APIAddr+"/api/v1/cluster", nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+c.admin)
	res, err = nodetest.HTTPClient(t, follower.Config.DataDir, false).Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	var cs wire.ClusterStatus
	require.NoError(t, json.NewDecoder(res.Body).Decode(&cs))
	require.NotNil(t, cs.Snapshots)
	assert.Equal(t, st, *cs.Snapshots)
	// Each member reports its own data size.
	require.Len(t, cs.Members, 3)
	for _, m := range cs.Members {
		assert.Positive(t, m.DataSizeBytes, "member %s", m.NodeID)
	}
}

func TestAPI_ScheduledSnapshotStatusInClusterAndMetrics(t *testing.T) {
	ok := time.Date(2026, 5, 1, 6, 0, 0, 0, time.UTC)
	bad := ok.Add(6 * time.Hour)
	st := wire.SnapshotStatus{NodeID: "n1", Interval: "6h0m0s", Dir: "/b", Retain: 7, LastSuccessAt: &ok, LastSuccessFile: "/b/x.snap",
		LastFailureAt: &bad, LastError: "disk full", Failures: 3}
	e := newEnv(t, api.Config{RateLimit: -1, Snapshots: fakeSchedule{st}})
	a := e.must(t, http.StatusOK, "GET", "/api/v1/cluster", nil)
	var cs wire.ClusterStatus
	require.NoError(t, json.Unmarshal(a.raw, &cs))
	require.NotNil(t, cs.Snapshots)
	assert.Equal(t, "disk full", cs.Snapshots.LastError)
	assert.True(t, ok.Equal(*cs.Snapshots.LastSuccessAt))

	m := e.must(t, http.StatusOK, "GET", "/metrics", nil)
	assert.Contains(t, string(m.raw), "certctl_snapshot_last_success_timestamp_seconds "+strconv.FormatFloat(float64(ok.Unix()), 'g', -1, 64))
	assert.True(t, bytes.Contains(m.raw, []byte("certctl_snapshot_failures_total 3")), "%s", m.raw)
	assert.True(t, bytes.Contains(m.raw, []byte("certctl_snapshot_last_failure_timestamp_seconds")))

	// Off: no field, no metric.
	e2 := newEnv(t, api.Config{RateLimit: -1})
	a = e2.must(t, http.StatusOK, "GET", "/api/v1/cluster", nil)
	assert.NotContains(t, string(a.raw), `"snapshots"`)
	assert.NotContains(t, string(e2.must(t, http.StatusOK, "GET", "/metrics", nil).raw), "certctl_snapshot_")
}
