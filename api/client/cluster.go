package client

import (
	"context"
	"net/http"

	"github.com/certctl/certctl/api/wire"
)

// Cluster returns the answering server's view of the cluster: the leader
// and every member's state and raft progress, as each member reports it.
func (c *Client) Cluster(ctx context.Context) (*wire.ClusterStatus, error) {
	st, err := get[wire.ClusterStatus](ctx, c, apiPath("cluster"))
	if err == nil && st.Members == nil {
		st.Members = []wire.ClusterMember{}
	}
	return st, err
}

// Health returns nil when a server answers GET /health: the process is up.
// It asks each server once, in turn, until one answers.
func (c *Client) Health(ctx context.Context) error {
	var st wire.Status
	return c.exec(ctx, &call{method: http.MethodGet, path: "/health", out: &st, want: []int{http.StatusOK}, once: true})
}

// Ready returns nil when a server answers GET /ready with 200: it knows a
// leader and has applied the log. It asks each server once, in turn, without
// pausing; when none is ready the error is IsUnavailable. To probe one node,
// give the client that node alone.
func (c *Client) Ready(ctx context.Context) error {
	var st wire.Status
	return c.exec(ctx, &call{method: http.MethodGet, path: "/ready", out: &st, want: []int{http.StatusOK}, once: true})
}
