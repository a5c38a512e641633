package client

import (
	"context"

	"github.com/certctl/certctl/api/wire"
)

// ListRenewalPolicies returns one page of renewal policies.
func (c *Client) ListRenewalPolicies(ctx context.Context, opts ListOptions) (*wire.List[wire.RenewalPolicy], error) {
	return list[wire.RenewalPolicy](ctx, c, apiPath("renewal-policies"), opts.query())
}

// GetRenewalPolicy returns the renewal policy id.
func (c *Client) GetRenewalPolicy(ctx context.Context, id string) (*wire.RenewalPolicy, error) {
	return get[wire.RenewalPolicy](ctx, c, apiPath("renewal-policies", id))
}

// CreateRenewalPolicy adds a renewal policy and returns it as stored; an empty ID lets the server
// choose one.
func (c *Client) CreateRenewalPolicy(ctx context.Context, v wire.RenewalPolicy) (*wire.RenewalPolicy, error) {
	return create[wire.RenewalPolicy](ctx, c, apiPath("renewal-policies"), v)
}

// UpdateRenewalPolicy replaces renewal policy id.
func (c *Client) UpdateRenewalPolicy(ctx context.Context, id string, v wire.RenewalPolicy) (*wire.RenewalPolicy, error) {
	return update[wire.RenewalPolicy](ctx, c, apiPath("renewal-policies", id), v)
}

// DeleteRenewalPolicy deletes renewal policy id.
func (c *Client) DeleteRenewalPolicy(ctx context.Context, id string) error {
	return c.remove(ctx, apiPath("renewal-policies", id))
}
