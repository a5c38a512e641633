package target

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"fmt"
	"net"
	"time"
)

// Probe is a TLS handshake that reads which certificate an endpoint serves.
type Probe struct {
	// Endpoint is host:port to dial.
	Endpoint string
	// ServerName is the SNI sent; empty sends none.
	ServerName string
	// Want is the SHA-256 fingerprint (hex) expected. The probe repeats
	// until the endpoint serves it or Wait is over: a reloaded server swaps
	// its workers gracefully, so the first handshakes may still see the old
	// certificate.
	Want string
	// Wait bounds the whole probe (default 10 s); Interval is the pause
	// between handshakes (default 200 ms).
	Wait, Interval time.Duration
}

// Run performs the probe and returns its result. The chain is not verified:
// the question is which certificate is served, answered by its fingerprint.
// An endpoint that never answers is an error; one that serves another
// certificate is a result with Valid false.
func (p Probe) Run(ctx context.Context) (*ValidationResult, error) {
	wait, interval := p.Wait, p.Interval
	if wait <= 0 {
		wait = 10 * time.Second
	}
	if interval <= 0 {
		interval = 200 * time.Millisecond
	}
	want := NormalFingerprint(p.Want)
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	res := &ValidationResult{Method: "tls", Endpoint: p.Endpoint, ServerName: p.ServerName, ExpectedFingerprint: want}
	var lastErr error
	for {
		fp, serial, err := handshake(ctx, p.Endpoint, p.ServerName)
		res.CheckedAt = time.Now().UTC()
		if err == nil {
			res.ServedFingerprint, res.ServedSerial = fp, serial
			if fp == want {
				res.Valid = true
				res.Message = fmt.Sprintf("%s serves the deployed certificate (serial %s)", p.Endpoint, serial)
				return res, nil
			}
			res.Message = fmt.Sprintf("%s serves certificate %s (serial %s), not the deployed %s", p.Endpoint, fp, serial, want)
		}
		lastErr = err
		select {
		case <-ctx.Done():
			if res.ServedFingerprint == "" {
				return nil, fmt.Errorf("target: TLS handshake with %s failed: %w", p.Endpoint, lastErr)
			}
			return res, nil
		case <-time.After(interval):
		}
	}
}

func handshake(ctx context.Context, endpoint, serverName string) (fingerprint, serial string, err error) {
	d := tls.Dialer{NetDialer: &net.Dialer{Timeout: 5 * time.Second},
		Config: &tls.Config{ServerName: serverName, InsecureSkipVerify: true}} //nolint:gosec // compared by fingerprint below
	hctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	conn, err := d.DialContext(hctx, "tcp", endpoint)
	if err != nil {
		return "", "", err
	}
	defer conn.Close()
	certs := conn.(*tls.Conn).ConnectionState().PeerCertificates
	if len(certs) == 0 {
		return "", "", fmt.Errorf("%s presented no certificate", endpoint)
	}
	sum := sha256.Sum256(certs[0].Raw)
	return hex.EncodeToString(sum[:]), hex.EncodeToString(certs[0].SerialNumber.Bytes()), nil
}
