package localca

import (
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/certctl/certctl/connectors/issuer"
)

// The certificate profile a config asks for, beyond names and lifetimes.
//
// Subject: organization, organizational_unit and country go into the
// subjects of the root and the intermediate (with the common name); a
// leaf's subject is its common name alone.
//
// public_url: the intermediate points at the root (AIA caIssuers
// <public_url>/.well-known/pki/ca/<id>/root, CRL distribution point
// <public_url>/.well-known/pki/crl/<id>/root, the CRL the root signs) and
// every leaf at the intermediate (<public_url>/.well-known/pki/ca/<id>/intermediate,
// <public_url>/.well-known/pki/crl/<id>, unless crl_url names another).
// The caIssuers URLs serve one DER certificate each, as RFC 5280 4.2.2.1
// asks of an HTTP caIssuers location. public_url also takes the
// CA/Browser Forum's TLS profile: the reserved policy identifier
// 2.23.140.1.2.1 (domain validated) in the intermediate and the leaves, and
// the intermediate's extended key usage restricted to serverAuth and
// clientAuth, as the Baseline Requirements (7.1.2.10.5, 7.1.2.10.6) ask.
//
// policy_oids: certificatePolicies of the intermediate and the leaves.
//
// Everything that goes into the root or the intermediate is fixed when the
// CA is made; what goes into leaves follows the config at each issuance.

// Paths, under public_url, of the routes the cluster serves (api/pki.go).
const (
	caPathPrefix  = "/.well-known/pki/ca/"
	crlPathPrefix = "/.well-known/pki/crl/"
)

// PolicyDomainValidated is the CA/Browser Forum's reserved policy
// identifier for domain-validated TLS certificates (BR 7.1.6.1).
const PolicyDomainValidated = "2.23.140.1.2.1"

// Bounds of the profile's fields (RFC 5280 appendix A upper bounds).
const (
	maxOrganization = 64
	maxPolicyOIDs   = 10
	maxPublicURL    = 200
)

var (
	oidAnyPolicy    = "2.5.29.32.0"
	cabfReservedArc = "2.23.140.1."
)

// validateProfile checks organization, organizational_unit, country,
// public_url and policy_oids.
func (c Config) validateProfile() error {
	for _, f := range []struct{ field, value string }{
		{"organization", c.Organization},
		{"organizational_unit", c.OrganizationalUnit},
	} {
		if err := checkSubjectText(f.field, f.value); err != nil {
			return err
		}
	}
	if c.Country != "" && (len(c.Country) != 2 || !isUpperASCII(c.Country)) {
		return &issuer.ConfigError{Field: "country", Reason: fmt.Sprintf("%q is not a country code: write its two capital letters (ISO 3166-1 alpha-2), e.g. DE or US", c.Country)}
	}
	if c.PublicURL != "" {
		if err := checkPublicURL(c.PublicURL); err != nil {
			return err
		}
	}
	if len(c.PolicyOIDs) > maxPolicyOIDs {
		return &issuer.ConfigError{Field: "policy_oids", Reason: fmt.Sprintf("%d entries, at most %d", len(c.PolicyOIDs), maxPolicyOIDs)}
	}
	seen := make(map[string]bool, len(c.PolicyOIDs))
	for _, s := range c.PolicyOIDs {
		if err := checkPolicyOID(s); err != nil {
			return err
		}
		if seen[s] {
			return &issuer.ConfigError{Field: "policy_oids", Reason: fmt.Sprintf("%s is listed twice", s)}
		}
		seen[s] = true
	}
	return nil
}

func checkSubjectText(field, s string) error {
	if s == "" {
		return nil
	}
	if n := utf8.RuneCountInString(s); n > maxOrganization {
		return &issuer.ConfigError{Field: field, Reason: fmt.Sprintf("%d characters, at most %d", n, maxOrganization)}
	}
	if strings.TrimSpace(s) != s {
		return &issuer.ConfigError{Field: field, Reason: "leading or trailing white space"}
	}
	if !utf8.ValidString(s) || strings.ContainsFunc(s, unicode.IsControl) {
		return &issuer.ConfigError{Field: field, Reason: "holds a control character or invalid UTF-8"}
	}
	return nil
}

func isUpperASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 'A' || s[i] > 'Z' {
			return false
		}
	}
	return true
}

// checkPublicURL accepts an absolute http or https URL with a host, an
// optional path prefix and nothing else: it is written into certificates
// as an IA5String, so printable ASCII only.
func checkPublicURL(s string) error {
	bad := func(why string) error {
		return &issuer.ConfigError{Field: "public_url", Reason: fmt.Sprintf("%q %s; write the cluster's address as relying parties reach it, e.g. https://pki.example.net", s, why)}
	}
	if len(s) > maxPublicURL {
		return bad(fmt.Sprintf("is longer than %d characters", maxPublicURL))
	}
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] > '~' {
			return bad("holds a space, a control or a non-ASCII character")
		}
	}
	u, err := url.Parse(s)
	switch {
	case err != nil:
		return bad("is not a URL")
	case u.Scheme != "https" && u.Scheme != "http":
		return bad("is not an https (or http) URL")
	case u.Host == "" || u.Hostname() == "":
		return bad("names no host")
	case u.User != nil:
		return bad("holds a user name or password")
	case u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || strings.Contains(s, "#"):
		return bad("has a query or a fragment")
	}
	return nil
}

