package api_test

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/certctl/certctl/api"
)

// TestAPI_StatsSummaryCached: pollers between two writes share one
// computation of the summary (its generated_at is the computation's clock,
// which here moves a millisecond at each reading), concurrent ones too; a
// write is seen by the next request; and time alone recomputes it after
// api.SummaryMaxAge, since expiry counts move without writes.
func TestAPI_StatsSummaryCached(t *testing.T) {
	var ms atomic.Int64
	base := time.Now().UTC().Truncate(time.Second)
	now := func() time.Time { return base.Add(time.Duration(ms.Add(1)) * time.Millisecond) }
	w := newWorld(t, api.Config{RateLimit: -1, AuthFailureRate: -1, Now: now})
	summary := func() (string, float64) {
		t.Helper()
		a := w.mustAs(t, w.viewer, 200, "GET", "/api/v1/stats/summary", nil)
		return a.body["generated_at"].(string), a.body["total_certificates"].(float64)
	}
	first, total := summary()
	for range 3 {
		again, n := summary()
		assert.Equal(t, first, again, "served again while nothing was written")
		assert.Equal(t, total, n)
	}

	// Concurrent pollers after a write: one computation, all see the write.
	w.cert(t, w.admin, w.ref, nil)
	var wg sync.WaitGroup
	seen := make([]string, 8)
	totals := make([]float64, 8)
	for i := range seen {
		wg.Add(1)
		go func() {
			defer wg.Done()
			a := w.as(t, w.viewer, "GET", "/api/v1/stats/summary", nil)
			if assert.Equal(t, 200, a.status) {
				seen[i], totals[i] = a.body["generated_at"].(string), a.body["total_certificates"].(float64)
			}
		}()
	}
	wg.Wait()
	for i := range seen {
		assert.Equal(t, total+1, totals[i], "a write is seen by the next request")
		assert.Equal(t, seen[0], seen[i], "concurrent pollers share one computation")
	}
	assert.NotEqual(t, first, seen[0])

	// Time alone: served again within SummaryMaxAge, computed again after.
	held, _ := summary()
	assert.Equal(t, seen[0], held)
	ms.Add(int64(api.SummaryMaxAge / time.Millisecond))
	later, _ := summary()
	require.NotEqual(t, held, later, "computed again after %v", api.SummaryMaxAge)
}
