package client

import (
	"context"

	"github.com/certctl/certctl/api/wire"
)

// ListPolicies returns one page of policy rules.
func (c *Client) ListPolicies(ctx context.Context, opts ListOptions) (*wire.List[wire.PolicyRule], error) {
	return list[wire.PolicyRule](ctx, c, apiPath("policies"), opts.query())
}

// GetPolicy returns the policy rule id.
func (c *Client) GetPolicy(ctx context.Context, id string) (*wire.PolicyRule, error) {
	return get[wire.PolicyRule](ctx, c, apiPath("policies", id))
}

// CreatePolicy adds a policy rule and returns it as stored; an empty ID lets the server
// choose one.
func (c *Client) CreatePolicy(ctx context.Context, v wire.PolicyRule) (*wire.PolicyRule, error) {
	return create[wire.PolicyRule](ctx, c, apiPath("policies"), v)
}

// UpdatePolicy replaces policy rule id.
func (c *Client) UpdatePolicy(ctx context.Context, id string, v wire.PolicyRule) (*wire.PolicyRule, error) {
	return update[wire.PolicyRule](ctx, c, apiPath("policies", id), v)
}

// DeletePolicy deletes policy rule id.
func (c *Client) DeletePolicy(ctx context.Context, id string) error {
	return c.remove(ctx, apiPath("policies", id))
}

// ListPolicyViolations returns the violations of policy rule ruleID.
func (c *Client) ListPolicyViolations(ctx context.Context, ruleID string) (*wire.List[wire.PolicyViolation], error) {
	return list[wire.PolicyViolation](ctx, c, apiPath("policies", ruleID, "violations"), nil)
}
