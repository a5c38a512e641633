package acme

import (
	"context"
	"errors"
	"net"

	legoacme "github.com/go-acme/lego/v5/acme"

	"github.com/certctl/certctl/connectors/issuer"
)

// finalTypes are the ACME problem types for which the same request is
// refused again: the job fails for good, with the CA's message.
var finalTypes = map[string]bool{
	legoacme.UnauthorizedErrorType:            true,
	legoacme.RejectedIdentifierErrorType:      true,
	legoacme.BadCSRErrorType:                  true,
	legoacme.CaaErrorType:                     true,
	legoacme.AccountDoesNotExistErrorType:     true,
	legoacme.ExternalAccountRequiredErrorType: true,
	legoacme.InvalidContactErrorType:          true,
	legoacme.UnsupportedContactErrorType:      true,
	legoacme.UnsupportedIdentifierErrorType:   true,
	legoacme.UserActionRequiredErrorType:      true,
	legoacme.BadRevocationReasonErrorType:     true,
	legoacme.InvalidProfileErrorType:          true,
	legoacme.BadPublicKeyErrorType:            true,
	legoacme.BadSignatureAlgorithmErrorType:   true,
	legoacme.MalformedErrorType:               true,
}

// caError turns what lego returned for op into an *issuer.CAError carrying
// the CA's own problem type, message and Retry-After: final for the
// problems that the same request meets again (finalTypes), retried for
// the others (rateLimited, badNonce after lego's own retries,
// serverInternal, a validation that could not connect) and for a CA that
// could not be reached. Errors already typed (a config or request error,
// a cancelled context) pass through.
func caError(op string, err error) error {
	if err == nil {
		return nil
	}
	var ce *issuer.ConfigError
	var re *issuer.RequestError
	var already *issuer.CAError
	if errors.As(err, &ce) || errors.As(err, &re) || errors.As(err, &already) ||
		errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	out := &issuer.CAError{Op: op}
	var rl *legoacme.RateLimitedError
	if errors.As(err, &rl) {
		out.RetryAfter = rl.RetryAfter
	}
	var pd *legoacme.ProblemDetails
	if errors.As(err, &pd) {
		out.Type, out.Detail = pd.Type, pd.Detail
		for _, sub := range pd.SubProblems {
			out.Detail += "; " + sub.Identifier.Value + ": " + sub.Detail
		}
		out.Final = finalTypes[pd.Type]
		if out.Detail == "" {
			out.Detail = err.Error()
		}
		return out
	}
	var ne net.Error
	if errors.As(err, &ne) {
		out.Detail = "the CA could not be reached: " + err.Error()
		return out
	}
	out.Detail = err.Error()
	return out
}
