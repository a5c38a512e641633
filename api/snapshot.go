package api

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/certctl/certctl/node"
	"github.com/certctl/certctl/node/backup"
)

// SnapshotMediaType is the media type of a snapshot file.
const SnapshotMediaType = "application/vnd.certctl.snapshot"

// Headers of GET /api/v1/cluster/snapshot besides the file itself.
const (
	// SnapshotRecordsHeader is the number of records the snapshot holds
	// (the sum of its header's counts), for a client's progress.
	SnapshotRecordsHeader = "X-Certctl-Snapshot-Records"
)

// streamIdle bounds how long a snapshot stream may make no progress: each
// write pushes the connection's write deadline this far ahead, so a large
// file is not cut off by the server's WriteTimeout and a stalled reader
// still is.
const streamIdle = 2 * time.Minute

// clusterSnapshot is GET /api/v1/cluster/snapshot: a snapshot file
// (node/backup) of the leader's state, streamed. On the leader, after a
// barrier, the state is copied to a temporary file and hashed (the header
// needs the body's SHA-256 first), then sent; a follower relays the
// leader's answer as it comes, never holding the file.
func (s *Server) clusterSnapshot(c *gin.Context) {
	if !s.cluster.IsLeader() {
		if c.GetHeader(node.ForwardedHeader) != "" {
			fail(c, node.ErrNotLeader) // never forwarded twice
			return
		}
		_, _, apiAddr := s.cluster.Leader()
		if apiAddr == "" {
			fail(c, node.ErrNoLeader)
			return
		}
		s.proxyToLeader(c, apiAddr, 0, &deadlineWriter{ResponseWriter: c.Writer, rc: http.NewResponseController(c.Writer)})
		return
	}
	ctx, cancel := context.WithTimeout(c.Request.Context(), s.cfg.WriteTimeout)
	err := s.cluster.Barrier(ctx)
	cancel()
	if err != nil {
		fail(c, err)
		return
	}
	p, err := backup.Prepare(s.state, s.cfg.SnapshotTempDir, s.cluster.Stats().NodeID, s.cfg.Now())
	if err != nil {
		fail(c, fmt.Errorf("api: take snapshot: %w", err))
		return
	}
	defer p.Close()
	size, err := p.Size()
	if err != nil {
		fail(c, err)
		return
	}
	h := c.Writer.Header()
	h.Set("Content-Type", SnapshotMediaType)
	h.Set("Content-Length", strconv.FormatInt(size, 10))
	h.Set("Content-Disposition", fmt.Sprintf(`attachment; filename="certctl-%s-%d.snap"`, p.Header.ClusterID, p.Header.Index))
	h.Set(SnapshotRecordsHeader, strconv.FormatInt(p.Header.Records(), 10))
	c.Status(http.StatusOK)
	w := &deadlineWriter{ResponseWriter: c.Writer, rc: http.NewResponseController(c.Writer)}
	if _, err := p.WriteTo(w); err != nil {
		// The status is sent: the client sees a short body and refuses it.
		s.cfg.Logger.Warn("snapshot stream ended early", "err", err)
		c.Abort()
	}
}

// deadlineWriter pushes the connection's write deadline streamIdle ahead
// before each write.
type deadlineWriter struct {
	http.ResponseWriter
	rc *http.ResponseController
}

func (w *deadlineWriter) Write(b []byte) (int, error) {
	_ = w.rc.SetWriteDeadline(time.Now().Add(streamIdle))
	return w.ResponseWriter.Write(b)
}

func (w *deadlineWriter) Flush() { _ = w.rc.Flush() }

func (w *deadlineWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

var _ io.Writer = (*deadlineWriter)(nil)
