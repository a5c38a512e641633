package api

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/certctl/certctl/api/wire"
	"github.com/certctl/certctl/node"
	"github.com/gin-gonic/gin"
)

// snapshotRestorePath is the one route whose body is not bounded by
// MaxBodyBytes: it streams a whole snapshot file.
const snapshotRestorePath = "/api/v1/cluster/snapshot/restore"

// restoreTimeout bounds a restore: the upload, the checks and raft's restore
// on every node.
const restoreTimeout = 30 * time.Minute

// restoreSnapshot is POST /api/v1/cluster/snapshot/restore: the body is a
// snapshot file (certctl snapshot save), streamed to the leader, checked
// whole and then restored on every node (node.Node.Restore). A follower
// relays the request, body and all, to the leader as a strong read is
// relayed. ?force_cluster_id=true restores a snapshot of another cluster.
func (s *Server) restoreSnapshot(c *gin.Context) {
	force := false
	if v := c.Query("force_cluster_id"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			fail(c, invalid("force_cluster_id", "force_cluster_id must be true or false"))
			return
		}
		force = b
	}
	// The file may take longer to upload and restore than the server's
	// read and write deadlines allow other requests.
	rc := http.NewResponseController(c.Writer)
	_ = rc.SetReadDeadline(time.Now().Add(restoreTimeout))
	_ = rc.SetWriteDeadline(time.Now().Add(restoreTimeout))
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
		s.proxyToLeader(c, apiAddr, restoreTimeout, c.Writer)
		return
	}
	ctx, cancel := context.WithTimeout(c.Request.Context(), restoreTimeout)
	defer cancel()
	res, err := s.cluster.Restore(ctx, c.Request.Body, node.RestoreOptions{AllowOtherCluster: force})
	if err != nil {
		fail(c, err)
		return
	}
	h := res.Header
	c.JSON(http.StatusOK, wire.SnapshotRestored{ClusterID: h.ClusterID, Index: h.Index, Term: h.Term, NodeID: h.NodeID,
		CreatedAt: h.CreatedAt, SchemaVersion: h.SchemaVersion, Records: h.Records(), RestoredIndex: res.Index})
}
