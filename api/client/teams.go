package client

import (
	"context"

	"github.com/certctl/certctl/api/wire"
)

// ListTeams returns one page of teams.
func (c *Client) ListTeams(ctx context.Context, opts ListOptions) (*wire.List[wire.Team], error) {
	return list[wire.Team](ctx, c, apiPath("teams"), opts.query())
}

// GetTeam returns the team id.
func (c *Client) GetTeam(ctx context.Context, id string) (*wire.Team, error) {
	return get[wire.Team](ctx, c, apiPath("teams", id))
}

// CreateTeam adds a team and returns it as stored; an empty ID lets the server
// choose one.
func (c *Client) CreateTeam(ctx context.Context, v wire.Team) (*wire.Team, error) {
	return create[wire.Team](ctx, c, apiPath("teams"), v)
}

// UpdateTeam replaces team id.
func (c *Client) UpdateTeam(ctx context.Context, id string, v wire.Team) (*wire.Team, error) {
	return update[wire.Team](ctx, c, apiPath("teams", id), v)
}

// DeleteTeam deletes team id.
func (c *Client) DeleteTeam(ctx context.Context, id string) error {
	return c.remove(ctx, apiPath("teams", id))
}
