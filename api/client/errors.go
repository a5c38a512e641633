package client

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/certctl/certctl/api/wire"
)

var (
	// ErrUnreachable is wrapped by the error of a call that reached no
	// server at all (every attempt failed to connect or timed out).
	ErrUnreachable = errors.New("certctl: no server could be reached")
	// ErrEmptyID is returned, without calling the server, when a method is
	// given an empty id.
	ErrEmptyID = errors.New("certctl: an id argument is empty")
	// ErrInsecureHTTP is wrapped by the error of Config.Validate (and New)
	// for an http:// server address of another host when
	// Config.InsecureHTTP is not set.
	ErrInsecureHTTP = errors.New("certctl: plain http:// to another host is refused")
	// ErrUntrustedServer is wrapped, with the crypto/x509 error, by the error
	// of a call whose server presented a certificate the client does not
	// trust (another CA's, or not naming the address called). The call is
	// not retried.
	ErrUntrustedServer = errors.New("certctl: the server's TLS certificate is not trusted")
)

// isUntrusted reports whether err, from sending a request, is the failure to
// verify the server's certificate.
func isUntrusted(err error) bool {
	var (
		verr *tls.CertificateVerificationError
		uerr x509.UnknownAuthorityError
		herr x509.HostnameError
		ierr x509.CertificateInvalidError
	)
	return errors.As(err, &verr) || errors.As(err, &uerr) || errors.As(err, &herr) || errors.As(err, &ierr)
}

// APIError is a non-2xx answer of the API. Body is the error body the server
// sent; when the answer was not in the error shape, Body.Error is the status
// text and Body.Message whatever text came.
type APIError struct {
	Status int
	Body   wire.Error
}

// Error returns "certctl: <status text>: <message> (request <id>)".
func (e *APIError) Error() string {
	var b strings.Builder
	b.WriteString("certctl: ")
	b.WriteString(e.Body.Error)
	if e.Body.Message != "" {
		b.WriteString(": ")
		b.WriteString(e.Body.Message)
	}
	if e.Body.RequestID != "" {
		b.WriteString(" (request ")
		b.WriteString(e.Body.RequestID)
		b.WriteString(")")
	}
	return b.String()
}

// newAPIError builds the error of a non-2xx answer whose body is raw; reqID
// is the id the client sent, used when the server named none.
func newAPIError(resp *http.Response, raw []byte, reqID string) *APIError {
	e := &APIError{Status: resp.StatusCode}
	if json.Unmarshal(raw, &e.Body) != nil {
		e.Body = wire.Error{Message: plainText(raw)}
	}
	if e.Body.Error == "" {
		e.Body.Error = http.StatusText(resp.StatusCode)
		if e.Body.Error == "" {
			e.Body.Error = "status " + strconv.Itoa(resp.StatusCode)
		}
	}
	if e.Body.RequestID == "" {
		e.Body.RequestID = resp.Header.Get(HeaderRequestID)
	}
	if e.Body.RequestID == "" {
		e.Body.RequestID = reqID
	}
	return e
}

// plainText is a short, printable excerpt of a body that is not JSON (a
// proxy's error page, say).
func plainText(raw []byte) string {
	s := strings.Join(strings.Fields(string(raw)), " ")
	if !utf8.ValidString(s) {
		return ""
	}
	if len(s) > 200 {
		s = s[:200] + "..."
	}
	return s
}

// StatusOf returns the HTTP status of an *APIError in err's chain, or 0.
func StatusOf(err error) int {
	var e *APIError
	if errors.As(err, &e) {
		return e.Status
	}
	return 0
}

// IsNotFound reports whether err is a 404.
func IsNotFound(err error) bool { return StatusOf(err) == http.StatusNotFound }

// IsConflict reports whether err is a 409: the resource exists already or is
// in a state that forbids the change.
func IsConflict(err error) bool { return StatusOf(err) == http.StatusConflict }

// IsUnauthorized reports whether err is a 401: no key, or a key the server
// does not know.
func IsUnauthorized(err error) bool { return StatusOf(err) == http.StatusUnauthorized }

// IsForbidden reports whether err is a 403: the key's role does not allow it.
func IsForbidden(err error) bool { return StatusOf(err) == http.StatusForbidden }

// IsGone reports whether err is a 410, the answer to a retired agent.
func IsGone(err error) bool { return StatusOf(err) == http.StatusGone }

// IsUnavailable reports whether the cluster could not serve the call: every
// server answered 503 (no leader, not ready, timeout) or none was reached.
func IsUnavailable(err error) bool {
	return StatusOf(err) == http.StatusServiceUnavailable || errors.Is(err, ErrUnreachable)
}
