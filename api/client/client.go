package client

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// Headers the client sets on every request (X-Request-ID) or every write
// (Idempotency-Key).
const (
	HeaderRequestID      = "X-Request-ID"
	HeaderIdempotencyKey = "Idempotency-Key"
)

// maxResponseBytes bounds how much of an answer the client reads.
const maxResponseBytes = 32 << 20

// Config configures a Client. Only Servers is required.
type Config struct {
	// Servers are the base URLs of the cluster's members, such as
	// https://10.0.0.1:8443. A call goes first to the server that answered
	// the previous call and moves to the next one on a connection failure or
	// a 503. An address without a scheme means https://. An http:// address
	// is refused unless its host is a loopback address or localhost (a --dev
	// node on this host) or InsecureHTTP is set.
	Servers []string
	// InsecureHTTP allows http:// addresses of other hosts, over which API
	// keys and answers cross the network unencrypted. It never turns off the
	// verification of an https:// server's certificate: nothing does.
	InsecureHTTP bool
	// APIKey, when set, is sent as "Authorization: Bearer <APIKey>".
	APIKey string
	// HTTPClient sends the requests; nil means a client of the package's own
	// with dial, handshake and response timeouts, trusting RootCAs.
	HTTPClient *http.Client
	// RootCAs are the only CAs the package's own HTTP client trusts for an
	// https:// server's certificate (the cluster CA bundle, from
	// FetchClusterCA or GET /.well-known/pki/cluster-ca); nil means the
	// system's. It is ignored when HTTPClient is set.
	RootCAs *x509.CertPool
	// UserAgent is sent as User-Agent; empty means "certctl-client".
	UserAgent string
	// MaxAttempts bounds the tries of one call over all servers; 0 means
	// three rounds over the servers.
	MaxAttempts int
	// Backoff is the pause after a round in which every server failed; it
	// doubles each round up to MaxBackoff, and a 503's Retry-After lengthens
	// it. 0 means 500ms and 5s.
	Backoff, MaxBackoff time.Duration
}

// Validate reports what is wrong with the configuration.
func (c Config) Validate() error {
	if len(c.Servers) == 0 {
		return errors.New("certctl: no server address given")
	}
	for _, s := range c.Servers {
		u, err := parseServer(s)
		if err != nil {
			return err
		}
		if !c.InsecureHTTP && !secureServer(u) {
			return fmt.Errorf("%w: %s would carry API keys and answers unencrypted; use its https:// address", ErrInsecureHTTP, u)
		}
	}
	if c.MaxAttempts < 0 || c.Backoff < 0 || c.MaxBackoff < 0 {
		return errors.New("certctl: MaxAttempts, Backoff and MaxBackoff must not be negative")
	}
	return nil
}

func parseServer(s string) (string, error) {
	raw := strings.TrimSpace(s)
	if raw != "" && !strings.Contains(raw, "://") {
		raw = "https://" + raw
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") || u.RawQuery != "" || u.Fragment != "" {
		return "", fmt.Errorf("certctl: server address %q is not a base URL such as https://10.0.0.1:8443", s)
	}
	return strings.TrimSuffix(u.String(), "/"), nil
}

// secureServer reports whether base, a URL from parseServer, is https:// or
// plain HTTP that never leaves this host (a loopback address or localhost).
func secureServer(base string) bool {
	u, err := url.Parse(base)
	if err != nil {
		return false
	}
	if u.Scheme == "https" {
		return true
	}
	return IsLoopback(u.Hostname())
}

// IsLoopback reports whether host, a host name or IP address without a port,
// names this host over the loopback interface: localhost, 127.0.0.0/8 or ::1.
func IsLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Client calls one certctl cluster. It is safe for concurrent use.
type Client struct {
	servers     []string
	apiKey      string
	userAgent   string
	hc          *http.Client
	maxAttempts int
	backoff     time.Duration
	maxBackoff  time.Duration
	// insecureHTTP is Config.InsecureHTTP, kept for ForServer.
	insecureHTTP bool
	current      atomic.Int64 // index of the server that answered last
}

// New returns a client for cfg.
func New(cfg Config) (*Client, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	c := &Client{
		apiKey:      cfg.APIKey,
		userAgent:   cfg.UserAgent,
		hc:          cfg.HTTPClient,
		maxAttempts: cfg.MaxAttempts,
		backoff:     cfg.Backoff,
		maxBackoff:  cfg.MaxBackoff,

		insecureHTTP: cfg.InsecureHTTP,
	}
	for _, s := range cfg.Servers {
		u, _ := parseServer(s)
		c.servers = append(c.servers, u)
	}
	if c.userAgent == "" {
		c.userAgent = "certctl-client"
	}
	if c.hc == nil {
		c.hc = defaultHTTPClient(cfg.RootCAs)
	}
	if c.maxAttempts == 0 {
		c.maxAttempts = 3 * len(c.servers)
	}
	if c.backoff == 0 {
		c.backoff = 500 * time.Millisecond
	}
	if c.maxBackoff == 0 {
		c.maxBackoff = 5 * time.Second
	}
	return c, nil
}

