package issuer

import (
	"context"
	"errors"
	"time"
)

// ErrNoRenewalInfo is matched (errors.Is) when an issuer's CA serves no
// renewal information (its ACME directory lacks renewalInfo): the renewal
// policy alone decides when its certificates renew.
var ErrNoRenewalInfo = errors.New("issuer: the CA serves no renewal information")

// RenewalInfo is a CA's suggested renewal window for one certificate
// (ACME Renewal Information, RFC 9773 §4.2).
type RenewalInfo struct {
	WindowStart, WindowEnd time.Time
	// ExplanationURL is the CA's page on why the window is what it is, or "".
	ExplanationURL string
	// RetryAfter is how long to wait before asking again (the CA's
	// Retry-After header); 0 when the CA said nothing.
	RetryAfter time.Duration
}

// RenewalInformer is implemented by issuers whose CA may suggest when a
// certificate should renew. RenewalInfo asks the CA about certPEM (the
// certificate alone, as IssuanceResult.CertPEM); it returns an error
// matching ErrNoRenewalInfo when the CA serves none.
type RenewalInformer interface {
	RenewalInfo(ctx context.Context, certPEM string) (*RenewalInfo, error)
}
