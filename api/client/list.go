package client

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/certctl/certctl/api/wire"
)

// ListOptions pages a list: Page from 1, PerPage up to 500. Zero values
// leave the server's defaults (page 1, 50 per page).
type ListOptions struct {
	Page, PerPage int
}

func (o ListOptions) query() url.Values {
	q := url.Values{}
	setPage(q, o.Page, o.PerPage)
	return q
}

func setPage(q url.Values, page, perPage int) {
	setInt(q, "page", page)
	setInt(q, "per_page", perPage)
}

func set(q url.Values, name, v string) {
	if v != "" {
		q.Set(name, v)
	}
}

func setInt(q url.Values, name string, v int) {
	if v > 0 {
		q.Set(name, strconv.Itoa(v))
	}
}

func setTime(q url.Values, name string, t *time.Time) {
	if t != nil {
		q.Set(name, t.UTC().Format(time.RFC3339))
	}
}

// list reads one page of a list; Data is never nil.
func list[T any](ctx context.Context, c *Client, path string, q url.Values) (*wire.List[T], error) {
	var l wire.List[T]
	if err := c.do(ctx, http.MethodGet, path, q, nil, &l, http.StatusOK); err != nil {
		return nil, err
	}
	if l.Data == nil {
		l.Data = []T{}
	}
	return &l, nil
}

// get reads one resource.
func get[T any](ctx context.Context, c *Client, path string) (*T, error) {
	var v T
	if err := c.do(ctx, http.MethodGet, path, nil, nil, &v, http.StatusOK); err != nil {
		return nil, err
	}
	return &v, nil
}

// create POSTs in and returns the created resource (201).
func create[T any](ctx context.Context, c *Client, path string, in any) (*T, error) {
	body, err := withoutZeroTimes(in)
	if err != nil {
		return nil, err
	}
	var v T
	if err := c.do(ctx, http.MethodPost, path, nil, body, &v, http.StatusCreated); err != nil {
		return nil, err
	}
	return &v, nil
}

// update PUTs in and returns the updated resource (200).
func update[T any](ctx context.Context, c *Client, path string, in any) (*T, error) {
	body, err := withoutZeroTimes(in)
	if err != nil {
		return nil, err
	}
	var v T
	if err := c.do(ctx, http.MethodPut, path, nil, body, &v, http.StatusOK); err != nil {
		return nil, err
	}
	return &v, nil
}

// zeroTime is how encoding/json writes a zero time.Time.
const zeroTime = `"0001-01-01T00:00:00Z"`

// withoutZeroTimes encodes in, a resource about to be written, leaving out
// the top-level fields holding a zero time: the timestamps the server stamps
// (created_at, updated_at, ...), which a new resource has not got and a
// server may refuse to be sent.
func withoutZeroTimes(in any) (json.RawMessage, error) {
	raw, err := json.Marshal(in)
	if err != nil {
		return nil, fmt.Errorf("certctl: encoding the request body: %w", err)
	}
	var fields map[string]json.RawMessage
	if json.Unmarshal(raw, &fields) != nil {
		return raw, nil // not an object: send it as it is
	}
	n := len(fields)
	for k, v := range fields {
		if string(v) == zeroTime {
			delete(fields, k)
		}
	}
	if len(fields) == n {
		return raw, nil // keep the field order of the struct
	}
	return json.Marshal(fields)
}

// remove DELETEs a resource (204).
func (c *Client) remove(ctx context.Context, path string) error {
	return c.do(ctx, http.MethodDelete, path, nil, nil, nil, http.StatusNoContent)
}

// action POSTs body (nil: none) to an action route that answers
// {"status": "..."} with status want.
func (c *Client) action(ctx context.Context, path string, body any, want int) error {
	var st wire.Status
	return c.do(ctx, http.MethodPost, path, nil, body, &st, want)
}
