package client

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/certctl/certctl/api/wire"
)

// AuthInfo returns how the cluster authenticates clients; it needs no key.
func (c *Client) AuthInfo(ctx context.Context) (*wire.AuthInfo, error) {
	return get[wire.AuthInfo](ctx, c, apiPath("auth", "info"))
}

// AuthCheck returns nil when the client's key is accepted, and an
// IsUnauthorized error when it is not.
func (c *Client) AuthCheck(ctx context.Context) error {
	var st wire.Status
	return c.do(ctx, http.MethodGet, apiPath("auth", "check"), nil, nil, &st, http.StatusOK)
}

// CreateKey creates an API key of role (admin, operator, viewer, auditor or
// agent; agentID is required for agent and only for it) and returns it with
// its secret, which the server shows this once.
func (c *Client) CreateKey(ctx context.Context, name, role, agentID string) (*wire.APIKeyCreated, error) {
	return create[wire.APIKeyCreated](ctx, c, apiPath("auth", "keys"), wire.CreateKeyRequest{Name: name, Role: role, AgentID: agentID})
}

// ListKeys returns the API keys, revoked ones included, without their
// secrets. A server answering a bare array instead of the list envelope is
// accepted as one page holding every key.
func (c *Client) ListKeys(ctx context.Context, opts ListOptions) (*wire.List[wire.APIKey], error) {
	var raw json.RawMessage
	path := apiPath("auth", "keys")
	if err := c.do(ctx, http.MethodGet, path, opts.query(), nil, &raw, http.StatusOK); err != nil {
		return nil, err
	}
	var l wire.List[wire.APIKey]
	if trimmed := bytes.TrimSpace(raw); len(trimmed) > 0 && trimmed[0] == '[' {
		if err := json.Unmarshal(trimmed, &l.Data); err != nil {
			return nil, fmt.Errorf("certctl: decoding the answer of GET %s: %w", path, err)
		}
		l.Total, l.Page, l.PerPage = len(l.Data), 1, len(l.Data)
	} else if err := json.Unmarshal(raw, &l); err != nil {
		return nil, fmt.Errorf("certctl: decoding the answer of GET %s: %w", path, err)
	}
	if l.Data == nil {
		l.Data = []wire.APIKey{}
	}
	return &l, nil
}

// RevokeKey revokes API key id; it stops working at once.
func (c *Client) RevokeKey(ctx context.Context, id string) error {
	return c.remove(ctx, apiPath("auth", "keys", id))
}
