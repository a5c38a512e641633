package localca

import (
	"crypto/x509"
	"fmt"
	"net"
	"strings"

	"golang.org/x/net/publicsuffix"

	"github.com/certctl/certctl/connectors/issuer"
)

// What the Local CA agrees to sign, beyond the shape of a name (which
// issuer.ParseNames checks): no wildcard directly under a public suffix
// (*.com, *.co.uk, *.github.io, or a single-label *.corp, which the public
// suffix list's default rule counts as one), no name that is itself an ICANN
// public suffix, no DNS name that is not one at all, no IP address unless
// allow_ip_sans, and every name within the name constraints of the config
// and of the intermediate.

// nameConstraints are the permitted subtrees of a config.
type nameConstraints struct {
	dns []string
	ips []*net.IPNet
}

func (n nameConstraints) empty() bool { return len(n.dns) == 0 && len(n.ips) == 0 }

// constraints parses and checks the config's permitted_dns_domains and
// permitted_ip_ranges; errors are *issuer.ConfigError naming the field.
func (c Config) constraints() (nameConstraints, error) {
	var out nameConstraints
	if len(c.PermittedDNSDomains) > maxConstraints {
		return out, &issuer.ConfigError{Field: "permitted_dns_domains", Reason: fmt.Sprintf("%d entries, at most %d", len(c.PermittedDNSDomains), maxConstraints)}
	}
	for _, d := range c.PermittedDNSDomains {
		name := strings.ToLower(strings.TrimSuffix(d, "."))
		base := strings.TrimPrefix(name, ".")
		if strings.Contains(base, "*") || net.ParseIP(base) != nil || !validDNSName(base) {
			return out, &issuer.ConfigError{Field: "permitted_dns_domains", Reason: fmt.Sprintf(
				"%q is not a DNS domain: write example.com (it and its subdomains) or .example.com (subdomains only), without a wildcard", d)}
		}
		out.dns = append(out.dns, name)
	}
	if len(c.PermittedIPRanges) > maxConstraints {
		return out, &issuer.ConfigError{Field: "permitted_ip_ranges", Reason: fmt.Sprintf("%d entries, at most %d", len(c.PermittedIPRanges), maxConstraints)}
	}
	for _, r := range c.PermittedIPRanges {
		ip, ipnet, err := net.ParseCIDR(r)
		if err != nil {
			return out, &issuer.ConfigError{Field: "permitted_ip_ranges", Reason: fmt.Sprintf("%q is not a CIDR range such as 10.0.0.0/8 or fd00::/8 (a single address is 10.0.0.1/32)", r)}
		}
		if !ip.Equal(ipnet.IP) {
			return out, &issuer.ConfigError{Field: "permitted_ip_ranges", Reason: fmt.Sprintf("%q has host bits set; write its network, %s", r, ipnet)}
		}
		if v4 := ipnet.IP.To4(); v4 != nil {
			ipnet.IP = v4
		}
		out.ips = append(out.ips, ipnet)
	}
	if len(out.ips) > 0 && !c.AllowIPSANs {
		return out, &issuer.ConfigError{Field: "permitted_ip_ranges", Reason: "IP ranges are of use only with allow_ip_sans: true; set it, or remove permitted_ip_ranges"}
	}
	return out, nil
}

// apply writes n into an intermediate's template as critical name
// constraints. With DNS domains and no IP range, every IP address is
// excluded: a CA constrained to names must not sign for any address.
func (n nameConstraints) apply(tmpl *x509.Certificate) {
	if n.empty() {
		return
	}
	tmpl.PermittedDNSDomainsCritical = true
	tmpl.PermittedDNSDomains = n.dns
	tmpl.PermittedIPRanges = n.ips
	if len(n.dns) > 0 && len(n.ips) == 0 {
		tmpl.ExcludedIPRanges = []*net.IPNet{
			{IP: net.IPv4zero.To4(), Mask: net.CIDRMask(0, 32)},
			{IP: net.IPv6zero, Mask: net.CIDRMask(0, 128)},
		}
	}
}

