package fsm

import (
	"net"
	"net/mail"
	"strings"
)

// ValidCommonName checks a certificate's common name: a DNS name, a wildcard
// DNS name (*.example.com) or an IP address, at most 253 characters.
func ValidCommonName(field, s string) error {
	if s == "" {
		return invalidf(field, "%s is required", field)
	}
	if net.ParseIP(s) != nil {
		return nil
	}
	return validDNSName(field, s, true)
}

// ValidSAN checks a subject alternative name: a DNS name, a wildcard, an IP
// address or an e-mail address.
func ValidSAN(field, s string) error {
	if net.ParseIP(s) != nil {
		return nil
	}
	if strings.Contains(s, "@") {
		if a, err := mail.ParseAddress(s); err != nil || a.Address != s {
			return invalidf(field, "%s %q is not a DNS name, IP address or e-mail address", field, s)
		}
		return nil
	}
	return validDNSName(field, s, true)
}

func validDNSName(field, s string, wildcard bool) error {
	if len(s) > 253 {
		return invalidf(field, "%s is %d characters long; a DNS name has at most 253", field, len(s))
	}
	name := strings.TrimSuffix(s, ".")
	if wildcard && strings.HasPrefix(name, "*.") {
		name = name[2:]
	}
	if name == "" {
		return invalidf(field, "%s %q is not a DNS name", field, s)
	}
	for _, label := range strings.Split(name, ".") {
		if label == "" || len(label) > 63 {
			return invalidf(field, "%s %q has an empty label or one longer than 63 characters", field, s)
		}
		if label[0] == '-' || label[len(label)-1] == '-' {
			return invalidf(field, "%s %q has a label that starts or ends with '-'", field, s)
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return invalidf(field, "%s %q may contain only letters, digits, '-' and '.', with '*.' only as its first label", field, s)
			}
		}
	}
	return nil
}
