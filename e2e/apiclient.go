package e2e

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/certctl/certctl/api/client"
)

// URLs returns the base URLs of nodes, in order.
func URLs(nodes []*Node) []string {
	out := make([]string, len(nodes))
	for i, n := range nodes {
		out[i] = n.URL()
	}
	return out
}

// NewHTTPClient returns an HTTP client for api/client that keeps up to conns
// idle keep-alive connections per node and fails fast on a dead node (dial
// 1 s, answer 10 s), so that the client moves on to the next one. rt, when
// not nil, wraps the transport (AttemptLog.Wrap, say).
func NewHTTPClient(conns int, roots *x509.CertPool, rt func(http.RoundTripper) http.RoundTripper) *http.Client {
	var tr http.RoundTripper = &http.Transport{
		TLSClientConfig:       &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12},
		Proxy:                 nil,
		DialContext:           (&net.Dialer{Timeout: time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:          conns * 8,
		MaxIdleConnsPerHost:   conns,
		IdleConnTimeout:       30 * time.Second,
		ResponseHeaderTimeout: 10 * time.Second,
		DisableCompression:    true,
	}
	if rt != nil {
		tr = rt(tr)
	}
	return &http.Client{Transport: tr}
}

// NewAPIClient returns an api/client for the base URLs urls with key as its
// API key, sending through hc (see NewHTTPClient). Its pause after a round in
// which every node failed is 50 ms, doubling up to 500 ms: short enough for
// a test, long enough for an election to end within the client's attempts.
func NewAPIClient(key string, urls []string, hc *http.Client) (*client.Client, error) {
	return client.New(client.Config{
		Servers:    urls,
		APIKey:     key,
		HTTPClient: hc,
		UserAgent:  "certctl-e2e",
		Backoff:    50 * time.Millisecond,
		MaxBackoff: 500 * time.Millisecond,
	})
}

// APIClient returns an api/client calling nodes in that order (every node of
// the cluster when none is given) with key as its API key ("" for none). It
// fails the test on a bad configuration.
func (c *Cluster) APIClient(key string, nodes ...*Node) *client.Client {
	c.tb.Helper()
	if len(nodes) == 0 {
		nodes = c.Nodes()
	}
	cl, err := NewAPIClient(key, URLs(nodes), c.NewHTTPClient(8, nil))
	if err != nil {
		c.tb.Fatal(err)
	}
	return cl
}

// GetJSON sends GET base+path with ?consistency=consistency (none when empty)
// and decodes a 200 answer into out. Any other status is a *StatusError.
func (c *Client) GetJSON(ctx context.Context, base, path, consistency string, out any) error {
	u := base + path
	if consistency != "" {
		u += "?consistency=" + url.QueryEscape(consistency)
	}
	_, _, err := c.Do(ctx, http.MethodGet, u, nil, out, http.StatusOK)
	return err
}

// AttemptLog is an http.RoundTripper wrapper that records every attempt of a
// write by its Idempotency-Key: how often the key was sent and what each
// attempt got (a status code, or the kind of transport error). It shows what
// api/client's retries hide. It is safe for concurrent use.
type AttemptLog struct {
	mu    sync.Mutex
	byKey map[string][]Attempt
	kinds map[string]int // outcomes of every attempt, by Attempt.Kind
}

// Attempt is one request of a write as the transport saw it.
type Attempt struct {
	At     time.Time
	Server string // host:port
	Status int    // 0 when the transport failed
	Err    error
}

// Kind names the attempt's outcome: the status code, or "refused", "reset",
// "timeout" or "transport".
func (a Attempt) Kind() string {
	if a.Err == nil {
		return strconv.Itoa(a.Status)
	}
	return transportKind(a.Err)
}

// Answered reports whether the attempt got a definite answer: a status other
// than 503, which may come from a write that timed out and still lands. A
// transport error is never one, not even a refused connection: net/http
// replays a request carrying an Idempotency-Key on a new connection when the
// old one broke, so a "refused" may follow a request that reached a node.
func (a Attempt) Answered() bool {
	return a.Err == nil && a.Status != http.StatusServiceUnavailable
}

// NewAttemptLog returns an empty log.
func NewAttemptLog() *AttemptLog {
	return &AttemptLog{byKey: map[string][]Attempt{}, kinds: map[string]int{}}
}

// Wrap returns next recording into l.
func (l *AttemptLog) Wrap(next http.RoundTripper) http.RoundTripper {
	return roundTripFunc(func(req *http.Request) (*http.Response, error) {
		resp, err := next.RoundTrip(req)
		key := req.Header.Get(client.HeaderIdempotencyKey)
		if key == "" {
			return resp, err
		}
		a := Attempt{At: time.Now(), Server: req.URL.Host, Err: err}
		if resp != nil {
			a.Status = resp.StatusCode
		}
		l.mu.Lock()
		l.byKey[key] = append(l.byKey[key], a)
		l.kinds[a.Kind()]++
		l.mu.Unlock()
		return resp, err
	})
}

// Attempts returns the attempts made with key, in order.
func (l *AttemptLog) Attempts(key string) []Attempt {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]Attempt(nil), l.byKey[key]...)
}

// Kinds returns how many attempts had each outcome.
func (l *AttemptLog) Kinds() map[string]int {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make(map[string]int, len(l.kinds))
	for k, v := range l.kinds {
		out[k] = v
	}
	return out
}

// Failures returns the failed attempts (transport errors and 5xx), in the
// order they were made.
func (l *AttemptLog) Failures() []Attempt {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []Attempt
	for _, as := range l.byKey {
		for _, a := range as {
			if a.Err != nil || a.Status >= 500 {
				out = append(out, a)
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].At.Before(out[j].At) })
	return out
}

// FormatKinds renders counts as "k1=v1 k2=v2", sorted by key.
func FormatKinds(m map[string]int) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s=%d", k, m[k])
	}
	return strings.Join(parts, " ")
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(req *http.Request) (*http.Response, error) { return f(req) }

// transportKind names a transport error for the statistics.
func transportKind(err error) string {
	var ne net.Error
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return "refused"
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE), strings.Contains(err.Error(), "EOF"):
		return "reset"
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	case errors.Is(err, context.Canceled):
		return "canceled"
	default:
		return "transport"
	}
}
