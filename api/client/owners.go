package client

import (
	"context"
	"net/url"

	"github.com/certctl/certctl/api/wire"
)

// ListOwnersOptions filters and pages GET /owners; an empty TeamID does not
// filter.
type ListOwnersOptions struct {
	TeamID        string
	Page, PerPage int
}

func (o ListOwnersOptions) query() url.Values {
	q := url.Values{}
	set(q, "team_id", o.TeamID)
	setPage(q, o.Page, o.PerPage)
	return q
}

// ListOwners returns one page of owners.
func (c *Client) ListOwners(ctx context.Context, opts ListOwnersOptions) (*wire.List[wire.Owner], error) {
	return list[wire.Owner](ctx, c, apiPath("owners"), opts.query())
}

// GetOwner returns the owner id.
func (c *Client) GetOwner(ctx context.Context, id string) (*wire.Owner, error) {
	return get[wire.Owner](ctx, c, apiPath("owners", id))
}

// CreateOwner adds a owner and returns it as stored; an empty ID lets the server
// choose one.
func (c *Client) CreateOwner(ctx context.Context, v wire.Owner) (*wire.Owner, error) {
	return create[wire.Owner](ctx, c, apiPath("owners"), v)
}

// UpdateOwner replaces owner id.
func (c *Client) UpdateOwner(ctx context.Context, id string, v wire.Owner) (*wire.Owner, error) {
	return update[wire.Owner](ctx, c, apiPath("owners", id), v)
}

// DeleteOwner deletes owner id.
func (c *Client) DeleteOwner(ctx context.Context, id string) error {
	return c.remove(ctx, apiPath("owners", id))
}
