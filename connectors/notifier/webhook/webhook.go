package webhook

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/certctl/certctl/connectors/notifier"
)

// Channel is the channel this notifier serves.
const Channel = "Webhook"

// SignatureHeader carries "sha256=" and the hex HMAC-SHA256 of the request
// body under the configured secret.
const SignatureHeader = "X-Certctl-Signature"

// DefaultTimeout bounds one POST when Config.TimeoutSeconds is zero.
const DefaultTimeout = 10 * time.Second

// Config is a webhook's configuration (JSON field names as stored).
type Config struct {
	// URL receives the POSTs: http or https.
	URL string `json:"url"`
	// Secret keys the HMAC-SHA256 signature of each body. Empty sends no
	// signature header.
	Secret string `json:"secret,omitempty"`
	// Headers are added to every request (e.g. an Authorization header).
	Headers map[string]string `json:"headers,omitempty"`
	// TimeoutSeconds bounds one POST; 0 means DefaultTimeout.
	TimeoutSeconds int `json:"timeout_seconds,omitempty"`
}

// reserved are headers the notifier sets itself.
var reserved = map[string]bool{"content-type": true, "content-length": true, "host": true, strings.ToLower(SignatureHeader): true}

// Validate reports the first problem of c.
func (c Config) Validate() error {
	u, err := url.Parse(c.URL)
	switch {
	case c.URL == "":
		return notifier.Configf("url", "a URL is required")
	case err != nil:
		return notifier.Configf("url", "%v", err)
	case u.Scheme != "http" && u.Scheme != "https":
		return notifier.Configf("url", "scheme %q: use http or https", u.Scheme)
	case u.Host == "":
		return notifier.Configf("url", "%q names no host", c.URL)
	case c.TimeoutSeconds < 0:
		return notifier.Configf("timeout_seconds", "%d is negative", c.TimeoutSeconds)
	}
	for k, v := range c.Headers {
		if reserved[strings.ToLower(k)] {
			return notifier.Configf("headers", "%s is set by certctl itself", k)
		}
		if k == "" || strings.ContainsAny(k, " \t\r\n:") || strings.ContainsAny(v, "\r\n") {
			return notifier.Configf("headers", "%q is not a valid header", k)
		}
	}
	return nil
}

// ValidateConfig checks a JSON config.
func ValidateConfig(_ context.Context, raw json.RawMessage) error {
	_, err := ParseConfig(raw)
	return err
}

// ParseConfig decodes and checks a JSON config; unknown fields are errors.
func ParseConfig(raw json.RawMessage) (Config, error) {
	var c Config
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return c, &notifier.ConfigError{Field: "config", Reason: err.Error()}
	}
	return c, c.Validate()
}

// Notifier posts alerts and events to one URL. It is safe for concurrent use.
type Notifier struct {
	cfg    Config
	client *http.Client
}

var _ notifier.Notifier = (*Notifier)(nil)

// New returns the webhook of cfg. client may be nil for a client of its own
// (no proxy from the environment, redirects refused, cfg's timeout).
func New(cfg Config, client *http.Client) (*Notifier, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if client == nil {
		timeout := DefaultTimeout
		if cfg.TimeoutSeconds > 0 {
			timeout = time.Duration(cfg.TimeoutSeconds) * time.Second
		}
		client = &http.Client{
			Timeout:   timeout,
			Transport: &http.Transport{Proxy: nil, TLSHandshakeTimeout: timeout, ResponseHeaderTimeout: timeout},
			CheckRedirect: func(*http.Request, []*http.Request) error {
				return http.ErrUseLastResponse // a redirect is an answer, not a delivery
			},
		}
	}
	return &Notifier{cfg: cfg, client: client}, nil
}

// ValidateConfig checks a JSON config for a webhook.
func (n *Notifier) ValidateConfig(ctx context.Context, raw json.RawMessage) error {
	return ValidateConfig(ctx, raw)
}

// Payload is the JSON body of a POST: Kind "alert" with Alert set, or
// "event" with Event set.
type Payload struct {
	Kind  string          `json:"kind"`
	Alert *notifier.Alert `json:"alert,omitempty"`
	Event *notifier.Event `json:"event,omitempty"`
}

// SendAlert posts a.
func (n *Notifier) SendAlert(ctx context.Context, a notifier.Alert) error {
	return n.post(ctx, Payload{Kind: "alert", Alert: &a})
}

// SendEvent posts e.
func (n *Notifier) SendEvent(ctx context.Context, e notifier.Event) error {
	return n.post(ctx, Payload{Kind: "event", Event: &e})
}

// Sign returns the value of SignatureHeader for body under secret.
func Sign(secret string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// Verify reports whether signature (SignatureHeader's value) signs body
// under secret, in constant time: what a receiver does.
func Verify(secret string, body []byte, signature string) bool {
	return hmac.Equal([]byte(Sign(secret, body)), []byte(signature))
}

func (n *Notifier) post(ctx context.Context, p Payload) error {
	body, err := json.Marshal(p)
	if err != nil {
		return fmt.Errorf("webhook: encode: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, n.cfg.URL, bytes.NewReader(body))
	if err != nil {
		return &notifier.DeliveryError{Channel: Channel, Reason: "request", Err: err}
	}
	for k, v := range n.cfg.Headers {
		req.Header.Set(k, v)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "certctl-webhook")
	if n.cfg.Secret != "" {
		req.Header.Set(SignatureHeader, Sign(n.cfg.Secret, body))
	}
	resp, err := n.client.Do(req)
	if err != nil {
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = uerr.Err // the URL may hold credentials: never repeat it
		}
		return &notifier.DeliveryError{Channel: Channel, Reason: "POST failed", Err: err}
	}
	defer resp.Body.Close()
	snippet, _ := io.ReadAll(io.LimitReader(resp.Body, 256))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		reason := "HTTP " + resp.Status
		if s := strings.TrimSpace(string(snippet)); s != "" {
			reason += ": " + strings.ToValidUTF8(s, "?")
		}
		return &notifier.DeliveryError{Channel: Channel, Reason: reason}
	}
	return nil
}
