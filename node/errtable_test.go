package node_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/certctl/certctl/fsm"
	"github.com/certctl/certctl/node"
)

// TestDescribeError_OneAnswerPerCase: the table's answer to every fsm Code,
// every sentinel of node (bare and wrapped) and the API's own refusals.
func TestDescribeError_OneAnswerPerCase(t *testing.T) {
	fixed := func(code string) string { return node.DescribeError(&node.CodedError{Code: code}).Message }
	cases := []struct {
		name   string
		err    error
		status int
		code   string
		msg    string // "" = the error's own
	}{
		{"fsm invalid", &fsm.Error{Code: fsm.CodeInvalid, Field: "name", Message: "name is empty"}, 400, "invalid", "name is empty"},
		{"fsm not found", &fsm.Error{Code: fsm.CodeNotFound, Message: "team t-1 not found"}, 404, "not_found", "team t-1 not found"},
		{"fsm conflict", &fsm.Error{Code: fsm.CodeConflict, Message: "m"}, 409, "conflict", "m"},
		{"fsm lease held", &fsm.Error{Code: fsm.CodeLeaseHeld, Message: "m"}, 409, "lease_held", "m"},
		{"fsm bad lease", &fsm.Error{Code: fsm.CodeBadLease, Message: "m"}, 409, "bad_lease", "m"},
		{"fsm state", &fsm.Error{Code: fsm.CodeState, Message: "m"}, 409, "state", "m"},
		{"fsm internal", &fsm.Error{Code: fsm.CodeInternal, Message: "m"}, 500, "internal", "m"},
		{"fsm unauthorized", &fsm.Error{Code: fsm.CodeUnauthorized, Message: "m"}, 401, "unauthorized", "m"},
		{"fsm policy", &fsm.Error{Code: fsm.CodePolicy, Message: "m"}, 422, "policy_violation", "m"},
		{"fsm wrapped", fmt.Errorf("api: x: %w", &fsm.Error{Code: fsm.CodeNotFound, Message: "m"}), 404, "not_found", "m"},
		{"no leader", fmt.Errorf("%w after 5s", node.ErrNoLeader), 503, "no_leader", fixed(node.CodeNoLeader)},
		{"no leader within the deadline", fmt.Errorf("%w: %w", node.ErrNoLeader, context.DeadlineExceeded), 503, "no_leader", fixed(node.CodeNoLeader)},
		{"not leader", node.ErrNotLeader, 503, "no_leader", fixed(node.CodeNoLeader)},
		{"leadership lost", node.ErrLeadershipLost, 503, "leadership_lost", fixed(node.CodeLeadershipLost)},
		{"closed", node.ErrClosed, 503, "unavailable", fixed(node.CodeUnavailable)},
		{"timeout", node.ErrTimeout, 503, "timeout", fixed(node.CodeTimeout)},
		{"deadline", fmt.Errorf("node: waiting for commit: %w", context.DeadlineExceeded), 503, "timeout", fixed(node.CodeTimeout)},
		{"unauthorized", fmt.Errorf("%w: token expired", node.ErrUnauthorized), 401, "unauthorized", "node: unauthorized: token expired"},
		{"forbidden", fmt.Errorf("%w: not yours", node.ErrForbidden), 403, "forbidden", "node: forbidden: not yours"},
		{"too large", &node.CodedError{Code: node.CodeTooLarge, Message: "m"}, 413, "too_large", "m"},
		{"method", &node.CodedError{Code: node.CodeMethodNotAllowed, Message: "m"}, 405, "method_not_allowed", "m"},
		{"gone", &node.CodedError{Code: node.CodeGone, Message: "m"}, 410, "gone", "m"},
		{"rate limited", &node.CodedError{Code: node.CodeRateLimited, Message: "m"}, 429, "rate_limited", "m"},
		{"not implemented", &node.CodedError{Code: node.CodeNotImplemented, Message: "m"}, 501, "not_implemented", "m"},
		{"issuer failed", &node.CodedError{Code: node.CodeIssuerFailed, Message: "m"}, 502, "issuer_failed", "m"},
		{"remote, a code of the table", &node.RemoteError{Status: 422, Code: "policy_violation", Message: "m"}, 422, "policy_violation", "m"},
		{"remote, no code", &node.RemoteError{Status: 502, Message: "bad gateway"}, 500, "internal", ""},
		{"anything else", errors.New("boom"), 500, "internal", "boom"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := node.DescribeError(tc.err)
			assert.Equal(t, tc.status, got.Status)
			assert.Equal(t, tc.code, got.Code)
			if tc.msg != "" {
				assert.Equal(t, tc.msg, got.Message)
			}
			assert.NotEmpty(t, got.Message)
			assert.Equal(t, tc.status, node.StatusOfCode(tc.code))
		})
	}
	for _, code := range []string{node.CodeNoLeader, node.CodeLeadershipLost, node.CodeUnavailable, node.CodeTimeout} {
		assert.Equal(t, http.StatusServiceUnavailable, node.StatusOfCode(code))
		assert.NotEqual(t, code, fixed(code), "a fixed message a person can act on")
	}
}
