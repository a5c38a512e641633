package client

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"

	"github.com/certctl/certctl/api/wire"
)

// RestoreSnapshot streams the snapshot file at path to POST
// /api/v1/cluster/snapshot/restore (admin): the cluster checks it whole and
// then every node's state becomes the snapshot's. forceClusterID restores a
// snapshot saved by another cluster. The file is read as it is sent, never
// held in memory. The call has no deadline of its own (the upload and the
// restore of a large state take minutes): bound it with ctx. A server that
// cannot be reached or has no leader is left for the next one, the file sent
// again from its start; a refusal (code snapshot_refused) is an *APIError
// naming the check that failed.
func (c *Client) RestoreSnapshot(ctx context.Context, path string, forceClusterID bool) (wire.SnapshotRestored, error) {
	var out wire.SnapshotRestored
	hc := *c.hc
	hc.Timeout = 0
	if t, ok := hc.Transport.(*http.Transport); ok {
		t = t.Clone()
		t.ResponseHeaderTimeout = 0 // the answer comes once every node restored
		hc.Transport = t
	}
	q := url.Values{}
	if forceClusterID {
		q.Set("force_cluster_id", "true")
	}
	cl := &call{method: http.MethodPost, path: apiPath("cluster", "snapshot", "restore"), query: q, out: &out}
	reqID := newToken()
	var lastErr error
	for i := range len(c.servers) {
		idx := (int(c.current.Load()) + i) % len(c.servers)
		resp, err := c.postFile(ctx, &hc, c.servers[idx]+cl.path+"?"+q.Encode(), path, reqID)
		if err != nil {
			if ctx.Err() != nil {
				return out, fmt.Errorf("certctl: restore: %w", context.Cause(ctx))
			}
			if _, ok := err.(*os.PathError); ok {
				return out, fmt.Errorf("certctl: restore: %w", err)
			}
			if isUntrusted(err) {
				return out, fmt.Errorf("%w: %w", ErrUntrustedServer, err)
			}
			lastErr = fmt.Errorf("%w: %w", ErrUnreachable, err)
			continue
		}
		if resp.StatusCode == http.StatusServiceUnavailable {
			lastErr = c.finish(resp, cl, reqID)
			continue
		}
		c.current.Store(int64(idx))
		return out, c.finish(resp, cl, reqID)
	}
	return out, lastErr
}

func (c *Client) postFile(ctx context.Context, hc *http.Client, u, path, reqID string) (*http.Response, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, io.NopCloser(f))
	if err != nil {
		return nil, err
	}
	req.ContentLength = fi.Size()
	req.Header.Set("Accept", "application/json")
	req.Header.Set("Content-Type", "application/octet-stream")
	req.Header.Set("User-Agent", c.userAgent)
	req.Header.Set(HeaderRequestID, reqID)
	if c.apiKey != "" {
		req.Header.Set("Authorization", "Bearer "+c.apiKey)
	}
	return hc.Do(req)
}
