package email

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"net"
	"net/mail"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/certctl/certctl/connectors/notifier"
)

// TLS modes of Config.TLS.
const (
	TLSStartTLS = "starttls" // plain connection upgraded with STARTTLS, required (the default)
	TLSImplicit = "implicit" // TLS from the first byte (SMTPS, port 465)
	TLSNone     = "none"     // no encryption: only for a relay on the same host or a test
)

// Defaults of Config.
const (
	DefaultPort    = 587
	DefaultTimeout = 30 * time.Second
)

// Config is an e-mail notifier's configuration (JSON field names as stored).
type Config struct {
	// SMTPHost is the SMTP server's host name, also the name its TLS
	// certificate must carry.
	SMTPHost string `json:"smtp_host"`
	// SMTPPort is its port; 0 means DefaultPort (587).
	SMTPPort int `json:"smtp_port,omitempty"`
	// Username and Password authenticate with PLAIN when Username is set.
	Username string `json:"username,omitempty"`
	Password string `json:"password,omitempty"`
	// FromAddress is the sender, e.g. "certctl@example.org" or
	// "certctl <certctl@example.org>".
	FromAddress string `json:"from_address"`
	// TLS is TLSStartTLS (empty), TLSImplicit or TLSNone.
	TLS string `json:"tls,omitempty"`
	// CAFile is a PEM file of the CA certificates the SMTP server's
	// certificate is checked against; empty means the system's.
	CAFile string `json:"ca_file,omitempty"`
	// LinkBaseURL is the dashboard's certificates page, e.g.
	// "https://certctl.example/certificates": a message about certificate
	// mc-x links to LinkBaseURL + "/mc-x". Empty: no link.
	LinkBaseURL string `json:"link_base_url,omitempty"`
	// TimeoutSeconds bounds one send, dial included; 0 means DefaultTimeout.
	TimeoutSeconds int `json:"timeout_seconds,omitempty"`
}

func (c Config) withDefaults() Config {
	if c.SMTPPort == 0 {
		c.SMTPPort = DefaultPort
	}
	if c.TLS == "" {
		c.TLS = TLSStartTLS
	}
	c.TLS = strings.ToLower(c.TLS)
	return c
}

// Validate reports the first problem of c with its defaults filled in.
func (c Config) Validate() error {
	c = c.withDefaults()
	switch {
	case strings.TrimSpace(c.SMTPHost) == "" || strings.ContainsAny(c.SMTPHost, " /\r\n") ||
		strings.Contains(c.SMTPHost, ":") && net.ParseIP(c.SMTPHost) == nil:
		return notifier.Configf("smtp_host", "%q: a host name or address is required, without a port (see smtp_port)", c.SMTPHost)
	case c.SMTPPort < 1 || c.SMTPPort > 65535:
		return notifier.Configf("smtp_port", "%d is not a port", c.SMTPPort)
	case c.TLS != TLSStartTLS && c.TLS != TLSImplicit && c.TLS != TLSNone:
		return notifier.Configf("tls", "%q: use starttls, implicit or none", c.TLS)
	case c.Password != "" && c.Username == "":
		return notifier.Configf("username", "a password is set without a username")
	case c.TimeoutSeconds < 0:
		return notifier.Configf("timeout_seconds", "%d is negative", c.TimeoutSeconds)
	case c.TLS == TLSNone && c.Username != "" && !loopback(c.SMTPHost):
		return notifier.Configf("tls", "none would send the password unencrypted to %s: use starttls or implicit", c.SMTPHost)
	}
	if _, err := mail.ParseAddress(c.FromAddress); err != nil {
		return notifier.Configf("from_address", "%q: %v", c.FromAddress, err)
	}
	if c.LinkBaseURL != "" {
		u, err := url.Parse(c.LinkBaseURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return notifier.Configf("link_base_url", "%q is not an http(s) URL", c.LinkBaseURL)
		}
	}
	if c.CAFile != "" {
		if _, err := loadCAs(c.CAFile); err != nil {
			return err
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

func loadCAs(path string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(path)
	if err != nil {
		return nil, notifier.Configf("ca_file", "%v", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, notifier.Configf("ca_file", "%s holds no PEM certificate", path)
	}
	return pool, nil
}

// tlsConfig is the client TLS config for c's server.
func (c Config) tlsConfig() (*tls.Config, error) {
	tc := &tls.Config{ServerName: c.SMTPHost, MinVersion: tls.VersionTLS12}
	if c.CAFile != "" {
		pool, err := loadCAs(c.CAFile)
		if err != nil {
			return nil, err
		}
		tc.RootCAs = pool
	}
	return tc, nil
}

func (c Config) timeout() time.Duration {
	if c.TimeoutSeconds > 0 {
		return time.Duration(c.TimeoutSeconds) * time.Second
	}
	return DefaultTimeout
}

func (c Config) addr() string { return net.JoinHostPort(c.SMTPHost, strconv.Itoa(c.SMTPPort)) }

// loopback reports whether host is this host.
func loopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
