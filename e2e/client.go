package e2e

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// Member is one entry of the members list of GET /api/v1/cluster.
type Member struct {
	NodeID       string `json:"node_id"`
	RaftAddr     string `json:"raft_addr"`
	APIAddr      string `json:"api_addr"`
	Suffrage     string `json:"suffrage"`
	State        string `json:"state"`
	AppliedIndex uint64 `json:"applied_index"`
	Term         uint64 `json:"term"`
	Healthy      bool   `json:"healthy"`
}

// LeaderInfo names the leader as one node sees it.
type LeaderInfo struct {
	NodeID   string `json:"node_id"`
	RaftAddr string `json:"raft_addr"`
	APIAddr  string `json:"api_addr"`
}

// ClusterInfo is the body of GET /api/v1/cluster. Leader is nil, or has an
// empty NodeID, while the answering node knows no leader.
type ClusterInfo struct {
	ClusterID string      `json:"cluster_id"`
	NodeID    string      `json:"node_id"`
	Leader    *LeaderInfo `json:"leader,omitempty"`
	Members   []Member    `json:"members"`
}

// LeaderID returns the leader's node id, or "" when there is none.
func (ci ClusterInfo) LeaderID() string {
	if ci.Leader == nil {
		return ""
	}
	return ci.Leader.NodeID
}

// Certificate is the wire form of a managed certificate, as far as the tests
// need it. It is the request of POST /api/v1/certificates and the answer of the
// certificate endpoints.
type Certificate struct {
	ID              string            `json:"id,omitempty"`
	Name            string            `json:"name"`
	CommonName      string            `json:"common_name"`
	SANs            []string          `json:"sans"`
	Environment     string            `json:"environment"`
	OwnerID         string            `json:"owner_id"`
	TeamID          string            `json:"team_id"`
	IssuerID        string            `json:"issuer_id"`
	TargetIDs       []string          `json:"target_ids,omitempty"`
	RenewalPolicyID string            `json:"renewal_policy_id,omitempty"`
	Status          string            `json:"status,omitempty"`
	ExpiresAt       *time.Time        `json:"expires_at,omitempty"`
	Tags            map[string]string `json:"tags,omitempty"`
	CreatedAt       *time.Time        `json:"created_at,omitempty"`
	UpdatedAt       *time.Time        `json:"updated_at,omitempty"`
}

// certificatePage is the body of GET /api/v1/certificates.
type certificatePage struct {
	Data    []Certificate `json:"data"`
	Total   int           `json:"total"`
	Page    int           `json:"page"`
	PerPage int           `json:"per_page"`
}

// ErrorBody is the JSON body of every error answer.
type ErrorBody struct {
	Error     string `json:"error"`
	Message   string `json:"message"`
	RequestID string `json:"request_id"`
	Field     string `json:"field,omitempty"`
	Code      string `json:"code,omitempty"`
}

// StatusError is returned by Client when a node answers with a status other
// than the one expected. Body is the decoded error body when it was JSON.
type StatusError struct {
	Method    string
	URL       string
	Status    int
	RequestID string // the X-Request-ID header
	Body      ErrorBody
	Raw       string
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("e2e: %s %s: status %d: %s", e.Method, e.URL, e.Status, e.Raw)
}

// Client is a small HTTP client for the certctl API. Every call takes the base
// URL of the node to talk to, so one Client serves a whole cluster. It is safe
// for concurrent use.
type Client struct {
	HTTP *http.Client
	// APIKey, if set, is sent as a Bearer token on every request.
	APIKey string
}

// NewClient returns a Client keeping up to conns idle keep-alive connections
// per node and trusting only roots for HTTPS. Requests have no timeout of
// their own: bound them with ctx.
func NewClient(conns int, roots *x509.CertPool) *Client {
	if conns < 2 {
		conns = 2
	}
	tr := &http.Transport{
		Proxy:               nil,
		MaxIdleConns:        conns * 8,
		MaxIdleConnsPerHost: conns,
		IdleConnTimeout:     30 * time.Second,
		DisableCompression:  true,
		TLSClientConfig:     &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12},
		ForceAttemptHTTP2:   false,
	}
	return &Client{HTTP: &http.Client{Transport: tr}}
}

// CloseIdle closes idle keep-alive connections.
func (c *Client) CloseIdle() { c.HTTP.CloseIdleConnections() }

