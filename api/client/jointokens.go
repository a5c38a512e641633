package client

import (
	"context"
	"strings"
	"time"

	"github.com/certctl/certctl/api/wire"
)

// CreateJoinToken creates a join token that lets up to uses nodes join the
// cluster within ttl (0 for either: the server's default, 1 use for 1 hour)
// and returns it with its secret, which the server shows this once. It needs
// an admin key.
func (c *Client) CreateJoinToken(ctx context.Context, ttl time.Duration, uses int) (*wire.JoinTokenCreated, error) {
	req := wire.CreateJoinTokenRequest{Uses: uses}
	if ttl != 0 {
		req.TTL = shortDuration(ttl)
	}
	return create[wire.JoinTokenCreated](ctx, c, apiPath("cluster", "join-tokens"), req)
}

// ListJoinTokens returns the join tokens, revoked and expired ones included,
// without their secrets.
func (c *Client) ListJoinTokens(ctx context.Context, opts ListOptions) (*wire.List[wire.JoinToken], error) {
	return list[wire.JoinToken](ctx, c, apiPath("cluster", "join-tokens"), opts.query())
}

// RevokeJoinToken revokes join token id: no node joins with it from then on.
func (c *Client) RevokeJoinToken(ctx context.Context, id string) error {
	return c.remove(ctx, apiPath("cluster", "join-tokens", id))
}

// shortDuration writes d as time.ParseDuration reads it, without the zero
// units time.Duration.String adds: "1h", "1h30m", "90s".
func shortDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}
