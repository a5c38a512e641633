package localca

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"

	"github.com/certctl/certctl/connectors/issuer"
)

// Type is the issuer type name of the Local CA.
const Type = "GenericCA"

// Defaults and bounds of a Config.
const (
	DefaultCommonName   = "certctl Local CA"
	DefaultValidityDays = 90
	MaxValidityDays     = 3650
	DefaultKeyType      = issuer.KeyECDSAP384
	// DefaultMaxValidityDays caps a leaf's lifetime when max_validity_days
	// is not set: 397 days, the CA/Browser Forum's limit for TLS server
	// certificates (or validity_days, when a config sets that higher).
	DefaultMaxValidityDays = 397
	// maxConstraints bounds each name-constraint list.
	maxConstraints = 100
	// maxCommonName leaves room for the root's " Root" suffix within RFC
	// 5280's 64 characters.
	maxCommonName = 64 - len(rootSuffix)
)

// caKeyTypes are the key types a CA may have.
var caKeyTypes = []issuer.KeyType{issuer.KeyECDSAP384, issuer.KeyRSA3072, issuer.KeyRSA4096}

// Config is a Local CA issuer's stored config (the issuer's "config" JSON).
// Zero fields take their defaults.
type Config struct {
	// CACommonName is the intermediate's common name; the root's is the
	// same followed by " Root". Default DefaultCommonName. Used by NewCA.
	CACommonName string `json:"ca_common_name,omitempty"`
	// ValidityDays is the lifetime of a leaf when the request gives none.
	// Default 90 (or max_validity_days when that is lower), at most
	// max_validity_days.
	ValidityDays int `json:"validity_days,omitempty"`
	// KeyType is the CA's key: ECDSA-P384 (default), RSA-3072 or RSA-4096.
	// Used by NewCA.
	KeyType string `json:"key_type,omitempty"`
	// CRLURL is put verbatim in every leaf's CRL distribution point, e.g.
	// http://ca.example.net/.well-known/pki/crl/iss-local. Empty means no
	// distribution point.
	CRLURL string `json:"crl_url,omitempty"`
	// MaxValidityDays caps every leaf's lifetime: a request for longer is
	// refused, naming this field. Default DefaultMaxValidityDays (397), or
	// ValidityDays when that is set higher, so a config written before this
	// field keeps working; at most MaxValidityDays.
	MaxValidityDays int `json:"max_validity_days,omitempty"`
	// AllowIPSANs lets leaves name IP addresses (as SANs or common name).
	// Default false: an IP SAN is refused.
	AllowIPSANs bool `json:"allow_ip_sans,omitempty"`
	// PermittedDNSDomains are the DNS domains the intermediate may sign for,
	// written into it as critical name constraints when the CA is made
	// (NewCAFor): "example.com" permits it and its subdomains,
	// ".example.com" its subdomains only. Leaves outside are refused here,
	// and rejected by every verifier that checks name constraints. An
	// intermediate made with DNS domains and no PermittedIPRanges excludes
	// every IP address. Changing the list later changes what this CA agrees
	// to sign, not its intermediate.
	PermittedDNSDomains []string `json:"permitted_dns_domains,omitempty"`
	// PermittedIPRanges are the IP ranges (CIDR, e.g. 10.0.0.0/8) the
	// intermediate may sign for, as PermittedDNSDomains; they need
	// AllowIPSANs.
	PermittedIPRanges []string `json:"permitted_ip_ranges,omitempty"`

	// Organization, OrganizationalUnit and Country name the CA in the
	// subjects of its root and intermediate (O, OU, C), next to
	// ca_common_name. Used by NewCA; leaves keep a subject of their common
	// name only. Country is an ISO 3166-1 alpha-2 code, two capital letters.
	Organization       string `json:"organization,omitempty"`
	OrganizationalUnit string `json:"organizational_unit,omitempty"`
	Country            string `json:"country,omitempty"`
	// PublicURL is the site's name for the cluster as relying parties reach
	// it (https://pki.example.net, or http:// for a plain-HTTP front, which
	// the CA/Browser Forum's profile asks for CRL and AIA URLs). From it the
	// Local CA writes AIA caIssuers and CRL distribution point URLs into
	// the intermediate (when the CA is made) and into every leaf, pointing
	// at the cluster's /.well-known/pki routes, and takes the CA/Browser
	// Forum's profile: see profile.go. Empty: none of that, as before.
	PublicURL string `json:"public_url,omitempty"`
	// PolicyOIDs are certificate policy OIDs (dotted, e.g.
	// 1.3.6.1.4.1.99999.1.1) put in the certificatePolicies extension of
	// the intermediate (when the CA is made) and of every leaf.
	PolicyOIDs []string `json:"policy_oids,omitempty"`

	// ID is the issuer's id. It is not part of the stored config: the
	// caller sets it (Connector does). New requires it: it binds the
	// sealed keys to the issuer.
	ID string `json:"-"`
}

