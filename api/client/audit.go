package client

import (
	"context"
	"net/url"
	"strconv"
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

// AuditHead returns the head of the answering server's audit chain as of raft
// index atIndex: the last event written at or below it (atIndex 0: the
// server's applied index). A head is one node's: to compare the members of a
// cluster, ask each through ForServer at the same atIndex. An index the
// server has not applied yet is an *APIError with status 409.
func (c *Client) AuditHead(ctx context.Context, atIndex uint64) (*wire.AuditHead, error) {
	q := url.Values{}
	if atIndex > 0 {
		q.Set("at_index", strconv.FormatUint(atIndex, 10))
	}
	var h wire.AuditHead
	if err := c.do(ctx, "GET", apiPath("audit", "head"), q, nil, &h, 200); err != nil {
		return nil, err
	}
	return &h, nil
}
