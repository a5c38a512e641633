package client

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"

	"github.com/certctl/certctl/api/wire"
)

// The methods of this file reach any resource of the API by its path under
// /api/v1 (each part escaped, as apiPath does), in its wire JSON: the CLI's
// commands for teams, owners, issuers, targets, policies, renewal policies
// and notifications are one implementation over a table of those paths, and
// an inventory file (certctl apply) is compared field by field as JSON. The
// typed methods of the other files stay the way to call a known resource.

// ListJSON returns one page of the list at path with the query q (filters,
// page, per_page; nil for none). Data is never nil.
func (c *Client) ListJSON(ctx context.Context, q url.Values, path ...string) (*wire.List[json.RawMessage], error) {
	return list[json.RawMessage](ctx, c, apiPath(path...), q)
}

// GetJSON returns the resource at path as the server sent it.
func (c *Client) GetJSON(ctx context.Context, path ...string) (json.RawMessage, error) {
	var v json.RawMessage
	if err := c.do(ctx, http.MethodGet, apiPath(path...), nil, nil, &v, http.StatusOK); err != nil {
		return nil, err
	}
	return v, nil
}

// CreateJSON POSTs body, a JSON object, to the collection at path and
// returns the created resource (201).
func (c *Client) CreateJSON(ctx context.Context, body json.RawMessage, path ...string) (json.RawMessage, error) {
	var v json.RawMessage
	if err := c.do(ctx, http.MethodPost, apiPath(path...), nil, body, &v, http.StatusCreated); err != nil {
		return nil, err
	}
	return v, nil
}

// UpdateJSON PUTs body, a JSON object, to the resource at path and returns
// it as updated (200).
func (c *Client) UpdateJSON(ctx context.Context, body json.RawMessage, path ...string) (json.RawMessage, error) {
	var v json.RawMessage
	if err := c.do(ctx, http.MethodPut, apiPath(path...), nil, body, &v, http.StatusOK); err != nil {
		return nil, err
	}
	return v, nil
}

// DeleteJSON DELETEs the resource at path (204): a delete, or for a
// certificate an archive.
func (c *Client) DeleteJSON(ctx context.Context, path ...string) error {
	return c.remove(ctx, apiPath(path...))
}

// ActionJSON POSTs, without a body, to the action route at path (such as
// notifications/ID/read) and returns the status it answers.
func (c *Client) ActionJSON(ctx context.Context, path ...string) (*wire.Status, error) {
	var st wire.Status
	if err := c.do(ctx, http.MethodPost, apiPath(path...), nil, nil, &st); err != nil {
		return nil, err
	}
	return &st, nil
}
