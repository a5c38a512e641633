package client

import (
	"context"
	"net/http"

	"github.com/certctl/certctl/api/wire"
)

// ListIssuers returns one page of issuers.
func (c *Client) ListIssuers(ctx context.Context, opts ListOptions) (*wire.List[wire.Issuer], error) {
	return list[wire.Issuer](ctx, c, apiPath("issuers"), opts.query())
}

// GetIssuer returns the issuer id.
func (c *Client) GetIssuer(ctx context.Context, id string) (*wire.Issuer, error) {
	return get[wire.Issuer](ctx, c, apiPath("issuers", id))
}

// CreateIssuer adds an issuer (name and type are required).
func (c *Client) CreateIssuer(ctx context.Context, iss wire.Issuer) (*wire.Issuer, error) {
	return create[wire.Issuer](ctx, c, apiPath("issuers"), iss)
}

// UpdateIssuer replaces issuer id.
func (c *Client) UpdateIssuer(ctx context.Context, id string, iss wire.Issuer) (*wire.Issuer, error) {
	return update[wire.Issuer](ctx, c, apiPath("issuers", id), iss)
}

// DeleteIssuer deletes issuer id.
func (c *Client) DeleteIssuer(ctx context.Context, id string) error {
	return c.remove(ctx, apiPath("issuers", id))
}

// TestIssuer asks the server to connect to issuer id; nil means the
// connection succeeded.
func (c *Client) TestIssuer(ctx context.Context, id string) error {
	return c.action(ctx, apiPath("issuers", id, "test"), nil, http.StatusOK)
}