// Do sends a request with an optional JSON body and decodes a JSON answer into
// out when out is non-nil. It returns the status code and, when it differs
// from want, a *StatusError. Transport errors are returned as they are.
func (c *Client) Do(ctx context.Context, method, u string, body, out any, want int) (int, http.Header, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, nil, fmt.Errorf("e2e: encode body: %w", err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return 0, nil, fmt.Errorf("e2e: new request: %w", err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.APIKey != "" {
		req.Header.Set("Authorization", "Bearer "+c.APIKey)
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return resp.StatusCode, resp.Header, fmt.Errorf("e2e: read body of %s %s: %w", method, u, err)
	}
	if resp.StatusCode != want {
		se := &StatusError{Method: method, URL: u, Status: resp.StatusCode,
			RequestID: resp.Header.Get("X-Request-ID"), Raw: truncate(string(raw), 300)}
		_ = json.Unmarshal(raw, &se.Body)
		return resp.StatusCode, resp.Header, se
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			return resp.StatusCode, resp.Header, fmt.Errorf("e2e: decode %s %s: %w (body %q)", method, u, err, truncate(string(raw), 300))
		}
	}
	return resp.StatusCode, resp.Header, nil
}

// Health checks GET /health.
func (c *Client) Health(ctx context.Context, base string) error {
	var body struct{ Status string }
	if _, _, err := c.Do(ctx, http.MethodGet, base+"/health", nil, &body, http.StatusOK); err != nil {
		return err
	}
	if body.Status != "healthy" {
		return fmt.Errorf("e2e: /health status %q", body.Status)
	}
	return nil
}

// Ready checks GET /ready: nil once the node answers 200.
func (c *Client) Ready(ctx context.Context, base string) error {
	_, _, err := c.Do(ctx, http.MethodGet, base+"/ready", nil, nil, http.StatusOK)
	return err
}

// Cluster fetches GET /api/v1/cluster.
func (c *Client) Cluster(ctx context.Context, base string) (ClusterInfo, error) {
	var ci ClusterInfo
	_, _, err := c.Do(ctx, http.MethodGet, base+"/api/v1/cluster", nil, &ci, http.StatusOK)
	return ci, err
}

// Create posts body to /api/v1/<kind> and expects 201.
func (c *Client) Create(ctx context.Context, base, kind string, body any) error {
	_, _, err := c.Do(ctx, http.MethodPost, base+"/api/v1/"+kind, body, nil, http.StatusCreated)
	return err
}

// CreateCertificate posts a certificate and returns the created record.
func (c *Client) CreateCertificate(ctx context.Context, base string, cert Certificate) (Certificate, error) {
	var out Certificate
	_, _, err := c.Do(ctx, http.MethodPost, base+"/api/v1/certificates", cert, &out, http.StatusCreated)
	return out, err
}

// GetCertificate fetches one certificate; a missing one is a *StatusError
// with Status 404.
func (c *Client) GetCertificate(ctx context.Context, base, id string) (Certificate, error) {
	var out Certificate
	_, _, err := c.Do(ctx, http.MethodGet, base+"/api/v1/certificates/"+url.PathEscape(id), nil, &out, http.StatusOK)
	return out, err
}

// ListCertificates reads every page of GET /api/v1/certificates from one node
// and returns the certificates and the total the node reported.
func (c *Client) ListCertificates(ctx context.Context, base string) ([]Certificate, int, error) {
	const perPage = 500
	var all []Certificate
	for page := 1; ; page++ {
		var p certificatePage
		u := base + "/api/v1/certificates?page=" + strconv.Itoa(page) + "&per_page=" + strconv.Itoa(perPage)
		if _, _, err := c.Do(ctx, http.MethodGet, u, nil, &p, http.StatusOK); err != nil {
			return nil, 0, err
		}
		all = append(all, p.Data...)
		if len(p.Data) == 0 || len(all) >= p.Total {
			return all, p.Total, nil
		}
	}
}

// CertificateIDs returns the set of certificate ids held by one node.
func (c *Client) CertificateIDs(ctx context.Context, base string) (map[string]bool, error) {
	certs, total, err := c.ListCertificates(ctx, base)
	if err != nil {
		return nil, err
	}
	ids := make(map[string]bool, len(certs))
	for _, ct := range certs {
		ids[ct.ID] = true
	}
	if len(ids) != total {
		return ids, fmt.Errorf("e2e: %s listed %d distinct certificates, total says %d", base, len(ids), total)
	}
	return ids, nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
