package client

import (
	"context"

	"github.com/certctl/certctl/api/wire"
)

// ListTargets returns one page of deployment targets.
func (c *Client) ListTargets(ctx context.Context, opts ListOptions) (*wire.List[wire.Target], error) {
	return list[wire.Target](ctx, c, apiPath("targets"), opts.query())
}

// GetTarget returns the target id.
func (c *Client) GetTarget(ctx context.Context, id string) (*wire.Target, error) {
	return get[wire.Target](ctx, c, apiPath("targets", id))
}

// CreateTarget adds a target and returns it as stored; an empty ID lets the server
// choose one.
func (c *Client) CreateTarget(ctx context.Context, v wire.Target) (*wire.Target, error) {
	return create[wire.Target](ctx, c, apiPath("targets"), v)
}

// UpdateTarget replaces target id.
func (c *Client) UpdateTarget(ctx context.Context, id string, v wire.Target) (*wire.Target, error) {
	return update[wire.Target](ctx, c, apiPath("targets", id), v)
}

// DeleteTarget deletes target id.
func (c *Client) DeleteTarget(ctx context.Context, id string) error {
	return c.remove(ctx, apiPath("targets", id))
}