// checkPolicyOID accepts a dotted OID (X.660: first arc 0 to 2, second
// below 40 under 0 and 1) that is neither anyPolicy, meaningless in a
// leaf, nor under the CA/Browser Forum's reserved arc, which certctl puts
// in itself (public_url) and whose other values claim validations it
// does not do.
func checkPolicyOID(s string) error {
	bad := func(why string) error {
		return &issuer.ConfigError{Field: "policy_oids", Reason: fmt.Sprintf("%q %s", s, why)}
	}
	arcs := strings.Split(s, ".")
	if len(arcs) < 2 {
		return bad("is not a dotted OID such as 1.3.6.1.4.1.99999.1.1")
	}
	for _, a := range arcs {
		if a == "" || strings.Trim(a, "0123456789") != "" || (len(a) > 1 && a[0] == '0') {
			return bad("is not a dotted OID such as 1.3.6.1.4.1.99999.1.1")
		}
	}
	first, _ := strconv.Atoi(arcs[0])
	second, err := strconv.Atoi(arcs[1])
	if first > 2 || len(arcs[0]) > 1 || (first < 2 && (err != nil || second > 39)) {
		return bad("is not a valid OID: the first arc is 0, 1 or 2, and the second below 40 under 0 or 1")
	}
	if _, err := x509.ParseOID(s); err != nil {
		return bad("is not a valid OID: " + err.Error())
	}
	if s == oidAnyPolicy {
		return bad("is anyPolicy, which a leaf must not assert; name your CA's own policy")
	}
	if strings.HasPrefix(s, cabfReservedArc) {
		return bad("is a CA/Browser Forum reserved policy: certctl adds " + PolicyDomainValidated + " itself when public_url is set, and asserts no other")
	}
	return nil
}

// caSubject is the subject of the root or the intermediate named cn.
func (c Config) caSubject(cn string) pkix.Name {
	name := pkix.Name{CommonName: cn}
	if c.Country != "" {
		name.Country = []string{c.Country}
	}
	if c.Organization != "" {
		name.Organization = []string{c.Organization}
	}
	if c.OrganizationalUnit != "" {
		name.OrganizationalUnit = []string{c.OrganizationalUnit}
	}
	return name
}

// publicURL is public_url followed by prefix and the issuer id; empty
// without public_url.
func (c Config) publicURL(prefix, suffix string) string {
	if c.PublicURL == "" {
		return ""
	}
	return strings.TrimRight(c.PublicURL, "/") + prefix + url.PathEscape(c.ID) + suffix
}

// URLs of the certificates and CRLs of the CA of c, under public_url.
func (c Config) rootCertURL() string         { return c.publicURL(caPathPrefix, "/root") }
func (c Config) intermediateCertURL() string { return c.publicURL(caPathPrefix, "/intermediate") }
func (c Config) rootCRLURL() string          { return c.publicURL(crlPathPrefix, "/root") }

// leafCRLURL is the CRL distribution point of a leaf: crl_url, else the
// intermediate's CRL under public_url; empty for none.
func (c Config) leafCRLURL() string {
	if c.CRLURL != "" {
		return c.CRLURL
	}
	return c.publicURL(crlPathPrefix, "")
}

// policies is the certificatePolicies of the intermediate and the leaves:
// the CA/Browser Forum's domain-validated identifier with public_url, then
// policy_oids (validated, so they parse).
func (c Config) policies() []x509.OID {
	var out []x509.OID
	if c.PublicURL != "" {
		oid, _ := x509.ParseOID(PolicyDomainValidated)
		out = append(out, oid)
	}
	for _, s := range c.PolicyOIDs {
		if oid, err := x509.ParseOID(s); err == nil {
			out = append(out, oid)
		}
	}
	return out
}

// applyIntermediate writes the profile's extensions into an intermediate's
// template.
func (c Config) applyIntermediate(tmpl *x509.Certificate) {
	tmpl.Subject = c.caSubject(tmpl.Subject.CommonName)
	tmpl.Policies = c.policies()
	if c.PublicURL != "" {
		tmpl.IssuingCertificateURL = []string{c.rootCertURL()}
		tmpl.CRLDistributionPoints = []string{c.rootCRLURL()}
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}
	}
}

// applyLeaf writes the profile's extensions into a leaf's template.
func (c Config) applyLeaf(tmpl *x509.Certificate) {
	tmpl.Policies = c.policies()
	if u := c.leafCRLURL(); u != "" {
		tmpl.CRLDistributionPoints = []string{u}
	}
	if u := c.intermediateCertURL(); u != "" {
		tmpl.IssuingCertificateURL = []string{u}
	}
}
