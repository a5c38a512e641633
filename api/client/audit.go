package client

import (
	"context"
	"net/url"
	"time"

	"github.com/certctl/certctl/api/wire"
)

// ListAuditOptions filters and pages GET /audit; empty fields do not filter.
// From and To bound the events' timestamps.
type ListAuditOptions struct {
	Actor        string
	ActorType    string
	Action       string
	ResourceType string
	ResourceID   string
	From, To     *time.Time
	Page         int
	PerPage      int
}

func (o ListAuditOptions) query() url.Values {
	q := url.Values{}
	set(q, "actor", o.Actor)
	set(q, "actor_type", o.ActorType)
	set(q, "action", o.Action)
	set(q, "resource_type", o.ResourceType)
	set(q, "resource_id", o.ResourceID)
	setTime(q, "from", o.From)
	setTime(q, "to", o.To)
	setPage(q, o.Page, o.PerPage)
	return q
}

// ListAudit returns one page of audit events.
func (c *Client) ListAudit(ctx context.Context, opts ListAuditOptions) (*wire.List[wire.AuditEvent], error) {
	return list[wire.AuditEvent](ctx, c, apiPath("audit"), opts.query())
}

// GetAuditEvent returns the audit event id.
func (c *Client) GetAuditEvent(ctx context.Context, id string) (*wire.AuditEvent, error) {
	return get[wire.AuditEvent](ctx, c, apiPath("audit", id))
}

// VerifyAudit has the answering server recompute the hash chain of its
// replica of the audit trail. A broken chain is not an error: the answer has
// Valid false and names the first break.
func (c *Client) VerifyAudit(ctx context.Context) (*wire.AuditVerification, error) {
	return get[wire.AuditVerification](ctx, c, apiPath("audit", "verify"))
}
