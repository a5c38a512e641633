package client

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"strings"
)

// ClusterCAPath is the public route serving the cluster CA bundle as PEM.
const ClusterCAPath = "/.well-known/pki/cluster-ca"

// ErrFingerprintMismatch is wrapped by the error of FetchClusterCA when the
// bundle a server sends holds no certificate with the expected fingerprint.
var ErrFingerprintMismatch = errors.New("certctl: the cluster CA does not match the fingerprint")

// ClusterCA returns the cluster CA bundle (PEM) served at ClusterCAPath,
// checked to hold only certificates, over the client's own connection: an
// https:// server is trusted as for any call (Config.RootCAs or
// HTTPClient). To trust a cluster for the first time, use FetchClusterCA.
func (c *Client) ClusterCA(ctx context.Context) ([]byte, error) {
	var raw []byte
	cl := &call{method: http.MethodGet, path: ClusterCAPath, raw: &raw, accept: "application/x-pem-file", want: []int{http.StatusOK}}
	if err := c.exec(ctx, cl); err != nil {
		return nil, err
	}
	if _, err := ParseBundle(raw); err != nil {
		return nil, fmt.Errorf("certctl: the answer of GET %s: %w", ClusterCAPath, err)
	}
	return raw, nil
}

// FetchClusterCA returns the cluster CA bundle of the first of cfg.Servers
// that answers, trusting nothing but the CA certificate whose DER has the
// SHA-256 fingerprint pin, as the first node printed it at bootstrap: the
// way to trust a cluster the first time (kubeadm's discovery hash).
//
// It reads the bundle once over a connection it does not verify, sending no
// credential (the route is public), only to find the certificate matching
// pin; a bundle without it is ErrFingerprintMismatch and nothing more is
// tried. It then reads the bundle again over a connection verified against
// that certificate alone (the server's chain must be signed by it and name
// the address called, or the error wraps ErrUntrustedServer) and returns
// that second answer, which must hold the pinned certificate too. Over
// http:// (a loopback address, or cfg.InsecureHTTP) there is no chain to
// verify, and the bundle is only matched against pin. cfg.APIKey,
// HTTPClient and RootCAs are not used.
func FetchClusterCA(ctx context.Context, cfg Config, pin [sha256.Size]byte) ([]byte, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	var lastErr error
	for _, s := range cfg.Servers {
		server, _ := parseServer(s)
		bundle, err := fetchPinned(ctx, cfg, server, pin)
		if errors.Is(err, ErrUnreachable) && ctx.Err() == nil {
			lastErr = err
			continue
		}
		return bundle, err
	}
	return nil, lastErr
}

func fetchPinned(ctx context.Context, cfg Config, server string, pin [sha256.Size]byte) ([]byte, error) {
	// First contact: the server's certificate cannot be verified yet. What it
	// sends is used only to find the certificate the pin names.
	discovery := defaultHTTPClient(nil)
	discovery.Transport.(*http.Transport).TLSClientConfig.InsecureSkipVerify = true //nolint:gosec // the answer is matched against the pin, then fetched again verified
	defer discovery.CloseIdleConnections()
	first, err := pinnedClient(cfg, server, discovery)
	if err != nil {
		return nil, err
	}
	raw, err := first.ClusterCA(ctx)
	if err != nil {
		return nil, err
	}
	ca, err := pinned(server, raw, pin)
	if err != nil {
		return nil, err
	}
	if strings.HasPrefix(server, "http://") {
		return raw, nil
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	verified := defaultHTTPClient(pool)
	defer verified.CloseIdleConnections()
	second, err := pinnedClient(cfg, server, verified)
	if err != nil {
		return nil, err
	}
	raw, err = second.ClusterCA(ctx)
	if err != nil {
		return nil, err
	}
	if _, err := pinned(server, raw, pin); err != nil {
		return nil, err
	}
	return raw, nil
}

// pinnedClient calls server alone, once, with no API key.
func pinnedClient(cfg Config, server string, hc *http.Client) (*Client, error) {
	return New(Config{Servers: []string{server}, InsecureHTTP: cfg.InsecureHTTP, HTTPClient: hc, UserAgent: cfg.UserAgent, MaxAttempts: 1})
}

// pinned returns the certificate of bundle whose fingerprint is pin.
func pinned(server string, bundle []byte, pin [sha256.Size]byte) (*x509.Certificate, error) {
	certs, err := ParseBundle(bundle)
	if err != nil {
		return nil, fmt.Errorf("certctl: the cluster CA served by %s: %w", server, err)
	}
	got := make([]string, len(certs))
	for i, c := range certs {
		if sha256.Sum256(c.Raw) == pin {
			return c, nil
		}
		got[i] = Fingerprint(c)
	}
	return nil, fmt.Errorf("%w: %s serves a bundle holding %s, not %s", ErrFingerprintMismatch, server,
		strings.Join(got, ", "), hex.EncodeToString(pin[:]))
}

// ParseBundle returns the certificates of a PEM bundle. It fails on a bundle
// without a certificate, on a PEM block of another type and on text that is
// not PEM.
func ParseBundle(bundle []byte) ([]*x509.Certificate, error) {
	var certs []*x509.Certificate
	rest := bundle
	for {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			return nil, fmt.Errorf("the CA bundle holds a %q PEM block where only certificates belong", block.Type)
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("the CA bundle's certificate %d: %w", len(certs)+1, err)
		}
		certs = append(certs, c)
	}
	if len(bytes.TrimSpace(rest)) > 0 {
		return nil, errors.New("the CA bundle holds text that is not PEM")
	}
	if len(certs) == 0 {
		return nil, errors.New("the CA bundle holds no PEM certificate")
	}
	return certs, nil
}

// Fingerprint returns the SHA-256 of c's DER in lower-case hex, the form
// FetchClusterCA's pin is printed in.
func Fingerprint(c *x509.Certificate) string {
	sum := sha256.Sum256(c.Raw)
	return hex.EncodeToString(sum[:])
}

// ParseFingerprint reads a SHA-256 fingerprint: 64 hex digits, in either
// case, optionally after "sha256:" and with ':' between the bytes.
func ParseFingerprint(s string) ([sha256.Size]byte, error) {
	var pin [sha256.Size]byte
	h := strings.TrimSpace(s)
	if len(h) > 7 && strings.EqualFold(h[:7], "sha256:") {
		h = h[7:]
	}
	h = strings.ReplaceAll(h, ":", "")
	b, err := hex.DecodeString(h)
	if err != nil || len(b) != sha256.Size {
		return pin, fmt.Errorf("certctl: fingerprint %q is not a SHA-256: give its 64 hex digits (sha256:... and colons are accepted)", s)
	}
	copy(pin[:], b)
	return pin, nil
}