// ParseConfig decodes a stored config, applies the defaults and validates
// it. null and empty input give the defaults. Unknown fields are refused, so
// a misspelt field does not silently keep its default. Errors are
// *issuer.ConfigError naming the field.
func ParseConfig(raw json.RawMessage) (Config, error) {
	var cfg Config
	if trimmed := bytes.TrimSpace(raw); len(trimmed) > 0 && !bytes.Equal(trimmed, []byte("null")) {
		dec := json.NewDecoder(bytes.NewReader(trimmed))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&cfg); err != nil {
			return Config{}, decodeError(err)
		}
		if dec.More() {
			return Config{}, &issuer.ConfigError{Field: "config", Reason: "data after the JSON object"}
		}
	}
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return Config{}, err
	}
	return cfg, nil
}

// ValidateConfig checks a stored config as ParseConfig does; it is the
// issuer.ConfigValidator of Type.
func ValidateConfig(ctx context.Context, raw json.RawMessage) error {
	_, err := ParseConfig(raw)
	return err
}

// WithDefaults returns c with its zero fields set to their defaults and its
// key type spelt canonically when it parses.
func (c Config) WithDefaults() Config {
	if c.CACommonName == "" {
		c.CACommonName = DefaultCommonName
	}
	if c.ValidityDays == 0 {
		c.ValidityDays = DefaultValidityDays
		if c.MaxValidityDays > 0 && c.MaxValidityDays < c.ValidityDays {
			c.ValidityDays = c.MaxValidityDays // a lower cap lowers the default too
		}
	}
	if c.MaxValidityDays == 0 {
		c.MaxValidityDays = max(DefaultMaxValidityDays, c.ValidityDays)
	}
	if c.KeyType == "" {
		c.KeyType = string(DefaultKeyType)
	} else if kt, err := issuer.ParseKeyType(c.KeyType); err == nil {
		c.KeyType = string(kt)
	}
	return c
}

// Validate reports the first invalid field of c as an *issuer.ConfigError;
// zero fields are valid (they take defaults). ID is not checked here.
func (c Config) Validate() error {
	if len(c.CACommonName) > maxCommonName {
		return &issuer.ConfigError{Field: "ca_common_name", Reason: fmt.Sprintf("%d characters, at most %d", len(c.CACommonName), maxCommonName)}
	}
	if strings.TrimSpace(c.CACommonName) != c.CACommonName {
		return &issuer.ConfigError{Field: "ca_common_name", Reason: "leading or trailing white space"}
	}
	if c.ValidityDays < 0 || c.ValidityDays > MaxValidityDays {
		return &issuer.ConfigError{Field: "validity_days", Reason: fmt.Sprintf("%d is outside 1 to %d", c.ValidityDays, MaxValidityDays)}
	}
	if c.MaxValidityDays < 0 || c.MaxValidityDays > MaxValidityDays {
		return &issuer.ConfigError{Field: "max_validity_days", Reason: fmt.Sprintf("%d is outside 1 to %d", c.MaxValidityDays, MaxValidityDays)}
	}
	if c.MaxValidityDays > 0 && c.ValidityDays > c.MaxValidityDays {
		return &issuer.ConfigError{Field: "validity_days", Reason: fmt.Sprintf("%d exceeds max_validity_days %d; lower validity_days or raise max_validity_days", c.ValidityDays, c.MaxValidityDays)}
	}
	if c.KeyType != "" {
		if _, err := caKeyType(c.KeyType); err != nil {
			return err
		}
	}
	if _, err := c.constraints(); err != nil {
		return err
	}
	if c.CRLURL != "" {
		u, err := url.Parse(c.CRLURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Fragment != "" {
			return &issuer.ConfigError{Field: "crl_url", Reason: fmt.Sprintf("%q is not an absolute http or https URL", c.CRLURL)}
		}
	}
	return c.validateProfile()
}

func caKeyType(s string) (issuer.KeyType, error) {
	kt, err := issuer.ParseKeyType(s)
	if err == nil {
		for _, ok := range caKeyTypes {
			if kt == ok {
				return kt, nil
			}
		}
	}
	return "", &issuer.ConfigError{Field: "key_type", Reason: fmt.Sprintf("%q is not a CA key type (ECDSA-P384, RSA-3072 or RSA-4096)", s)}
}

// decodeError turns a JSON decoding error into a *issuer.ConfigError naming
// the field when there is one.
func decodeError(err error) error {
	var typeErr *json.UnmarshalTypeError
	if errors.As(err, &typeErr) && typeErr.Field != "" {
		return &issuer.ConfigError{Field: typeErr.Field, Reason: fmt.Sprintf("must be a %s, not a JSON %s", typeErr.Type, typeErr.Value)}
	}
	if name, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		if unquoted, uerr := strconv.Unquote(name); uerr == nil {
			name = unquoted
		}
		return &issuer.ConfigError{Field: name, Reason: "unknown field (known: ca_common_name, validity_days, max_validity_days, key_type, crl_url, allow_ip_sans, permitted_dns_domains, permitted_ip_ranges, organization, organizational_unit, country, public_url, policy_oids)"}
	}
	return &issuer.ConfigError{Field: "config", Reason: "not a JSON object: " + err.Error()}
}
