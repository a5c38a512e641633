package node

import (
	"context"
	"errors"
	"net/http"

	"github.com/certctl/certctl/fsm"
)

// Codes of the error table. They travel on the wire, to clients in the API's
// error body and to peers in node-to-node answers, so they are stable: a
// client or a peer may act on them. The domain codes are fsm's.
const (
	CodeInvalid         = string(fsm.CodeInvalid)
	CodeNotFound        = string(fsm.CodeNotFound)
	CodeConflict        = string(fsm.CodeConflict)
	CodeLeaseHeld       = string(fsm.CodeLeaseHeld)
	CodeBadLease        = string(fsm.CodeBadLease)
	CodeState           = string(fsm.CodeState)
	CodeUnauthorized    = string(fsm.CodeUnauthorized)
	CodePolicyViolation = string(fsm.CodePolicy)
	CodeInternal        = string(fsm.CodeInternal)

	// CodeNoLeader: no leader could take the request (ErrNoLeader,
	// ErrNotLeader); nothing was written.
	CodeNoLeader = "no_leader"
	// CodeLeadershipLost: the leader changed while a write was committing
	// (ErrLeadershipLost); it may or may not have been applied.
	CodeLeadershipLost = "leadership_lost"
	// CodeUnavailable: the node is closed or not open yet (ErrClosed).
	CodeUnavailable = "unavailable"
	// CodeTimeout: the cluster did not answer within the request's deadline
	// (ErrTimeout, context.DeadlineExceeded); a write may have been applied.
	CodeTimeout = "timeout"
	// CodeForbidden: the caller is known but may not do this (ErrForbidden,
	// a role or an agent key outside its own endpoints).
	CodeForbidden = "forbidden"
	// CodeTooLarge: the request body is over the limit.
	CodeTooLarge = "too_large"
	// CodeMethodNotAllowed: the path exists, not with this method.
	CodeMethodNotAllowed = "method_not_allowed"
	// CodeGone: the resource existed and is gone for good (a retired agent).
	CodeGone = "gone"
	// CodeRateLimited: too many requests or failed authentications.
	CodeRateLimited = "rate_limited"
	// CodeNotImplemented: this node lacks what the request needs (no issuer
	// connectors, no key-encryption key).
	CodeNotImplemented = "not_implemented"
	// CodeIssuerFailed: an issuer's CA, outside the cluster, failed or
	// could not be reached.
	CodeIssuerFailed = "issuer_failed"
	// CodeSnapshotRefused: a snapshot file failed a check before it was
	// restored (*SnapshotRefusedError: format, checksum, records, header,
	// schema, cluster_id); the message names the check; nothing changed.
	CodeSnapshotRefused = "snapshot_refused"
)

// ErrorInfo is how an error is answered over HTTP: a status, a stable code,
// a message a person can act on and, for a malformed request, the offending
// field.
type ErrorInfo struct {
	Status  int
	Code    string
	Message string
	Field   string
}

// CodedError is an error that names its own code of the table: the API's
// refusals of a request before it reaches the cluster (a malformed body, no
// credentials, a role that may not, too many requests) and failures outside
// the cluster (an issuer's CA). Message is said to the client as it is.
type CodedError struct {
	Code    string
	Field   string
	Message string
}

func (e *CodedError) Error() string { return e.Message }

// errorRow is one line of the table: a code, its HTTP status and, for the
// node's own failures, the message every node gives for it, so that an
// answer does not depend on which node the client asked or on how the
// request travelled. An empty message means the error's own.
type errorRow struct {
	code    string
	status  int
	message string
}

