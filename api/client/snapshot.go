package client

import (
	"context"
	"io"
	"net/http"
	"strconv"
)

// SnapshotMediaType is the media type of a snapshot file.
const SnapshotMediaType = "application/vnd.certctl.snapshot"

// SnapshotRecordsHeader carries the number of records a snapshot holds.
const SnapshotRecordsHeader = "X-Certctl-Snapshot-Records"

// SnapshotStream is a snapshot file as it arrives from the cluster.
type SnapshotStream struct {
	// Body is the file (magic line, header, state), read as it comes.
	Body io.Reader
	// Size is the file's size in bytes, -1 when the server did not say.
	Size int64
	// Records is the number of records the file holds, -1 when unknown.
	Records int64
}

// Snapshot asks the cluster for a snapshot file of the leader's state (GET
// /api/v1/cluster/snapshot, admin only; any member answers, a follower
// relaying the leader) and hands it to read as it streams, never holding it
// in memory. The body is closed when read returns; read's error is
// returned. The call has no total time limit: cancel ctx to stop it.
func (c *Client) Snapshot(ctx context.Context, read func(*SnapshotStream) error) error {
	cl := &call{method: http.MethodGet, path: apiPath("cluster", "snapshot"), accept: SnapshotMediaType, want: []int{http.StatusOK},
		stream: func(resp *http.Response) error {
			s := &SnapshotStream{Body: resp.Body, Size: resp.ContentLength, Records: -1}
			if n, err := strconv.ParseInt(resp.Header.Get(SnapshotRecordsHeader), 10, 64); err == nil && n >= 0 {
				s.Records = n
			}
			return read(s)
		}}
	return c.exec(ctx, cl)
}
