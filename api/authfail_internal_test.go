package api

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

// The limiter holds at most max addresses, forgetting the one whose last
// failure is oldest, however many addresses fail.
func TestFailureLimiter_BoundedMemory(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	l := newFailureLimiter(1, 2, 3)
	for i := range 1000 {
		l.failed(fmt.Sprintf("10.0.%d.%d", i/256, i%256), now)
		assert.LessOrEqual(t, l.tracked(), 3)
	}
	assert.Equal(t, 3, l.tracked())

	l = newFailureLimiter(1, 1, 3)
	for _, a := range []string{"a", "b", "c"} {
		l.failed(a, now)
	}
	l.failed("a", now) // a is the most recent now; b the oldest
	l.failed("d", now)
	_, blockedA := l.blocked("a", now)
	_, blockedB := l.blocked("b", now)
	_, blockedD := l.blocked("d", now)
	assert.True(t, blockedA)
	assert.False(t, blockedB, "b, the least recent, was forgotten")
	assert.True(t, blockedD)
}

func TestClientAddr(t *testing.T) {
	for remote, want := range map[string]string{
		"192.0.2.7:5555":             "192.0.2.7",
		"[::ffff:192.0.2.7]:5555":    "192.0.2.7",
		"[2001:db8:1:2:3:4:5:6]:443": "2001:db8:1:2::/64",
		"[2001:db8:1:2:ffff::1]:443": "2001:db8:1:2::/64",
		"[2001:db8:1:3::1]:443":      "2001:db8:1:3::/64",
		"[::1]:8443":                 "::/64",
		"not-an-address":             "not-an-address",
	} {
		r := &http.Request{RemoteAddr: remote, Header: http.Header{"X-Forwarded-For": {"203.0.113.9"}}}
		assert.Equal(t, want, clientAddr(r), remote)
	}
}
