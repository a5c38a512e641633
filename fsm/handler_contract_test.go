package fsm_test

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/certctl/certctl/fsm"
	"github.com/certctl/certctl/fsm/fsmtest"
)

// TestFSM_HandlersRefuseTypedBeforeWriting drives every command (the success
// case of applyCases for each command type, which TestFSM_ApplyCommandsCoverEveryType
// keeps complete) where it must be refused: on an empty state, where every
// id it names is absent; on the fixtures without the case's setup; and a
// second time after it succeeded. Every refusal is a typed *fsm.Error (not
// CodeInternal, which is how Apply reports a handler's untyped error) and
// leaves the state exactly as a raft no-op at its index would. A handler
// that failed after writing, or with an untyped error, panics in a test
// build and fails the test by itself.
func TestFSM_HandlersRefuseTypedBeforeWriting(t *testing.T) {
	refusals := 0
	check := func(t *testing.T, a, b *fsm.FSM, res *fsm.ApplyResult) {
		t.Helper()
		if res.Err == nil {
			return
		}
		refusals++
		var e *fsm.Error
		require.True(t, errors.As(res.Err, &e), "%T is not a *fsm.Error: %v", res.Err, res.Err)
		assert.NotEqual(t, fsm.CodeInternal, e.Code, "%v", e)
		assert.NotEmpty(t, e.Message)
		assert.Equal(t, stateHash(t, b), stateHash(t, a), "refused with %v, yet the state changed", e)
	}
	for _, tc := range applyCases() {
		t.Run(tc.name, func(t *testing.T) {
			t.Run("empty state", func(t *testing.T) {
				a, b := fsmtest.Open(t), fsmtest.Open(t)
				l := fsmtest.NewLog(t, a, b)
				check(t, a, b, applyAgainstNoop(t, a, b, l.Entry(tc.payload)))
			})
			t.Run("fixtures only", func(t *testing.T) {
				a, b, l := twins(t)
				check(t, a, b, applyAgainstNoop(t, a, b, l.Entry(tc.payload)))
			})
			t.Run("again", func(t *testing.T) {
				a, b, l := twins(t)
				if tc.setup != nil {
					tc.setup(l)
				}
				l.Must(tc.payload)
				check(t, a, b, applyAgainstNoop(t, a, b, l.Entry(tc.payload)))
			})
		})
	}
	assert.Greater(t, refusals, len(applyCases()), "the cases reach the handlers' refusals")
}