// ForServer returns a client that calls only server (a base URL, or
// host:port taking the scheme of c's first server), once per call, with c's
// API key, HTTP client (and so its TLS settings: the CAs it trusts) and user
// agent: for asking one member of the cluster about itself. An http://
// server of another host is refused as New refuses it, unless c was made
// with InsecureHTTP.
func (c *Client) ForServer(server string) (*Client, error) {
	if s := strings.TrimSpace(server); s != "" && !strings.Contains(s, "://") && len(c.servers) > 0 {
		scheme, _, _ := strings.Cut(c.servers[0], "://")
		server = scheme + "://" + s
	}
	u, err := parseServer(server)
	if err != nil {
		return nil, err
	}
	if !c.insecureHTTP && !secureServer(u) {
		return nil, fmt.Errorf("%w: %s would carry API keys and answers unencrypted; use its https:// address", ErrInsecureHTTP, u)
	}
	return &Client{
		servers:      []string{u},
		apiKey:       c.apiKey,
		userAgent:    c.userAgent,
		hc:           c.hc,
		maxAttempts:  1,
		backoff:      c.backoff,
		maxBackoff:   c.maxBackoff,
		insecureHTTP: c.insecureHTTP,
	}, nil
}

// Servers returns the normalized base URLs the client calls.
func (c *Client) Servers() []string { return slices.Clone(c.servers) }

// defaultHTTPClient fails fast on a dead server, so the next one is tried
// soon, and bounds each attempt. It trusts rootCAs (nil: the system's).
func defaultHTTPClient(rootCAs *x509.CertPool) *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.DialContext = (&net.Dialer{Timeout: 3 * time.Second, KeepAlive: 30 * time.Second}).DialContext
	t.TLSHandshakeTimeout = 5 * time.Second
	t.ResponseHeaderTimeout = 30 * time.Second
	t.TLSClientConfig = &tls.Config{RootCAs: rootCAs, MinVersion: tls.VersionTLS12}
	return &http.Client{Transport: t, Timeout: 60 * time.Second}
}

type idempotencyKeyCtx struct{}

// WithIdempotencyKey returns a context whose writes carry key as their
// Idempotency-Key instead of a fresh random one, so that a caller retrying a
// call of its own (an agent reporting a job status again after a restart, say)
// has it applied once. key must be 1 to 128 letters, digits, '-', '_' or '.'.
func WithIdempotencyKey(ctx context.Context, key string) context.Context {
	return context.WithValue(ctx, idempotencyKeyCtx{}, key)
}

// call is one API call: what to send, where to decode the answer and which
// 2xx statuses it expects (none: any 2xx).
type call struct {
	method string
	path   string // from the server's base URL on, escaped; "" when an id was empty
	query  url.Values
	body   []byte  // nil: no body
	out    any     // nil: discard the answer
	raw    *[]byte // instead of out: the answer's body as it came
	accept string  // the Accept header; "" means application/json
	want   []int
	once   bool // try each server once without pausing (probes of a node's state)
	// stream, when set, receives a 2xx answer whose body is read by it as
	// it comes, with no limit of size or total time (out and raw unused).
	stream func(*http.Response) error
}

// do sends method path?query with body (JSON-encoded unless nil) and decodes
// a 2xx answer into out (unless nil). The answer's status must be one of want
// when want is given. A non-2xx answer is an *APIError.
func (c *Client) do(ctx context.Context, method, path string, query url.Values, body, out any, want ...int) error {
	cl := &call{method: method, path: path, query: query, out: out, want: want}
	if body != nil {
		raw, err := json.Marshal(body)
		if err != nil {
			return fmt.Errorf("certctl: encoding the body of %s %s: %w", method, path, err)
		}
		cl.body = raw
	}
	return c.exec(ctx, cl)
}

// exec runs cl, moving through the servers on connection failures and 503s.
// The request id and the idempotency key are the same on every attempt.
func (c *Client) exec(ctx context.Context, cl *call) error {
	if cl.path == "" {
		return ErrEmptyID
	}
	reqID := newToken()
	var idemKey string
	if isWrite(cl.method) {
		idemKey = newToken()
		if k, ok := ctx.Value(idempotencyKeyCtx{}).(string); ok {
			if !validToken(k) {
				return fmt.Errorf("certctl: idempotency key %q must be 1 to 128 letters, digits, '-', '_' or '.'", k)
			}
			idemKey = k
		}
	}
	n := len(c.servers)
	attempts := c.maxAttempts
	if cl.once {
		attempts = n
	}
	start := int(c.current.Load())
	var (
		lastErr    error
		retryAfter time.Duration
		unreached  bool // the last failure was a connection failure
	)
	for i := range attempts {
		if i > 0 && i%n == 0 {
			if err := c.pause(ctx, i/n, retryAfter); err != nil {
				return fmt.Errorf("certctl: %s %s: %w", cl.method, cl.path, err)
			}
		}
		idx := (start + i) % n
		resp, err := c.attempt(ctx, c.servers[idx], cl, reqID, idemKey)
		if err != nil {
			if ctx.Err() != nil {
				return fmt.Errorf("certctl: %s %s: %w", cl.method, cl.path, context.Cause(ctx))
			}
			if isUntrusted(err) {
				// Trying again will not change the certificate, and every
				// member's comes from the same CA.
				return fmt.Errorf("%w: %w", ErrUntrustedServer, err)
			}
			lastErr, unreached = err, true
			continue
		}
		if resp.StatusCode == http.StatusServiceUnavailable {
			retryAfter = parseRetryAfter(resp.Header.Get("Retry-After"))
			lastErr, unreached = c.finish(resp, cl, reqID), false
			continue
		}
		c.current.Store(int64(idx))
		return c.finish(resp, cl, reqID)
	}
	if unreached {
		servers := "1 server"
		if n > 1 {
			servers = strconv.Itoa(n) + " servers"
		}
		return fmt.Errorf("%w (%d attempts over %s): %w", ErrUnreachable, attempts, servers, lastErr)
	}
	return lastErr
}

