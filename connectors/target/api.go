package target

import (
	"crypto/tls"
	"net/http"
	"time"
)

// APIClient returns the HTTP client a device connector talks to a
// management API with (BIG-IP's iControl REST, a Windows host's WinRM):
// TLS as tc says; no proxy from the environment, since the agent reaches
// the device directly; no redirect followed, so credentials never travel
// to another address; timeout bounding each request, its TLS handshake and
// the wait for the response header. The caller owns it and closes its idle
// connections when done.
func APIClient(tc *tls.Config, timeout time.Duration) *http.Client {
	return &http.Client{
		Timeout: timeout,
		Transport: &http.Transport{Proxy: nil, TLSClientConfig: tc, TLSHandshakeTimeout: timeout,
			ResponseHeaderTimeout: timeout, MaxIdleConnsPerHost: 2},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}