// errorTable is the one place where an error becomes a status and a code.
// Every code above has a row.
var errorTable = [...]errorRow{
	{CodeInvalid, http.StatusBadRequest, ""},
	{CodeNotFound, http.StatusNotFound, ""},
	{CodeConflict, http.StatusConflict, ""},
	{CodeLeaseHeld, http.StatusConflict, ""},
	{CodeBadLease, http.StatusConflict, ""},
	{CodeState, http.StatusConflict, ""},
	{CodeUnauthorized, http.StatusUnauthorized, ""},
	{CodeForbidden, http.StatusForbidden, ""},
	// Well-formed, but refused by a policy rule of severity Error or
	// Critical, which the message names.
	{CodePolicyViolation, http.StatusUnprocessableEntity, ""},
	{CodeInternal, http.StatusInternalServerError, ""},
	{CodeTooLarge, http.StatusRequestEntityTooLarge, ""},
	{CodeMethodNotAllowed, http.StatusMethodNotAllowed, ""},
	{CodeGone, http.StatusGone, ""},
	{CodeRateLimited, http.StatusTooManyRequests, ""},
	{CodeNotImplemented, http.StatusNotImplemented, ""},
	{CodeIssuerFailed, http.StatusBadGateway, ""},
	{CodeSnapshotRefused, http.StatusUnprocessableEntity, ""},
	{CodeNoLeader, http.StatusServiceUnavailable,
		"no leader could take the request right now (an election, or too few nodes reachable); nothing was written; retry shortly"},
	{CodeLeadershipLost, http.StatusServiceUnavailable,
		"the leader changed while the write was committing, so it may or may not have been applied; retry with the same Idempotency-Key"},
	{CodeUnavailable, http.StatusServiceUnavailable,
		"this node is shutting down or not started yet; retry on another node"},
	{CodeTimeout, http.StatusServiceUnavailable,
		"the cluster did not answer in time; a write may or may not have been applied; retry with the same Idempotency-Key"},
}

// sentinelCodes names the code of each of node's sentinels, first match
// wins: an error that is both "no leader" and a deadline says that nothing
// was written.
var sentinelCodes = [...]struct {
	err  error
	code string
}{
	{ErrNoLeader, CodeNoLeader},
	{ErrNotLeader, CodeNoLeader},
	{ErrLeadershipLost, CodeLeadershipLost},
	{ErrClosed, CodeUnavailable},
	{ErrTimeout, CodeTimeout},
	{context.DeadlineExceeded, CodeTimeout},
	{ErrUnauthorized, CodeUnauthorized},
	{ErrForbidden, CodeForbidden},
	{ErrRestoreRunning, CodeConflict},
}

func rowOf(code string) (errorRow, bool) {
	for _, r := range errorTable {
		if r.code == code {
			return r, true
		}
	}
	return errorRow{}, false
}

// StatusOfCode returns the HTTP status of a code of the table, or 500 for a
// code it does not know.
func StatusOfCode(code string) int {
	if r, ok := rowOf(code); ok {
		return r.status
	}
	return http.StatusInternalServerError
}

// DescribeError answers err through the table. A domain rejection
// (*fsm.Error) keeps its code, message and field; a *CodedError its own; a
// sentinel of this package (wrapped or not) gets its code and the table's
// message; a *RemoteError, an error another node answered, the code and
// message that node gave, so a write forwarded to the leader is answered as
// the leader would have answered it. Anything else is a 500 "internal" with
// err's text.
func DescribeError(err error) ErrorInfo {
	var (
		domain *fsm.Error
		coded  *CodedError
		remote *RemoteError
		snap   *SnapshotRefusedError
	)
	hasRemote := errors.As(err, &remote)
	switch {
	case err == nil:
		return ErrorInfo{Status: http.StatusOK}
	case errors.As(err, &domain):
		return describe(string(domain.Code), domain.Message, domain.Field)
	case errors.As(err, &coded):
		return describe(coded.Code, coded.Message, coded.Field)
	case errors.As(err, &snap):
		return describe(CodeSnapshotRefused, snap.Error(), "snapshot")
	}
	for _, s := range sentinelCodes {
		if errors.Is(err, s.err) {
			msg := err.Error()
			if hasRemote && remote.Message != "" {
				msg = remote.Message
			}
			return describe(s.code, msg, "")
		}
	}
	if hasRemote && remote.Code != "" {
		return describe(remote.Code, remote.Message, "")
	}
	return describe(CodeInternal, err.Error(), "")
}

// describe fills the row of code; a code the table does not know is
// answered 500 under its own name.
func describe(code, msg, field string) ErrorInfo {
	r, ok := rowOf(code)
	if !ok {
		return ErrorInfo{Status: http.StatusInternalServerError, Code: code, Message: msg, Field: field}
	}
	if r.message != "" || msg == "" {
		msg = r.message
	}
	if msg == "" {
		msg = code
	}
	return ErrorInfo{Status: r.status, Code: code, Message: msg, Field: field}
}
