package client

import (
	"context"
	"net/http"

	"github.com/certctl/certctl/api/wire"
)

// Import sends one batch of rows read from an original certctl database
// to POST /api/v1/import (admin) and returns what the cluster did with
// them, or, with req.DryRun, what it would do. A batch is written whole
// or not at all; a retry of the same call is applied once.
func (c *Client) Import(ctx context.Context, req wire.ImportRequest) (*wire.ImportResult, error) {
	var out wire.ImportResult
	if err := c.do(ctx, http.MethodPost, apiPath("import"), nil, req, &out, http.StatusOK); err != nil {
		return nil, err
	}
	return &out, nil
}
