package fsm

import (
	"errors"
	"fmt"
)

// Code classifies a domain error. Codes travel between nodes (a write forwarded
// to the leader comes back with its code), so their string values are stable.
type Code string

const (
	CodeInvalid   Code = "invalid"    // the command is malformed; nothing was written
	CodeNotFound  Code = "not_found"  // a resource named by the command does not exist
	CodeConflict  Code = "conflict"   // a duplicate id or name, or a resource still in use
	CodeLeaseHeld Code = "lease_held" // a job is leased to another holder
	CodeBadLease  Code = "bad_lease"  // the caller does not hold the job's lease
	CodeState     Code = "state"      // the resource is not in a state that allows the change
	CodeInternal  Code = "internal"   // a stored record could not be read
	// CodeUnauthorized: a credential checked by the state machine (a join
	// token) is unknown, expired, revoked or used up.
	CodeUnauthorized Code = "unauthorized"
	// CodePolicy: the change would violate an enabled policy rule of
	// severity Error or Critical; Resource is "policy_rule", ID the first
	// such rule and the message names every one with what to fix.
	CodePolicy     Code = "policy_violation"
	codeUnknownRaw Code = ""
)

// Sentinels for errors.Is. A *Error matches the sentinel of its Code.
var (
	ErrInvalid      = &Error{Code: CodeInvalid}
	ErrNotFound     = &Error{Code: CodeNotFound}
	ErrConflict     = &Error{Code: CodeConflict}
	ErrLeaseHeld    = &Error{Code: CodeLeaseHeld}
	ErrBadLease     = &Error{Code: CodeBadLease}
	ErrState        = &Error{Code: CodeState}
	ErrInternal     = &Error{Code: CodeInternal}
	ErrUnauthorized = &Error{Code: CodeUnauthorized}
	ErrPolicy       = &Error{Code: CodePolicy}
)

// Error is a domain rejection of a command or a query. It carries a reason a
// person can act on and survives a JSON round trip between nodes.
type Error struct {
	Code     Code   `json:"code"`
	Resource string `json:"resource,omitempty"` // "certificate", "team", ...
	ID       string `json:"id,omitempty"`
	Field    string `json:"field,omitempty"` // the offending field for CodeInvalid
	Message  string `json:"message"`
}

func (e *Error) Error() string {
	if e.Message == "" {
		return "fsm: " + string(e.Code)
	}
	return "fsm: " + e.Message
}

// Is makes errors.Is(err, ErrNotFound) true for every not-found error.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Code == e.Code && t.Message == "" && t.Resource == "" && t.ID == ""
}

// CodeOf returns the Code of a domain error, or "" for any other error.
func CodeOf(err error) Code {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return codeUnknownRaw
}

func invalidf(field, format string, args ...any) *Error {
	return &Error{Code: CodeInvalid, Field: field, Message: fmt.Sprintf(format, args...)}
}

func notFound(resource, id string) *Error {
	return &Error{Code: CodeNotFound, Resource: resource, ID: id, Message: fmt.Sprintf("%s %q not found", resource, id)}
}

func conflictf(resource, id, format string, args ...any) *Error {
	return &Error{Code: CodeConflict, Resource: resource, ID: id, Message: fmt.Sprintf(format, args...)}
}

func unauthorizedf(format string, args ...any) *Error {
	return &Error{Code: CodeUnauthorized, Message: fmt.Sprintf(format, args...)}
}

func statef(resource, id, format string, args ...any) *Error {
	return &Error{Code: CodeState, Resource: resource, ID: id, Message: fmt.Sprintf(format, args...)}
}
