package api_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/certctl/certctl/api"
	"github.com/certctl/certctl/fsm"
)

// clock is a test clock that moves only when told.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// from sends a GET with key from the local address ip (a loopback address
// other than 127.0.0.1 is another client to the server) and returns the
// status and Retry-After.
func from(t *testing.T, e *env, ip, key, path string, header map[string]string) (int, string) {
	t.Helper()
	base, _ := e.client.Transport.(*http.Transport)
	if base == nil {
		base = http.DefaultTransport.(*http.Transport)
	}
	tr := base.Clone() // trusting the env's cluster CA
	tr.DialContext = (&net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}).DialContext
	defer tr.CloseIdleConnections()
	r, err := http.NewRequest("GET", e.url+path, nil)
	require.NoError(t, err)
	if key != "" {
		r.Header.Set("Authorization", "Bearer "+key)
	}
	for k, v := range header {
		r.Header.Set(k, v)
	}
	resp, err := (&http.Client{Transport: tr}).Do(r)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	if resp.StatusCode == http.StatusTooManyRequests {
		var b map[string]any
		require.NoError(t, json.Unmarshal(body, &b))
		assert.Contains(t, b["message"], "too many failed authentications from "+ip)
	}
	return resp.StatusCode, resp.Header.Get("Retry-After")
}

// TestAPI_AuthFailuresLimitedPerAddress: an address that presents unknown or
// revoked keys gets AuthFailureBurst 401s, then 429 with Retry-After for
// any key until its bucket refills; rotating X-Forwarded-For does not reset
// it, other addresses are not affected, and successes take nothing.
func TestAPI_AuthFailuresLimitedPerAddress(t *testing.T) {
	clk := &clock{now: time.Now()}
	e := newEnv(t, api.Config{RateLimit: -1, AuthFailureRate: 0.5, AuthFailureBurst: 3, Now: clk.Now})
	k := e.must(t, 201, "POST", "/api/v1/auth/keys", map[string]any{"name": "soon-revoked", "role": fsm.RoleViewer})
	e.must(t, 204, "DELETE", "/api/v1/auth/keys/"+str(k, "id"), nil)
	revoked := str(k, "api_key")
	const path = "/api/v1/certificates"
	const attacker, bystander = "127.0.0.2", "127.0.0.3"

	for i := range 20 {
		status, _ := from(t, e, attacker, e.admin, path, nil)
		require.Equal(t, 200, status, "success %d takes nothing from the bucket", i+1)
	}
	guesses := []string{"cck_guess-1", revoked, "cck_guess-3"}
	for i, key := range guesses {
		status, _ := from(t, e, attacker, key, path, map[string]string{"X-Forwarded-For": fmt.Sprintf("10.9.9.%d", i)})
		require.Equal(t, 401, status, "failure %d is within the burst", i+1)
	}
	for i, key := range []string{"cck_guess-4", e.admin, revoked} {
		status, wait := from(t, e, attacker, key, path, map[string]string{
			"X-Forwarded-For": fmt.Sprintf("10.8.8.%d", i), "X-Real-IP": fmt.Sprintf("10.7.7.%d", i)})
		require.Equal(t, 429, status, "request %d: a limited address gets no answer about any key, whatever its headers say", i+1)
		secs, err := strconv.Atoi(wait)
		require.NoError(t, err, "Retry-After is whole seconds")
		assert.Equal(t, 2, secs, "one failure every 2 s")
	}
	status, _ := from(t, e, attacker, "", "/health", nil)
	assert.Equal(t, 200, status, "public routes are not limited")
	status, _ = from(t, e, attacker, "", path, nil)
	assert.Equal(t, 401, status, "no credential is not a guess")

	status, _ = from(t, e, bystander, e.admin, path, nil)
	assert.Equal(t, 200, status, "another address is not limited")
	status, _ = from(t, e, bystander, "cck_guess-5", path, nil)
	assert.Equal(t, 401, status, "and has its own bucket")

	clk.Advance(2 * time.Second)
	status, _ = from(t, e, attacker, e.admin, path, nil)
	assert.Equal(t, 200, status, "the bucket refilled by one")
	status, _ = from(t, e, attacker, "cck_guess-6", path, nil)
	assert.Equal(t, 401, status, "one failure came back")
	status, _ = from(t, e, attacker, "cck_guess-7", path, nil)
	assert.Equal(t, 429, status, "and only one")
}

// With the limit off, failures are answered 401 however many.
func TestAPI_AuthFailureLimitOff(t *testing.T) {
	e := newEnv(t, api.Config{RateLimit: -1, AuthFailureRate: -1})
	for i := range 30 {
		require.Equal(t, 401, e.as(t, "cck_guess", "GET", "/api/v1/certificates", nil).status, "failure %d", i+1)
	}
	assert.Equal(t, 200, e.as(t, e.admin, "GET", "/api/v1/certificates", nil).status)
}
