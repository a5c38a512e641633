package api

import (
	"net/http"

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

// fail answers err in the error shape and aborts the request. Its status,
// code and message come from node's error table (node.DescribeError), the
// one place where errors become statuses: a domain rejection, a node failure
// and the API's own refusals (refuse, invalid) are all answered there, on
// every node alike.
func fail(c *gin.Context, err error) {
	e := node.DescribeError(err)
	if e.Status == http.StatusServiceUnavailable {
		c.Header("Retry-After", "1")
	}
	if e.Status == http.StatusInternalServerError {
		loggerOf(c).Error("request failed", "err", err)
	} else if e.Status >= 500 {
		_ = c.Error(err) // the access log names the cause the answer does not
	}
	c.AbortWithStatusJSON(e.Status, errorBody{
		Error:     http.StatusText(e.Status),
		Message:   e.Message,
		RequestID: requestID(c),
		Field:     e.Field,
		Code:      e.Code,
	})
}

// invalid is the refusal of a malformed request: 400 "invalid", naming the
// offending field ("" for the body as a whole) and what to fix.
func invalid(field, msg string) error {
	return &node.CodedError{Code: node.CodeInvalid, Field: field, Message: msg}
}

// refuse is a refusal with one of the error table's codes (node.CodeX).
func refuse(code, msg string) error {
	return &node.CodedError{Code: code, Message: msg}
}
