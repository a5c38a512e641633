package acme

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"

	"github.com/certctl/certctl/connectors/issuer"
)

// Type is the issuer type name of ACME issuers.
const Type = "ACME"

// Challenge types a Config may name.
const (
	ChallengeHTTP01 = "http-01"
	ChallengeDNS01  = "dns-01"
)

// Config is an ACME issuer's stored config (the issuer's "config" JSON).
type Config struct {
	// DirectoryURL is the CA's ACME directory, https.
	DirectoryURL string `json:"directory_url"`
	// Email is the account's contact, optional.
	Email string `json:"email,omitempty"`
	// EABKID and EABHMACKey are the External Account Binding the CA gave
	// (RFC 8555 §7.3.4): both or neither. EABHMACKey is base64url and
	// secret: sealed at rest, redacted in answers.
	EABKID     string `json:"eab_kid,omitempty"`
	EABHMACKey string `json:"eab_hmac_key,omitempty"`
	// CABundle is PEM: the CAs the directory's TLS certificate is checked
	// against instead of the system's (an internal ACME CA).
	CABundle string `json:"ca_bundle,omitempty"`
	// Profile is the certificate profile to order, where the CA offers
	// profiles (its directory's meta.profiles); empty orders the default.
	Profile string `json:"profile,omitempty"`
	// Challenge is how names are validated: http-01 (default), answered by
	// every node on its acme_http_addr, or dns-01 (the dns_ fields).
	Challenge string `json:"challenge,omitempty"`
	// TermsOfServiceAgreed agrees to the CA's terms of service when the
	// account is registered; a CA that has terms refuses an account
	// without it.
	TermsOfServiceAgreed bool `json:"terms_of_service_agreed,omitempty"`
	// HTTP01Responder is who answers http-01: "cluster" (default), every
	// node on its acme_http_addr, or "agent", the agents of the
	// certificate's targets on their hosts (agent01.go).
	HTTP01Responder string `json:"http01_responder,omitempty"`

	// DNS-01 through RFC 2136 dynamic updates to the site's DNS server:
	// DNSServer (host:port) is where the TXT records are written, signed
	// with the TSIG key DNSTSIGKey / DNSTSIGSecret (secret: sealed, never
	// shown) of algorithm DNSTSIGAlgorithm (default hmac-sha256), in zone
	// DNSZone; the record must be served there within
	// DNSPropagationSeconds (default 120) before the CA is told.
	DNSServer             string `json:"dns_server,omitempty"`
	DNSZone               string `json:"dns_zone,omitempty"`
	DNSTSIGKey            string `json:"dns_tsig_key,omitempty"`
	DNSTSIGSecret         string `json:"dns_tsig_secret,omitempty"`
	DNSTSIGAlgorithm      string `json:"dns_tsig_algorithm,omitempty"`
	DNSPropagationSeconds int    `json:"dns_propagation_seconds,omitempty"`
	// DNSHook, instead of the RFC 2136 update, is the absolute path of a
	// program run as "<path> present|cleanup <fqdn> <value>": one of the
	// server's acme_dns_hooks. DNSServer is still where the record is
	// checked.
	DNSHook string `json:"dns_hook,omitempty"`

	// Fields of configs written before this connector (the original
	// product's names), still accepted: challenge_type for challenge,
	// eab_hmac for eab_hmac_key; http_port is where a node answers
	// HTTP-01, now the server's acme_http_addr, and is ignored.
	LegacyChallengeType string `json:"challenge_type,omitempty"`
	LegacyEABHMAC       string `json:"eab_hmac,omitempty"`
	LegacyHTTPPort      int    `json:"http_port,omitempty"`
}

// Secrets are the secret fields of an ACME config.
var Secrets = issuer.Secrets{
	Secret:      []string{"eab_hmac_key", "eab_hmac", "dns_tsig_secret"},
	Destination: []string{"directory_url", "ca_bundle", "dns_server", "dns_hook"},
}

// ParseConfig decodes a stored config, applies the defaults and validates
// it. Unknown fields are refused. Errors are *issuer.ConfigError naming the
// field.
func ParseConfig(raw json.RawMessage) (Config, error) {
	var cfg Config
	trimmed := bytes.TrimSpace(raw)
	if len(trimmed) == 0 || bytes.Equal(trimmed, []byte("null")) {
		return Config{}, &issuer.ConfigError{Field: "directory_url", Reason: "an ACME issuer needs its CA's directory URL"}
	}
	dec := json.NewDecoder(bytes.NewReader(trimmed))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&cfg); err != nil {
		var ute *json.UnmarshalTypeError
		if errors.As(err, &ute) && ute.Field != "" {
			return Config{}, &issuer.ConfigError{Field: ute.Field, Reason: "must be a " + ute.Type.String()}
		}
		if f, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
			return Config{}, &issuer.ConfigError{Field: strings.Trim(f, `"`), Reason: "unknown field (ACME knows directory_url, email, eab_kid, eab_hmac_key, ca_bundle, profile, challenge, terms_of_service_agreed, http01_responder, dns_server, dns_zone, dns_tsig_key, dns_tsig_secret, dns_tsig_algorithm, dns_propagation_seconds, dns_hook)"}
		}
		return Config{}, &issuer.ConfigError{Field: "config", Reason: err.Error()}
	}
	if cfg.Challenge == "" {
		cfg.Challenge = cfg.LegacyChallengeType
	}
	if cfg.Challenge == "" {
		cfg.Challenge = ChallengeHTTP01
	}
	cfg.Challenge = strings.ToLower(cfg.Challenge)
	if cfg.EABHMACKey == "" {
		cfg.EABHMACKey = cfg.LegacyEABHMAC
	}
	if cfg.DNSTSIGAlgorithm == "" {
		cfg.DNSTSIGAlgorithm = "hmac-sha256"
	}
	if cfg.DNSPropagationSeconds == 0 {
		cfg.DNSPropagationSeconds = 120
	}
	return cfg, cfg.Validate()
}

