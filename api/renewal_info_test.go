package api_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestAPI_RenewalInfoIsNotWritable: a CA's suggested window decides when
// a certificate renews, so an API caller (an operator, or a key that may
// write certificates) must not be able to plant one, say a window years
// ahead to hold off a renewal. Neither create nor update stores it.
func TestAPI_RenewalInfoIsNotWritable(t *testing.T) {
	url := newTestServer(t)
	seedRefs(t, url)
	planted := map[string]any{"window_start": "2099-01-01T00:00:00Z", "window_end": "2099-01-02T00:00:00Z",
		"retry_after": "2099-01-01T00:00:00Z", "fetched_at": time.Now().UTC().Format(time.RFC3339),
		"expires_at": time.Now().Add(48 * time.Hour).UTC().Format(time.RFC3339)}

	body := certBody("mc-ari", "ari")
	body["expires_at"] = planted["expires_at"]
	body["renewal_info"] = planted
	created := do(t, "POST", url+"/api/v1/certificates", body)
	if created.status != http.StatusCreated {
		require.Equal(t, http.StatusBadRequest, created.status, string(created.raw))
		created = do(t, "POST", url+"/api/v1/certificates", certBody("mc-ari", "ari"))
		require.Equal(t, http.StatusCreated, created.status, string(created.raw))
	}
	assert.NotContains(t, created.body, "renewal_info")

	upd := do(t, "PUT", url+"/api/v1/certificates/mc-ari", body)
	require.Contains(t, []int{http.StatusOK, http.StatusBadRequest}, upd.status, string(upd.raw))
	got := do(t, "GET", url+"/api/v1/certificates/mc-ari", nil)
	require.Equal(t, http.StatusOK, got.status)
	assert.NotContains(t, got.body, "renewal_info")
}
