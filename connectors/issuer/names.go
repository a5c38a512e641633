package issuer

import (
	"net"
	"net/url"
	"strings"
)

// maxCommonName is RFC 5280's upper bound on a common name (ub-common-name).
const maxCommonName = 64

// Names are a certificate's subject alternative names, sorted by kind, each
// once. The zero value is an empty set.
type Names struct {
	DNSNames       []string // lowercase; "*.example.com" for a wildcard
	IPAddresses    []net.IP // IPv4 in 4-byte form
	EmailAddresses []string
	URIs           []*url.URL
}

// Len returns the number of names.
func (n Names) Len() int {
	return len(n.DNSNames) + len(n.IPAddresses) + len(n.EmailAddresses) + len(n.URIs)
}

// ParseNames sorts a request's names by kind: commonName when it is a DNS
// name or an IP address, then sans, without duplicates (DNS names and e-mail
// domains compared case-insensitively). A SAN that is none of the kinds
// IssuanceRequest.SANs lists, a common name over 64 characters, and a
// request with neither a common name nor a SAN are a *RequestError.
func ParseNames(commonName string, sans []string) (Names, error) {
	var n Names
	if len(commonName) > maxCommonName {
		return n, requestErrorf("common_name", "%d characters, RFC 5280 allows at most %d", len(commonName), maxCommonName)
	}
	if strings.TrimSpace(commonName) != commonName {
		return n, requestErrorf("common_name", "%q has leading or trailing white space", commonName)
	}
	if commonName == "" && len(sans) == 0 {
		return n, requestErrorf("common_name", "a certificate needs a common name or at least one SAN")
	}
	if ip := parseIP(commonName); ip != nil {
		n.addIP(ip)
	} else if name, ok := dnsName(commonName); ok {
		n.addDNS(name)
	}
	for _, san := range sans {
		if err := n.add(san); err != nil {
			return Names{}, err
		}
	}
	return n, nil
}

func (n *Names) add(san string) error {
	switch {
	case san == "":
		return requestErrorf("sans", "empty name")
	case parseIP(san) != nil:
		n.addIP(parseIP(san))
	case strings.Contains(san, "://"):
		u, err := url.Parse(san)
		if err != nil || u.Scheme == "" || (u.Host == "" && u.Opaque == "" && u.Path == "") {
			return requestErrorf("sans", "%q is not a valid URI", san)
		}
		n.addURI(u)
	case strings.Contains(san, "@"):
		email, ok := emailAddress(san)
		if !ok {
			return requestErrorf("sans", "%q is not a valid e-mail address", san)
		}
		n.addEmail(email)
	default:
		name, ok := dnsName(san)
		if !ok {
			return requestErrorf("sans", "%q is not a valid DNS name, IP address, e-mail address or URI", san)
		}
		n.addDNS(name)
	}
	return nil
}

func (n *Names) addDNS(name string) {
	if !n.HasDNS(name) {
		n.DNSNames = append(n.DNSNames, name)
	}
}

func (n *Names) addIP(ip net.IP) {
	if !n.HasIP(ip) {
		n.IPAddresses = append(n.IPAddresses, ip)
	}
}

func (n *Names) addEmail(email string) {
	if !n.HasEmail(email) {
		n.EmailAddresses = append(n.EmailAddresses, email)
	}
}

func (n *Names) addURI(u *url.URL) {
	if !n.HasURI(u) {
		n.URIs = append(n.URIs, u)
	}
}

// HasDNS reports whether name is among the DNS names, ignoring case.
func (n Names) HasDNS(name string) bool {
	for _, d := range n.DNSNames {
		if strings.EqualFold(d, name) {
			return true
		}
	}
	return false
}

// HasIP reports whether ip is among the IP addresses.
func (n Names) HasIP(ip net.IP) bool {
	for _, a := range n.IPAddresses {
		if a.Equal(ip) {
			return true
		}
	}
	return false
}

// HasEmail reports whether email is among the e-mail addresses: the local
// part compared exactly, the domain ignoring case.
func (n Names) HasEmail(email string) bool {
	for _, e := range n.EmailAddresses {
		if sameEmail(e, email) {
			return true
		}
	}
	return false
}

// HasURI reports whether u is among the URIs, compared as strings.
func (n Names) HasURI(u *url.URL) bool {
	for _, v := range n.URIs {
		if v.String() == u.String() {
			return true
		}
	}
	return false
}

func parseIP(s string) net.IP {
	ip := net.ParseIP(s)
	if ip == nil {
		return nil
	}
	if v4 := ip.To4(); v4 != nil {
		return v4
	}
	return ip
}

// dnsName returns s in lowercase when it is a host name of letters, digits
// and hyphens (RFC 1035 preferred syntax, ASCII: internationalised names
// come as A-labels), optionally behind one leading "*." wildcard label.
func dnsName(s string) (string, bool) {
	if len(s) == 0 || len(s) > 253 {
		return "", false
	}
	name := strings.ToLower(s)
	rest := strings.TrimPrefix(name, "*.")
	for label := range strings.SplitSeq(rest, ".") {
		if !ldhLabel(label) {
			return "", false
		}
	}
	return name, true
}

func ldhLabel(label string) bool {
	if len(label) == 0 || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
		return false
	}
	for i := 0; i < len(label); i++ {
		c := label[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// emailAddress returns s with its domain in lowercase when it has the shape
// local@domain with a printable, space-free local part and a DNS domain.
func emailAddress(s string) (string, bool) {
	at := strings.LastIndexByte(s, '@')
	local, domain := s[:at], s[at+1:]
	if local == "" || len(local) > 64 || strings.ContainsAny(local, " \t\r\n@") {
		return "", false
	}
	for i := 0; i < len(local); i++ {
		if local[i] < 0x21 || local[i] > 0x7e {
			return "", false
		}
	}
	d, ok := dnsName(domain)
	if !ok || strings.HasPrefix(d, "*.") {
		return "", false
	}
	return local + "@" + d, true
}

func sameEmail(a, b string) bool {
	ia, ib := strings.LastIndexByte(a, '@'), strings.LastIndexByte(b, '@')
	if ia < 0 || ib < 0 {
		return a == b
	}
	return a[:ia] == b[:ib] && strings.EqualFold(a[ia+1:], b[ib+1:])
}