// checkNames refuses what this CA does not sign (see above), as an
// *issuer.RequestError naming common_name or sans and what to change.
func (i *Issuer) checkNames(commonName string, names issuer.Names) error {
	field := func(name string) string {
		if strings.EqualFold(name, commonName) {
			return "common_name"
		}
		return "sans"
	}
	if commonName != "" && net.ParseIP(commonName) == nil && !validDNSName(commonName) {
		return &issuer.RequestError{Field: "common_name", Reason: fmt.Sprintf(
			"%q is not a DNS name (letters, digits and hyphens in dot-separated labels, optionally behind *.) nor an IP address", commonName)}
	}
	cfgNC, err := i.cfg.constraints()
	if err != nil {
		return err
	}
	for _, name := range names.DNSNames {
		if !validDNSName(name) {
			return &issuer.RequestError{Field: field(name), Reason: fmt.Sprintf("%q is not a valid DNS name: its last label is all digits", name)}
		}
		if base, ok := strings.CutPrefix(name, "*."); ok {
			if suffix, _ := publicsuffix.PublicSuffix(base); suffix == base {
				return &issuer.RequestError{Field: field(name), Reason: fmt.Sprintf(
					"wildcard %q covers the public suffix %q, under which anyone may register names; name a domain of your own, such as *.example.%s", name, base, base)}
			}
		} else if suffix, icann := publicsuffix.PublicSuffix(name); icann && suffix == name {
			return &issuer.RequestError{Field: field(name), Reason: fmt.Sprintf("%q is a public suffix, not a domain of your own", name)}
		}
		if len(cfgNC.dns) > 0 && !dnsPermitted(name, cfgNC.dns) {
			return &issuer.RequestError{Field: field(name), Reason: fmt.Sprintf(
				"%q is outside this CA's permitted_dns_domains (%s)", name, strings.Join(cfgNC.dns, ", "))}
		}
		if (len(i.inter.PermittedDNSDomains) > 0 && !dnsPermitted(name, i.inter.PermittedDNSDomains)) ||
			dnsExcluded(name, i.inter.ExcludedDNSDomains) {
			return &issuer.RequestError{Field: field(name), Reason: fmt.Sprintf(
				"%q is outside the name constraints of intermediate %q (permitted: %s)", name, i.inter.Subject.CommonName, strings.Join(i.inter.PermittedDNSDomains, ", "))}
		}
	}
	for _, ip := range names.IPAddresses {
		if !i.cfg.AllowIPSANs {
			return &issuer.RequestError{Field: field(ip.String()), Reason: fmt.Sprintf(
				"IP address %s: this CA does not sign IP addresses unless its config sets allow_ip_sans: true", ip)}
		}
		if len(cfgNC.ips) > 0 && !inRanges(ip, cfgNC.ips) {
			return &issuer.RequestError{Field: field(ip.String()), Reason: fmt.Sprintf(
				"IP address %s is outside this CA's permitted_ip_ranges (%s)", ip, rangesString(cfgNC.ips))}
		}
		if (len(i.inter.PermittedIPRanges) > 0 && !inRanges(ip, i.inter.PermittedIPRanges)) || inRanges(ip, i.inter.ExcludedIPRanges) {
			return &issuer.RequestError{Field: field(ip.String()), Reason: fmt.Sprintf(
				"IP address %s is outside the name constraints of intermediate %q (permitted: %s)", ip, i.inter.Subject.CommonName, rangesString(i.inter.PermittedIPRanges))}
		}
	}
	return nil
}

// validDNSName reports whether s is a DNS host name: dot-separated labels
// of letters, digits and hyphens (not at either end), optionally behind one
// leading "*." label, at most 253 characters, whose last label is not all
// digits (that is an IP address written wrong, not a name).
func validDNSName(s string) bool {
	name := strings.TrimPrefix(strings.ToLower(s), "*.")
	if name == "" || len(s) > 253 {
		return false
	}
	labels := strings.Split(name, ".")
	for _, l := range labels {
		if len(l) == 0 || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return false
		}
		for j := 0; j < len(l); j++ {
			c := l[j]
			if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-') {
				return false
			}
		}
	}
	return strings.Trim(labels[len(labels)-1], "0123456789") != ""
}

// dnsPermitted reports whether name falls within one of the domains, as
// RFC 5280 reads a dNSName constraint: "example.com" matches it and its
// subdomains, ".example.com" its subdomains only.
func dnsPermitted(name string, domains []string) bool {
	for _, d := range domains {
		if dnsMatch(name, d) {
			return true
		}
	}
	return false
}

func dnsExcluded(name string, domains []string) bool { return dnsPermitted(name, domains) }

func dnsMatch(name, constraint string) bool {
	name, constraint = strings.ToLower(name), strings.ToLower(constraint)
	if constraint == "" {
		return true
	}
	if strings.HasPrefix(constraint, ".") {
		return strings.HasSuffix(name, constraint)
	}
	return name == constraint || strings.HasSuffix(name, "."+constraint)
}

func inRanges(ip net.IP, ranges []*net.IPNet) bool {
	for _, r := range ranges {
		if r.Contains(ip) {
			return true
		}
	}
	return false
}

func rangesString(ranges []*net.IPNet) string {
	if len(ranges) == 0 {
		return "none"
	}
	s := make([]string, len(ranges))
	for i, r := range ranges {
		s[i] = r.String()
	}
	return strings.Join(s, ", ")
}
