package f5

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/certctl/certctl/connectors/target"
)

// APIError is an answer of the BIG-IP other than success: the request it
// answered, the HTTP status and the device's own message (for instance
// "01070313:3: ..."), which says what to fix.
type APIError struct {
	Method, Path string
	Status       int
	Message      string
}

func (e *APIError) Error() string {
	msg := fmt.Sprintf("f5: %s %s: HTTP %d", e.Method, e.Path, e.Status)
	if e.Message != "" {
		msg += ": " + e.Message
	}
	return msg
}

// IsNotFound reports whether err is a 404 from the device.
func IsNotFound(err error) bool {
	var ae *APIError
	return errors.As(err, &ae) && ae.Status == http.StatusNotFound
}

// Paths of iControl REST used here.
const (
	loginPath    = "/mgmt/shared/authn/login"
	tokensPath   = "/mgmt/shared/authz/tokens/"
	uploadPath   = "/mgmt/shared/file-transfer/uploads/"
	downloadsDir = "/var/config/rest/downloads/" // where uploads land on the device
	keyPath      = "/mgmt/tm/sys/crypto/key"
	certPath     = "/mgmt/tm/sys/crypto/cert"
	txPath       = "/mgmt/tm/transaction"
	rmPath       = "/mgmt/tm/util/unix-rm"
	saveConfPath = "/mgmt/tm/sys/config"

	tokenHeader = "X-F5-Auth-Token"
	txHeader    = "X-F5-REST-Coordination-Id"
)

// client is one session with one device: a token, and the HTTP client
// verifying its management certificate.
type client struct {
	base  string
	http  *http.Client
	token string
}

func newClient(cfg Config, o Options) (*client, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: cfg.Host}
	switch {
	case cfg.CAFile != "":
		roots, err := target.LoadRoots("ca_file", cfg.CAFile)
		if err != nil {
			return nil, err
		}
		tc.RootCAs = roots
	case cfg.InsecureSkipVerify:
		tc.InsecureSkipVerify = true //nolint:gosec // the operator asked for it explicitly in the target's config
	}
	return &client{
		base: cfg.baseURL(),
		http: target.APIClient(tc, o.Timeout),
	}, nil
}

// login gets a token; BIG-IP accepts at most about a hundred per user, so
// logout gives it back.
func (c *client) login(ctx context.Context, user, password string) error {
	var out struct {
		Token struct {
			Token string `json:"token"`
		} `json:"token"`
	}
	body := map[string]string{"username": user, "password": password, "loginProviderName": "tmos"}
	if err := c.call(ctx, http.MethodPost, loginPath, nil, body, &out); err != nil {
		var ae *APIError
		if errors.As(err, &ae) && (ae.Status == http.StatusUnauthorized || ae.Status == http.StatusForbidden) {
			return fmt.Errorf("f5: login as %q refused: check username and password (%w)", user, err)
		}
		return err
	}
	if out.Token.Token == "" {
		return errors.New("f5: login answered without a token")
	}
	c.token = out.Token.Token
	return nil
}

func (c *client) logout(ctx context.Context) {
	if c.token == "" {
		return
	}
	_ = c.call(ctx, http.MethodDelete, tokensPath+url.PathEscape(c.token), nil, nil, nil)
	c.token = ""
	c.http.CloseIdleConnections()
}

// call sends body as JSON (nil for none) and decodes the answer into out
// (nil to discard it).
func (c *client) call(ctx context.Context, method, path string, hdr http.Header, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return fmt.Errorf("f5: encode %s %s: %w", method, path, err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return fmt.Errorf("f5: %s %s: %w", method, path, err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	return c.send(req, out)
}

func (c *client) send(req *http.Request, out any) error {
	req.Header.Set("User-Agent", "certctl-f5")
	if c.token != "" {
		req.Header.Set(tokenHeader, c.token)
	}
	path := req.URL.Path
	resp, err := c.http.Do(req)
	if err != nil {
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = uerr.Err
		}
		return fmt.Errorf("f5: %s %s: %w", req.Method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return fmt.Errorf("f5: %s %s: read answer: %w", req.Method, path, err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return &APIError{Method: req.Method, Path: path, Status: resp.StatusCode, Message: deviceMessage(data)}
	}
	if out != nil && len(bytes.TrimSpace(data)) > 0 {
		if err := json.Unmarshal(data, out); err != nil {
			return fmt.Errorf("f5: %s %s: unexpected answer: %w", req.Method, path, err)
		}
	}
	return nil
}

// deviceMessage is the "message" of a BIG-IP error body, or the body
// itself cut short.
func deviceMessage(data []byte) string {
	var e struct {
		Message string `json:"message"`
	}
	if json.Unmarshal(data, &e) == nil && e.Message != "" {
		return e.Message
	}
	s := strings.ToValidUTF8(strings.TrimSpace(string(data)), "?")
	if len(s) > 512 {
		s = s[:512] + "…"
	}
	return s
}

// upload sends data to /var/config/rest/downloads/<name> in chunks of at
// most chunk bytes: the file-transfer worker refuses more than 1 MiB in one
// request, and takes each chunk's place from Content-Range.
func (c *client) upload(ctx context.Context, name string, data []byte, chunk int) error {
	total := len(data)
	if total == 0 {
		return fmt.Errorf("f5: upload %s: nothing to upload", name)
	}
	for start := 0; start == 0 || start < total; {
		end := min(start+chunk, total)
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base+uploadPath+url.PathEscape(name), bytes.NewReader(data[start:end]))
		if err != nil {
			return fmt.Errorf("f5: upload %s: %w", name, err)
		}
		req.Header.Set("Content-Type", "application/octet-stream")
		req.Header.Set("Content-Range", fmt.Sprintf("%d-%d/%d", start, end-1, total))
		if err := c.send(req, nil); err != nil {
			return err
		}
		start = end
	}
	return nil
}