// ValidateConfig is the issuer.ConfigValidator of Type.
func ValidateConfig(_ context.Context, raw json.RawMessage) error {
	_, err := ParseConfig(raw)
	return err
}

// Validate checks a config with its defaults applied.
func (c Config) Validate() error {
	u, err := url.Parse(c.DirectoryURL)
	switch {
	case c.DirectoryURL == "":
		return &issuer.ConfigError{Field: "directory_url", Reason: "an ACME issuer needs its CA's directory URL, e.g. https://ca.example.net/acme/directory"}
	case err != nil || u.Host == "":
		return &issuer.ConfigError{Field: "directory_url", Reason: "not an absolute URL"}
	case u.Scheme != "https":
		return &issuer.ConfigError{Field: "directory_url", Reason: "an ACME directory is served over https (RFC 8555 §6.1)"}
	}
	if strings.ContainsAny(c.Email, " \t\r\n,") || (c.Email != "" && !strings.Contains(c.Email, "@")) {
		return &issuer.ConfigError{Field: "email", Reason: "one e-mail address, e.g. pki@example.com"}
	}
	if (c.EABKID == "") != (c.EABHMACKey == "") {
		return &issuer.ConfigError{Field: "eab_hmac_key", Reason: "External Account Binding needs both eab_kid and eab_hmac_key"}
	}
	// A value already sealed, or the API's placeholder that keeps the
	// stored one, is checked when it was first given.
	if c.EABHMACKey != "" && !strings.HasPrefix(c.EABHMACKey, "sealed:") && strings.Trim(c.EABHMACKey, "*") != "" {
		if _, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(c.EABHMACKey, "=")); err != nil {
			return &issuer.ConfigError{Field: "eab_hmac_key", Reason: "the HMAC key is base64url, as the CA gave it"}
		}
	}
	if c.CABundle != "" {
		if !x509.NewCertPool().AppendCertsFromPEM([]byte(c.CABundle)) {
			return &issuer.ConfigError{Field: "ca_bundle", Reason: "no PEM certificate in it"}
		}
	}
	if len(c.Profile) > 64 || strings.ContainsAny(c.Profile, " \t\r\n") {
		return &issuer.ConfigError{Field: "profile", Reason: "a profile name as the CA's directory lists it (meta.profiles)"}
	}
	if err := c.validateResponder(); err != nil {
		return err
	}
	switch c.Challenge {
	case ChallengeHTTP01:
	case ChallengeDNS01:
		return c.validateDNS()
	default:
		return &issuer.ConfigError{Field: "challenge", Reason: fmt.Sprintf("%q is not a challenge type: use http-01 or dns-01", c.Challenge)}
	}
	return nil
}

// validateDNS checks the DNS-01 fields.
func (c Config) validateDNS() error {
	if _, _, err := net.SplitHostPort(c.DNSServer); err != nil {
		return &issuer.ConfigError{Field: "dns_server", Reason: "dns-01 needs the site's DNS server that takes RFC 2136 updates, as host:port (e.g. 10.0.0.53:53)"}
	}
	if c.DNSHook != "" {
		if !strings.HasPrefix(c.DNSHook, "/") {
			return &issuer.ConfigError{Field: "dns_hook", Reason: "the absolute path of a program among the server's acme_dns_hooks"}
		}
		return nil
	}
	if c.DNSZone == "" {
		return &issuer.ConfigError{Field: "dns_zone", Reason: "dns-01 needs the zone the _acme-challenge records are written in, e.g. example.com"}
	}
	if (c.DNSTSIGKey == "") != (c.DNSTSIGSecret == "") {
		return &issuer.ConfigError{Field: "dns_tsig_secret", Reason: "a TSIG key needs both dns_tsig_key and dns_tsig_secret"}
	}
	switch strings.TrimSuffix(strings.ToLower(c.DNSTSIGAlgorithm), ".") {
	case "hmac-sha1", "hmac-sha224", "hmac-sha256", "hmac-sha384", "hmac-sha512":
	default:
		return &issuer.ConfigError{Field: "dns_tsig_algorithm", Reason: "one of hmac-sha256 (default), hmac-sha384, hmac-sha512, hmac-sha224, hmac-sha1"}
	}
	if c.DNSPropagationSeconds < 1 || c.DNSPropagationSeconds > 3600 {
		return &issuer.ConfigError{Field: "dns_propagation_seconds", Reason: "between 1 and 3600"}
	}
	return nil
}
