package issuer

import (
	"fmt"
	"time"
)

// CAError is a CA's own answer to a request it did not fulfil (an ACME
// problem document, RFC 8555 §6.7), carried to the job so the operator
// reads what the CA said. Final errors (the CA will refuse the same request
// again: unauthorized, rejectedIdentifier, badCSR, ...) match
// ErrInvalidRequest, so the job fails for good instead of retrying; others
// (rateLimited, badNonce, serverInternal, a validation the CA could not
// complete) are retried, not before RetryAfter when the CA set one.
type CAError struct {
	// Op is what was asked: "register the account", "order", "revoke".
	Op string
	// Type is the problem type, e.g. "urn:ietf:params:acme:error:rateLimited";
	// empty when the CA was not reached.
	Type string
	// Detail is the CA's message, verbatim.
	Detail string
	// RetryAfter is the CA's Retry-After; zero when it gave none.
	RetryAfter time.Duration
	// Final is true when retrying the same request cannot succeed.
	Final bool
}

func (e *CAError) Error() string {
	msg := "issuer: the CA refused to " + e.Op
	if e.Type != "" {
		msg += " (" + e.Type + ")"
	}
	if e.Detail != "" {
		msg += ": " + e.Detail
	}
	if e.RetryAfter > 0 {
		msg += fmt.Sprintf("; retry after %s", e.RetryAfter.Round(time.Second))
	}
	return msg
}

// Is makes a final *CAError match ErrInvalidRequest.
func (e *CAError) Is(target error) bool { return e.Final && target == ErrInvalidRequest }
