package api_test

import (
	"bytes"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/certctl/certctl/api"
	"github.com/certctl/certctl/node/backup"
)

// snapshotFile returns a snapshot file of w's state as it is now.
func snapshotFile(t testing.TB, w *world) []byte {
	t.Helper()
	p, err := backup.Prepare(w.node.FSM(), t.TempDir(), w.node.ID(), time.Now())
	require.NoError(t, err)
	defer p.Close()
	var buf bytes.Buffer
	_, err = p.WriteTo(&buf)
	require.NoError(t, err)
	return buf.Bytes()
}

func restoreCases() map[string]routeCase {
	return map[string]routeCase{
		"POST /api/v1/cluster/snapshot/restore": func(t *testing.T, w *world) {
			file := snapshotFile(t, w)
			requireError(t, w.as(t, w.operator, "POST", "/api/v1/cluster/snapshot/restore", file), 403, "")

			// A file larger than any other body is accepted, and checked.
			big := append([]byte("certctl-snapshot 1\n"), bytes.Repeat([]byte(" "), api.MaxBodyBytes+1)...)
			a := w.as(t, w.admin, "POST", "/api/v1/cluster/snapshot/restore", big)
			requireError(t, a, 422, "snapshot")
			assert.Equal(t, "snapshot_refused", a.body["code"])
			assert.Contains(t, a.body["message"], "format check failed")

			flipped := bytes.Clone(file)
			flipped[len(flipped)-100] ^= 0x80
			a = w.as(t, w.admin, "POST", "/api/v1/cluster/snapshot/restore", flipped)
			requireError(t, a, 422, "snapshot")
			assert.Contains(t, a.body["message"], "checksum check failed")

			requireError(t, w.as(t, w.admin, "POST", "/api/v1/cluster/snapshot/restore?force_cluster_id=maybe", file), 400, "force_cluster_id")

			// A team written after the snapshot is gone once it is restored.
			id := w.id("t-")
			w.must(t, 201, "POST", "/api/v1/teams", map[string]any{"id": id, "name": id})
			a = w.must(t, 200, "POST", "/api/v1/cluster/snapshot/restore", file)
			assert.Positive(t, a.body["restored_index"])
			assert.Positive(t, a.body["records"])
			requireError(t, w.as(t, w.admin, "GET", "/api/v1/teams/"+id, nil), 404, "")
		},
	}
}