// attempt sends cl once to server.
func (c *Client) attempt(ctx context.Context, server string, cl *call, reqID, idemKey string) (*http.Response, error) {
	u := server + cl.path
	if len(cl.query) > 0 {
		u += "?" + cl.query.Encode()
	}
	var body io.Reader
	if cl.body != nil {
		body = bytes.NewReader(cl.body)
	}
	req, err := http.NewRequestWithContext(ctx, cl.method, u, body)
	if err != nil {
		return nil, err
	}
	accept := cl.accept
	if accept == "" {
		accept = "application/json"
	}
	req.Header.Set("Accept", accept)
	req.Header.Set("User-Agent", c.userAgent)
	req.Header.Set(HeaderRequestID, reqID)
	if cl.body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if idemKey != "" {
		req.Header.Set(HeaderIdempotencyKey, idemKey)
	}
	if c.apiKey != "" {
		req.Header.Set("Authorization", "Bearer "+c.apiKey)
	}
	if cl.stream != nil {
		// A stream lasts as long as it needs: the client's total timeout
		// would cut a large one off. Dial, handshake and the wait for the
		// answer's headers keep their own timeouts in the transport.
		hc := *c.hc
		hc.Timeout = 0
		return hc.Do(req)
	}
	return c.hc.Do(req)
}

// finish reads resp and decodes it into cl.out or turns it into an error.
func (c *Client) finish(resp *http.Response, cl *call, reqID string) error {
	defer resp.Body.Close()
	if cl.stream != nil && resp.StatusCode >= 200 && resp.StatusCode <= 299 {
		return cl.stream(resp)
	}
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes+1))
	if err != nil {
		return fmt.Errorf("certctl: reading the answer of %s %s: %w", cl.method, cl.path, err)
	}
	if len(raw) > maxResponseBytes {
		return fmt.Errorf("certctl: the answer of %s %s is larger than %d bytes", cl.method, cl.path, maxResponseBytes)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return newAPIError(resp, raw, reqID)
	}
	if len(cl.want) > 0 && !slices.Contains(cl.want, resp.StatusCode) {
		return fmt.Errorf("certctl: %s %s answered %d %s where %d was expected", cl.method, cl.path,
			resp.StatusCode, http.StatusText(resp.StatusCode), cl.want[0])
	}
	if cl.raw != nil {
		*cl.raw = raw
		return nil
	}
	if cl.out == nil || resp.StatusCode == http.StatusNoContent {
		return nil
	}
	if err := json.Unmarshal(raw, cl.out); err != nil {
		return fmt.Errorf("certctl: decoding the answer of %s %s: %w", cl.method, cl.path, err)
	}
	return nil
}

// pause waits before round (1, 2, ...): the backoff doubled per round, at
// least retryAfter, at most maxBackoff, with up to a quarter of jitter.
func (c *Client) pause(ctx context.Context, round int, retryAfter time.Duration) error {
	d := c.backoff << (round - 1)
	if d <= 0 || d > c.maxBackoff {
		d = c.maxBackoff
	}
	d = max(d, min(retryAfter, c.maxBackoff))
	d += time.Duration(mrand.Int64N(int64(d)/4 + 1))
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return context.Cause(ctx)
	case <-t.C:
		return nil
	}
}

func parseRetryAfter(v string) time.Duration {
	if s, err := strconv.Atoi(strings.TrimSpace(v)); err == nil && s > 0 {
		return time.Duration(s) * time.Second
	}
	return 0
}

func isWrite(method string) bool {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		return false
	}
	return true
}

// newToken returns 16 random bytes in hex: a request id or idempotency key.
func newToken() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// validToken is the server's rule for request ids and idempotency keys.
func validToken(s string) bool {
	if s == "" || len(s) > 128 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.') {
			return false
		}
	}
	return true
}

// apiPath returns /api/v1/<parts...> with each part escaped, or "" when a
// part is empty (an id the caller did not give), which exec reports as
// ErrEmptyID instead of calling a different route.
func apiPath(parts ...string) string {
	var b strings.Builder
	b.WriteString("/api/v1")
	for _, p := range parts {
		if p == "" {
			return ""
		}
		b.WriteByte('/')
		b.WriteString(url.PathEscape(p))
	}
	return b.String()
}
