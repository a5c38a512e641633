package client

import (
	"context"
	"net/http"

	"github.com/certctl/certctl/api/wire"
)

// ListNotifications returns one page of notifications.
func (c *Client) ListNotifications(ctx context.Context, opts ListOptions) (*wire.List[wire.Notification], error) {
	return list[wire.Notification](ctx, c, apiPath("notifications"), opts.query())
}

// GetNotification returns the notification id.
func (c *Client) GetNotification(ctx context.Context, id string) (*wire.Notification, error) {
	return get[wire.Notification](ctx, c, apiPath("notifications", id))
}

// MarkNotificationRead marks notification id as read.
func (c *Client) MarkNotificationRead(ctx context.Context, id string) error {
	return c.action(ctx, apiPath("notifications", id, "read"), nil, http.StatusOK)
}
