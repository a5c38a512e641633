package acme

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
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
	// every node on its acme_http_addr.
	Challenge string `json:"challenge,omitempty"`
	// TermsOfServiceAgreed agrees to the CA's terms of service when the
	// account is registered; a CA that has terms refuses an account
	// without it.
	TermsOfServiceAgreed bool `json:"terms_of_service_agreed,omitempty"`

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
	Secret:      []string{"eab_hmac_key", "eab_hmac"},
	Destination: []string{"directory_url", "ca_bundle"},
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
			return Config{}, &issuer.ConfigError{Field: strings.Trim(f, `"`), Reason: "unknown field (ACME knows directory_url, email, eab_kid, eab_hmac_key, ca_bundle, profile, challenge, terms_of_service_agreed)"}
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
	switch c.Challenge {
	case ChallengeHTTP01:
	case ChallengeDNS01:
		return &issuer.ConfigError{Field: "challenge", Reason: "dns-01 is not available in this build yet: use http-01"}
	default:
		return &issuer.ConfigError{Field: "challenge", Reason: fmt.Sprintf("%q is not a challenge type: use http-01", c.Challenge)}
	}
	return nil
}
