package api

import (
	"errors"
	"net/http"
	"strconv"

	"github.com/certctl/certctl/fsm"
	"github.com/certctl/certctl/node"
	"github.com/gin-gonic/gin"
)

// errorBody is the original's error shape: {error, message, request_id}.
type errorBody struct {
	Error     string `json:"error"`
	Message   string `json:"message"`
	RequestID string `json:"request_id"`
	Field     string `json:"field,omitempty"` // ours: the offending field of a 400
	Code      string `json:"code,omitempty"`  // ours: a stable machine-readable code
}

// statusOf maps a domain or cluster error to an HTTP status and a stable code.
// This table is the one place where errors become status codes.
func statusOf(err error) (int, string) {
	switch fsm.CodeOf(err) {
	case fsm.CodeInvalid:
		return http.StatusBadRequest, "invalid"
	case fsm.CodeNotFound:
		return http.StatusNotFound, "not_found"
	case fsm.CodeConflict:
		return http.StatusConflict, "conflict"
	case fsm.CodeLeaseHeld, fsm.CodeBadLease, fsm.CodeState:
		return http.StatusConflict, string(fsm.CodeOf(err))
	case fsm.CodeInternal:
		return http.StatusInternalServerError, "internal"
	case fsm.CodePolicy:
		// Well-formed, but refused by a policy rule of severity Error or
		// Critical, which the message names.
		return http.StatusUnprocessableEntity, string(fsm.CodePolicy)
	}
	switch {
	case errors.Is(err, node.ErrNoLeader), errors.Is(err, node.ErrNotLeader), errors.Is(err, node.ErrLeadershipLost):
		return http.StatusServiceUnavailable, "no_leader"
	case errors.Is(err, node.ErrUnauthorized):
		return http.StatusUnauthorized, "unauthorized"
	case errors.Is(err, errTimeout):
		return http.StatusServiceUnavailable, "timeout"
	}
	return http.StatusInternalServerError, "internal"
}

var errTimeout = errors.New("api: the cluster did not answer in time; retry")

// fail writes err in the error shape and aborts the request.
func fail(c *gin.Context, err error) {
	status, code := statusOf(err)
	body := errorBody{
		Error:     http.StatusText(status),
		Message:   err.Error(),
		RequestID: requestID(c),
		Code:      code,
	}
	var fe *fsm.Error
	if errors.As(err, &fe) {
		body.Message, body.Field = fe.Message, fe.Field
	}
	if status == http.StatusServiceUnavailable {
		c.Header("Retry-After", "1")
	}
	if status == http.StatusInternalServerError {
		loggerOf(c).Error("request failed", "err", err)
	}
	c.AbortWithStatusJSON(status, body)
}

// failStatus writes an error with an explicit status and message.
func failStatus(c *gin.Context, status int, field, format string) {
	c.AbortWithStatusJSON(status, errorBody{
		Error:     http.StatusText(status),
		Message:   format,
		RequestID: requestID(c),
		Field:     field,
		Code:      codeForStatus(status),
	})
}

func codeForStatus(status int) string {
	switch status {
	case http.StatusBadRequest:
		return "invalid"
	case http.StatusNotFound:
		return "not_found"
	case http.StatusRequestEntityTooLarge:
		return "too_large"
	case http.StatusUnauthorized:
		return "unauthorized"
	case http.StatusForbidden:
		return "forbidden"
	case http.StatusServiceUnavailable:
		return "unavailable"
	}
	return strconv.Itoa(status)
}
