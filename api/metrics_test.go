package api_test

import (
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/certctl/certctl/api"
	"github.com/certctl/certctl/fsm"
)

// metricValue returns the value of the sample of name whose labels include
// every one of labels (`key="value"`), and whether there is one.
func metricValue(text, name string, labels ...string) (float64, bool) {
	for _, line := range strings.Split(text, "\n") {
		if strings.HasPrefix(line, "#") || !strings.HasPrefix(line, name) {
			continue
		}
		rest := line[len(name):]
		var set string
		switch {
		case strings.HasPrefix(rest, "{"):
			end := strings.Index(rest, "}")
			set, rest = rest[1:end], rest[end+1:]
		case strings.HasPrefix(rest, " "):
		default:
			continue // a longer name with this prefix
		}
		match := true
		for _, l := range labels {
			match = match && strings.Contains(","+set+",", ","+l+",")
		}
		if !match {
			continue
		}
		v, err := strconv.ParseFloat(strings.TrimSpace(rest), 64)
		return v, err == nil
	}
	return 0, false
}

// TestAPI_Metrics: /metrics, read with a viewer key, counts requests by
// route and code, and reports raft's state and the certificate inventory.
func TestAPI_Metrics(t *testing.T) {
	w := newWorld(t, api.Config{RateLimit: -1})
	expiring := w.cert(t, w.admin, w.ref, map[string]any{"expires_at": time.Now().Add(10 * 24 * time.Hour).UTC().Format(time.RFC3339)})
	w.cert(t, w.admin, w.ref, map[string]any{"expires_at": time.Now().Add(40 * 24 * time.Hour).UTC().Format(time.RFC3339)})
	active := w.cert(t, w.admin, w.ref, nil)
	w.issue(t, active, active+".example.com", 90*24*time.Hour)
	revoked := w.cert(t, w.admin, w.ref, map[string]any{"expires_at": time.Now().Add(24 * time.Hour).UTC().Format(time.RFC3339)})
	w.propose(t, &fsm.SetCertificateStatus{ID: revoked, Status: fsm.CertRevoked, Reason: "test"})

	require.Equal(t, 200, w.as(t, w.viewer, "GET", "/api/v1/certificates", nil).status)
	require.Equal(t, 404, w.as(t, w.viewer, "GET", "/api/v1/certificates/mc-none", nil).status)
	require.Equal(t, 404, w.as(t, w.viewer, "GET", "/api/v1/no/such/route", nil).status)
	requireError(t, w.as(t, "", "GET", "/metrics", nil), 401, "")

	a := w.as(t, w.viewer, "GET", "/metrics", nil)
	require.Equal(t, 200, a.status)
	assert.Contains(t, a.header.Get("Content-Type"), "text/plain")
	text := string(a.raw)

	n, ok := metricValue(text, "certctl_http_requests_total", `route="/api/v1/certificates"`, `method="GET"`, `code="200"`)
	assert.True(t, ok, "requests counted by route, method and code")
	assert.GreaterOrEqual(t, n, 1.0)
	n, ok = metricValue(text, "certctl_http_requests_total", `route="/api/v1/certificates/:id"`, `code="404"`)
	assert.True(t, ok && n >= 1, "the route is the pattern, not the path")
	_, ok = metricValue(text, "certctl_http_requests_total", `route="unmatched"`, `code="404"`)
	assert.True(t, ok, "unmatched paths share one label value")
	_, ok = metricValue(text, "certctl_http_requests_total", `route="/metrics"`, `code="401"`)
	assert.True(t, ok, "refused requests are counted too")
	assert.NotRegexp(t, regexp.MustCompile(`route="/api/v1/certificates/mc-`), text, "no label per id")
	_, ok = metricValue(text, "certctl_http_request_duration_seconds_count", `route="/api/v1/certificates"`)
	assert.True(t, ok, "latency histogram")

	v, ok := metricValue(text, "certctl_raft_state", `state="Leader"`)
	assert.True(t, ok && v == 1, "certctl_raft_state{state=Leader} is 1")
	v, ok = metricValue(text, "certctl_raft_state", `state="Follower"`)
	assert.True(t, ok && v == 0)
	v, ok = metricValue(text, "certctl_raft_leader")
	assert.True(t, ok && v == 1)
	v, ok = metricValue(text, "certctl_raft_applied_index")
	assert.True(t, ok && v > 0)
	v, ok = metricValue(text, "certctl_raft_replication_stalled")
	assert.True(t, ok && v == 0, "a lone node's replication never stalls")
	_, ok = metricValue(text, "certctl_raft_replication_stalls_total")
	assert.True(t, ok, "stalls are counted")

	for status, want := range map[string]float64{"Pending": 2, "Active": 1, "Revoked": 1, "Expired": 0, "Archived": 0} {
		v, ok := metricValue(text, "certctl_certificates", `status="`+status+`"`)
		assert.True(t, ok, "certctl_certificates{status=%q} is always present", status)
		assert.Equal(t, want, v, status)
	}
	days, ok := metricValue(text, "certctl_certificate_nearest_expiry_days")
	require.True(t, ok, "nearest expiry is reported")
	assert.InDelta(t, 10, days, 0.1, "the soonest expiry (%s), revoked ones left out", expiring)

	w.must(t, 204, "DELETE", "/api/v1/certificates/"+expiring, nil)
	text = string(w.as(t, w.viewer, "GET", "/metrics", nil).raw)
	days, ok = metricValue(text, "certctl_certificate_nearest_expiry_days")
	require.True(t, ok)
	assert.InDelta(t, 40, days, 0.1, "archived certificates are left out")
	v, _ = metricValue(text, "certctl_certificates", `status="Archived"`)
	assert.Equal(t, 1.0, v)
}
