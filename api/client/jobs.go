package client

import (
	"context"
	"net/http"
	"net/url"

	"github.com/certctl/certctl/api/wire"
)

// ListJobsOptions filters and pages GET /jobs. Status is a job status and
// Type a job type (any case); empty fields do not filter.
type ListJobsOptions struct {
	Status, Type  string
	Page, PerPage int
}

func (o ListJobsOptions) query() url.Values {
	q := url.Values{}
	set(q, "status", o.Status)
	set(q, "type", o.Type)
	setPage(q, o.Page, o.PerPage)
	return q
}

// ListJobs returns one page of jobs.
func (c *Client) ListJobs(ctx context.Context, opts ListJobsOptions) (*wire.List[wire.Job], error) {
	return list[wire.Job](ctx, c, apiPath("jobs"), opts.query())
}

// GetJob returns the job id.
func (c *Client) GetJob(ctx context.Context, id string) (*wire.Job, error) {
	return get[wire.Job](ctx, c, apiPath("jobs", id))
}

// CancelJob cancels job id; a job that has already finished is an
// IsConflict error.
func (c *Client) CancelJob(ctx context.Context, id string) error {
	return c.action(ctx, apiPath("jobs", id, "cancel"), nil, http.StatusOK)
}
