package issuer

import (
	"fmt"
	"strings"
)

// Reason is an RFC 5280 CRL reason code (section 5.3.1).
type Reason int

// The reasons a certificate may be revoked for. Code 7 is unassigned and 8
// (removeFromCRL) belongs to delta CRLs, which certctl does not make.
const (
	ReasonUnspecified          Reason = 0
	ReasonKeyCompromise        Reason = 1
	ReasonCACompromise         Reason = 2
	ReasonAffiliationChanged   Reason = 3
	ReasonSuperseded           Reason = 4
	ReasonCessationOfOperation Reason = 5
	ReasonCertificateHold      Reason = 6
	ReasonPrivilegeWithdrawn   Reason = 9
	ReasonAACompromise         Reason = 10
)

// reasonNames spells each reason as the API does (RFC 5280's names, in
// lower camel case).
var reasonNames = map[Reason]string{
	ReasonUnspecified:          "unspecified",
	ReasonKeyCompromise:        "keyCompromise",
	ReasonCACompromise:         "caCompromise",
	ReasonAffiliationChanged:   "affiliationChanged",
	ReasonSuperseded:           "superseded",
	ReasonCessationOfOperation: "cessationOfOperation",
	ReasonCertificateHold:      "certificateHold",
	ReasonPrivilegeWithdrawn:   "privilegeWithdrawn",
	ReasonAACompromise:         "aaCompromise",
}

// ParseReason reads an RFC 5280 reason name, in any letter case (so both
// "caCompromise" and RFC 5280's "cACompromise"); empty means unspecified.
// removeFromCRL and unknown names are a *RequestError for field "reason".
func ParseReason(name string) (Reason, error) {
	if name == "" {
		return ReasonUnspecified, nil
	}
	for r, n := range reasonNames {
		if strings.EqualFold(n, name) {
			return r, nil
		}
	}
	if strings.EqualFold(name, "removeFromCRL") {
		return 0, requestErrorf("reason", "removeFromCRL applies to delta CRLs only; to lift a hold, the caller removes the revocation")
	}
	return 0, requestErrorf("reason", "%q is not an RFC 5280 revocation reason (one of %s)", name, strings.Join(ReasonNames(), ", "))
}

// ReasonNames returns the accepted reason names in code order.
func ReasonNames() []string {
	names := make([]string, 0, len(reasonNames))
	for code := ReasonUnspecified; code <= ReasonAACompromise; code++ {
		if n, ok := reasonNames[code]; ok {
			names = append(names, n)
		}
	}
	return names
}

// Valid reports whether r is a reason a CRL entry may carry.
func (r Reason) Valid() bool {
	_, ok := reasonNames[r]
	return ok
}

// String returns the reason's name, or "Reason(n)" for an invalid code.
func (r Reason) String() string {
	if n, ok := reasonNames[r]; ok {
		return n
	}
	return fmt.Sprintf("Reason(%d)", int(r))
}
