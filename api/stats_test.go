package api_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/certctl/certctl/api"
	"github.com/certctl/certctl/fsm"
)

const day = 24 * time.Hour

// versionAt makes a real certificate for cn valid from notBefore to notAfter
// with an ECDSA P-256 key, or an RSA key of rsaBits when set, and describes
// its key as the issuance service does.
func versionAt(t testing.TB, cn string, notBefore, notAfter time.Time, rsaBits int) fsm.CertificateVersion {
	t.Helper()
	var pub, signer crypto.Signer
	if rsaBits > 0 {
		k, err := rsa.GenerateKey(rand.Reader, rsaBits)
		require.NoError(t, err)
		pub, signer = k, k
	} else {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		require.NoError(t, err)
		pub, signer = k, k
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 126))
	require.NoError(t, err)
	tmpl := &x509.Certificate{SerialNumber: serial, Subject: pkix.Name{CommonName: cn}, DNSNames: []string{cn},
		NotBefore: notBefore.Truncate(time.Second), NotAfter: notAfter.Truncate(time.Second)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, pub.Public(), signer)
	require.NoError(t, err)
	fp := sha256.Sum256(der)
	v := fsm.CertificateVersion{SerialNumber: hex.EncodeToString(serial.Bytes()), NotBefore: tmpl.NotBefore, NotAfter: tmpl.NotAfter,
		FingerprintSHA256: hex.EncodeToString(fp[:]), PEMChain: string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))}
	v.DescribeKey()
	return v
}

// issueAt records a version of certID valid from now+from to now+to.
func (e *env) issueAt(t testing.TB, certID string, from, to time.Duration, rsaBits int) {
	t.Helper()
	now := time.Now()
	v := versionAt(t, certID+".example.com", now.Add(from), now.Add(to), rsaBits)
	v.ID, v.CertificateID = e.id("cv-"), certID
	e.propose(t, &fsm.RecordVersion{Version: v})
}

// riskWorld is demo-like data with one certificate per situation, and
// what each risk must count.
func riskWorld(t *testing.T, e *env) map[string][]string {
	t.Helper()
	r := e.refs(t, e.admin)
	mk := func() string { return e.cert(t, e.admin, r, nil) }
	soon := mk() // 90-day lifetime, 5 days left: expiring ≤ 7 d and ≤ 30 d, past its renewal point
	e.issueAt(t, soon, -85*day, 5*day, 0)
	month := mk() // 20 days left of 90
	e.issueAt(t, month, -70*day, 20*day, 0)
	fine := mk() // 60 days left of 90: nothing
	e.issueAt(t, fine, -30*day, 60*day, 0)
	expired := mk() // expired two days ago (the renewal check has not run: still Active)
	e.issueAt(t, expired, -88*day, -2*day, 0)
	weak := mk() // RSA-1024, 80 days left of 90
	e.issueAt(t, weak, -10*day, 80*day, 1024)
	revoked := mk() // 10 days left, then revoked: only revoked
	e.issueAt(t, revoked, -80*day, 10*day, 0)
	e.must(t, 200, "POST", "/api/v1/certificates/"+revoked+"/revoke", map[string]any{"reason": "superseded"})
	failed := mk() // renewal failed, 70 days left
	e.issueAt(t, failed, -20*day, 70*day, 0)
	e.propose(t, &fsm.SetCertificateStatus{ID: failed, Status: fsm.CertFailed, Reason: "issuer said no"})
	archived := mk() // weak and 3 days left, archived: counted nowhere
	e.issueAt(t, archived, -87*day, 3*day, 1024)
	e.must(t, 204, "DELETE", "/api/v1/certificates/"+archived, nil)
	renewing := mk() // 15 days left, a renewal open: expiring, not overdue
	e.issueAt(t, renewing, -75*day, 15*day, 0)
	e.must(t, 202, "POST", "/api/v1/certificates/"+renewing+"/renew", nil)
	return map[string][]string{
		"expiring_30d": {soon, month, renewing}, "expiring_7d": {soon}, "expired": {expired},
		"renewal_overdue": {soon, month}, "renewal_failed": {failed}, "revoked": {revoked}, "weak_keys": {weak},
	}
}

// TestAPI_StatsRiskTilesMatchLists: every count of the summary is what its
// definition says, and the certificate list filtered by the same risk
// holds exactly those certificates, so a tile and the list it links to
// agree.
func TestAPI_StatsRiskTilesMatchLists(t *testing.T) {
	e := newEnv(t, api.Config{RateLimit: -1, AuthFailureRate: -1})
	want := riskWorld(t, e)
	viewer := e.bootstrapKey(t, "viewer", fsm.RoleViewer, "")

	s := e.mustAs(t, viewer, 200, "GET", "/api/v1/stats/summary", nil)
	certs := s.body["certificates"].(map[string]any)
	assert.EqualValues(t, 8, certs["total"], "Archived left out: %s", s.raw)
	assert.EqualValues(t, 8, s.body["total_certificates"])
	assert.EqualValues(t, 3, s.body["expiring_certificates"])
	assert.EqualValues(t, 1, s.body["expired_certificates"])
	assert.EqualValues(t, 1, s.body["pending_jobs"], "the open renewal")
	byStatus := certs["by_status"].(map[string]any)
	assert.EqualValues(t, 1, byStatus["Archived"])
	assert.EqualValues(t, 6, byStatus["Active"])
	for risk, ids := range want {
		assert.EqualValues(t, len(ids), certs[risk], "summary %s: %s", risk, s.raw)
		l := e.mustAs(t, viewer, 200, "GET", "/api/v1/certificates?per_page=500&risk="+risk, nil)
		assert.EqualValues(t, certs[risk], l.body["total"], "the %s tile and its list agree", risk)
		var got []string
		for _, c := range l.body["data"].([]any) {
			got = append(got, c.(map[string]any)["id"].(string))
		}
		assert.ElementsMatch(t, ids, got, "risk %s", risk)
		// Sorted, and with another filter, the list stays within the risk.
		l = e.mustAs(t, viewer, 200, "GET", "/api/v1/certificates?sort=-expires_at&risk="+strings.ToUpper(risk), nil)
		assert.EqualValues(t, len(ids), l.body["total"], "risk %s sorted", risk)
		l = e.mustAs(t, viewer, 200, "GET", "/api/v1/certificates?status=Archived&risk="+risk, nil)
		assert.EqualValues(t, 0, l.body["total"], "no archived certificate is at risk %s", risk)
		l = e.mustAs(t, viewer, 200, "GET", "/api/v1/certificates?status=Pending&risk="+risk, nil)
		assert.EqualValues(t, 0, l.body["total"], "a status filter narrows risk %s", risk)
	}

	a := e.as(t, viewer, "GET", "/api/v1/certificates?risk=doomed", nil)
	requireError(t, a, 400, "risk")
	assert.Contains(t, a.body["message"], "expiring_30d, expiring_7d, expired, renewal_overdue, renewal_failed, revoked, weak_keys")
	requireError(t, e.as(t, viewer, "GET", "/api/v1/certificates?key_type=DSA", nil), 400, "key_type")

	// The weak certificate's version says why.
	v := e.mustAs(t, viewer, 200, "GET", "/api/v1/certificates/"+want["weak_keys"][0]+"/versions", nil)
	ver := v.body["data"].([]any)[0].(map[string]any)
	assert.Equal(t, "RSA-1024", ver["key_algorithm"])
	assert.Equal(t, true, ver["weak_key"])
	assert.Equal(t, "SHA256-RSA", ver["signature_algorithm"])
	c := e.mustAs(t, viewer, 200, "GET", "/api/v1/certificates/"+want["weak_keys"][0], nil)
	assert.Equal(t, true, c.body["weak_key"])
	// A new version with a strong key clears it.
	e.issueAt(t, want["weak_keys"][0], -time.Minute, 90*day, 2048)
	s = e.mustAs(t, viewer, 200, "GET", "/api/v1/stats/summary", nil)
	assert.EqualValues(t, 0, s.body["certificates"].(map[string]any)["weak_keys"])
	assert.EqualValues(t, 0, e.mustAs(t, viewer, 200, "GET", "/api/v1/certificates?risk=weak_keys", nil).body["total"])
}

// TestAPI_CertificateListFilters: agent_id, target_id and key_type.
func TestAPI_CertificateListFilters(t *testing.T) {
	w := newWorld(t, api.Config{RateLimit: -1, AuthFailureRate: -1})
	served, target, _ := w.servedCert(t, w.agentID)
	other, _, _ := w.servedCert(t, w.otherAgentID)
	rsa := w.cert(t, w.admin, w.ref, map[string]any{"key_type": "RSA-3072"})
	ids := func(q string) []string {
		a := w.mustAs(t, w.viewer, 200, "GET", "/api/v1/certificates?"+q, nil)
		out := []string{}
		for _, c := range a.body["data"].([]any) {
			out = append(out, c.(map[string]any)["id"].(string))
		}
		assert.EqualValues(t, len(out), a.body["total"])
		return out
	}
	assert.Equal(t, []string{served}, ids("agent_id="+w.agentID))
	assert.Equal(t, []string{other}, ids("agent_id="+w.otherAgentID))
	assert.Equal(t, []string{served}, ids("target_id="+target))
	assert.Equal(t, []string{rsa}, ids("key_type=rsa-3072"))
	assert.ElementsMatch(t, []string{served, other}, ids("key_type=ECDSA-P256"), "no key type means ECDSA-P256")
	assert.Empty(t, ids("agent_id=ag-none"))
}

func TestAPI_StatsTimelineTrendsRate(t *testing.T) {
	e := newEnv(t, api.Config{RateLimit: -1, AuthFailureRate: -1})
	riskWorld(t, e)
	a := e.must(t, 200, "GET", "/api/v1/stats/expiration-timeline?days=90&bucket=week", nil)
	assert.EqualValues(t, 90, a.body["days"])
	assert.Equal(t, "week", a.body["bucket"])
	buckets := a.body["buckets"].([]any)
	require.Len(t, buckets, 13, "12 weeks and the 6 days left")
	counts := make([]float64, len(buckets))
	for i, b := range buckets {
		counts[i] = b.(map[string]any)["count"].(float64)
	}
	// 5 d; 15 d and 20 d; 60 d; 70 d; 80 d (the revoked and archived ones count nowhere).
	assert.Equal(t, []float64{1, 0, 2, 0, 0, 0, 0, 0, 1, 1, 0, 1, 0}, counts)

	a = e.must(t, 200, "GET", "/api/v1/stats/expiration-timeline", nil)
	assert.EqualValues(t, 30, a.body["days"])
	assert.Equal(t, "day", a.body["bucket"])
	assert.Len(t, a.body["buckets"], 30)
	for _, q := range []string{"days=0", "days=366", "days=x"} {
		requireError(t, e.as(t, e.admin, "GET", "/api/v1/stats/expiration-timeline?"+q, nil), 400, "days")
	}
	requireError(t, e.as(t, e.admin, "GET", "/api/v1/stats/expiration-timeline?bucket=month", nil), 400, "bucket")

	a = e.must(t, 200, "GET", "/api/v1/stats/issuance-rate?days=7", nil)
	days := a.body["data"].([]any)
	require.Len(t, days, 7)
	assert.EqualValues(t, 9, days[6].(map[string]any)["count"], "nine versions recorded today: %s", a.raw)
	assert.Equal(t, time.Now().UTC().Format(time.DateOnly), days[6].(map[string]any)["date"])

	a = e.must(t, 200, "GET", "/api/v1/stats/job-trends?days=3", nil)
	assert.Len(t, a.body["data"], 3)
	requireError(t, e.as(t, e.admin, "GET", "/api/v1/stats/job-trends?days=400", nil), 400, "days")

	a = e.must(t, 200, "GET", "/api/v1/stats/certificates-by-status", nil)
	assert.EqualValues(t, 9, a.body["total"])
	assert.Contains(t, a.body["data"], map[string]any{"status": "Active", "count": float64(6)})
}

// TestAPI_StatsAttention lists each kind of problem once, newest first,
// with the retry that applies.
func TestAPI_StatsAttention(t *testing.T) {
	w := newWorld(t, api.Config{RateLimit: -1, AuthFailureRate: -1, HeartbeatFlush: 10 * time.Millisecond})
	failed := w.cert(t, w.admin, w.ref, nil)
	w.propose(t, &fsm.SetCertificateStatus{ID: failed, Status: fsm.CertFailed, Reason: "issuer said no"})
	note := w.notification(t)
	w.propose(t, &fsm.MarkNotificationFailed{ID: note, Error: "smtp: 550 no such user", Dead: true})
	w.propose(t, &fsm.SetAgentStatus{AgentID: w.otherAgentID, Status: fsm.AgentOffline})
	certID, jobID := w.deployJob(t, w.otherAgentID)

	a := w.mustAs(t, w.viewer, 200, "GET", "/api/v1/stats/attention", nil)
	byKind := map[string]map[string]any{}
	offline := []string{}
	for _, it := range a.body["items"].([]any) {
		m := it.(map[string]any)
		byKind[m["kind"].(string)] = m
		if m["kind"] == "agent_offline" {
			offline = append(offline, m["agent_id"].(string))
		}
	}
	require.Len(t, byKind, 4, "%s", a.raw)
	assert.EqualValues(t, 5, a.body["total"])
	// The other agent was set Offline; the first never sent a heartbeat.
	assert.ElementsMatch(t, []string{w.agentID, w.otherAgentID}, offline)
	assert.Equal(t, failed, byKind["renewal_failed"]["certificate_id"])
	assert.Equal(t, "issuer said no", byKind["renewal_failed"]["detail"])
	assert.Equal(t, map[string]any{"method": "POST", "path": "/api/v1/certificates/" + failed + "/renew", "body": map[string]any{}}, byKind["renewal_failed"]["retry"])
	assert.Equal(t, note, byKind["notification_dead"]["notification_id"])
	assert.Equal(t, "/api/v1/notifications/"+note+"/retry", byKind["notification_dead"]["retry"].(map[string]any)["path"])
	assert.Nil(t, byKind["agent_offline"]["retry"])
	assert.Equal(t, jobID, byKind["awaiting_agent"]["job_id"])
	assert.Equal(t, certID, byKind["awaiting_agent"]["certificate_id"])

	// Failing the deployment turns it into deployment_failed with its retry.
	w.propose(t, &fsm.ClaimJob{JobID: jobID, Holder: "agent/" + w.otherAgentID, LeaseUntil: time.Now().Add(time.Hour)})
	w.propose(t, &fsm.FailJob{JobID: jobID, Error: "nginx -t failed"})
	a = w.mustAs(t, w.viewer, 200, "GET", "/api/v1/stats/attention", nil)
	var dep map[string]any
	for _, it := range a.body["items"].([]any) {
		if m := it.(map[string]any); m["kind"] == "deployment_failed" {
			dep = m
		}
	}
	require.NotNil(t, dep, "%s", a.raw)
	assert.Equal(t, "nginx -t failed", dep["detail"])
	retry := dep["retry"].(map[string]any)
	assert.Equal(t, "/api/v1/certificates/"+certID+"/deploy", retry["path"])
	assert.NotEmpty(t, retry["body"].(map[string]any)["target_id"])

	// Newest first.
	var last time.Time
	for i, it := range a.body["items"].([]any) {
		since, err := time.Parse(time.RFC3339Nano, it.(map[string]any)["since"].(string))
		require.NoError(t, err)
		if i > 0 {
			assert.False(t, since.After(last), "item %d is newer than the one before it", i)
		}
		last = since
	}
}

// TestAPI_NotificationRetry: a dead notification goes back to Pending with
// its attempts reset, audited; a pending or sent one is a 409.
func TestAPI_NotificationRetry(t *testing.T) {
	w := newWorld(t, api.Config{RateLimit: -1, AuthFailureRate: -1})
	id := w.notification(t)
	w.propose(t, &fsm.MarkNotificationFailed{ID: id, Error: "smtp: 451", RetryAt: ptrTime(time.Now().Add(time.Hour))})
	w.propose(t, &fsm.MarkNotificationFailed{ID: id, Error: "smtp: 550", Dead: true})
	s := w.mustAs(t, w.viewer, 200, "GET", "/api/v1/stats/summary", nil)
	assert.EqualValues(t, 1, s.body["notifications"].(map[string]any)["dead"])

	requireError(t, w.as(t, w.viewer, "POST", "/api/v1/notifications/"+id+"/retry", nil), 403, "")
	a := w.mustAs(t, w.operator, 200, "POST", "/api/v1/notifications/"+id+"/retry", nil)
	assert.Equal(t, map[string]any{"status": "requeued"}, a.body)
	n := w.mustAs(t, w.viewer, 200, "GET", "/api/v1/notifications/"+id, nil)
	assert.Equal(t, "pending", strings.ToLower(n.body["status"].(string)))
	assert.EqualValues(t, 0, n.body["attempts"])
	assert.EqualValues(t, 1, n.body["requeues"])
	s = w.mustAs(t, w.viewer, 200, "GET", "/api/v1/stats/summary", nil)
	assert.EqualValues(t, 0, s.body["notifications"].(map[string]any)["dead"])
	assert.EqualValues(t, 1, s.body["notifications"].(map[string]any)["pending"])

	requireError(t, w.as(t, w.operator, "POST", "/api/v1/notifications/"+id+"/retry", nil), 409, "")
	w.propose(t, &fsm.MarkNotificationSent{ID: id})
	requireError(t, w.as(t, w.operator, "POST", "/api/v1/notifications/"+id+"/retry", nil), 409, "")
	requireError(t, w.as(t, w.operator, "POST", "/api/v1/notifications/ne-none/retry", nil), 404, "")

	ev := w.mustAs(t, w.admin, 200, "GET", "/api/v1/audit?action=notification_requeued&resource_id="+id, nil)
	require.EqualValues(t, 1, ev.body["total"], "%s", ev.raw)
	assert.Equal(t, "operator", ev.body["data"].([]any)[0].(map[string]any)["actor_role"])
}

func ptrTime(t time.Time) *time.Time { return &t }

// TestAPI_BulkRenewRevoke: each certificate goes through the single
// action's command; the answer counts what happened to each.
func TestAPI_BulkRenewRevoke(t *testing.T) {
	w := newWorld(t, api.Config{RateLimit: -1, AuthFailureRate: -1, Issuers: fakeIssuers{}})
	a1, a2 := w.cert(t, w.admin, w.ref, nil), w.cert(t, w.admin, w.ref, nil)
	for _, id := range []string{a1, a2} {
		w.issue(t, id, id+".example.com", 90*day)
	}
	other := w.refs(t, w.admin)
	b1 := w.cert(t, w.admin, other, nil)
	w.issue(t, b1, b1+".example.com", 90*day)

	requireError(t, w.as(t, w.operator, "POST", "/api/v1/certificates/bulk-renew", map[string]any{}), 400, "certificate_ids")
	many := make([]string, 1001)
	for i := range many {
		many[i] = fmt.Sprintf("mc-%d", i)
	}
	requireError(t, w.as(t, w.operator, "POST", "/api/v1/certificates/bulk-renew", map[string]any{"certificate_ids": many}), 400, "certificate_ids")
	requireError(t, w.as(t, w.viewer, "POST", "/api/v1/certificates/bulk-renew", map[string]any{"certificate_ids": []string{a1}}), 403, "")

	a := w.mustAs(t, w.operator, 200, "POST", "/api/v1/certificates/bulk-renew", map[string]any{"certificate_ids": []string{a1, a2, "mc-none"}})
	assert.EqualValues(t, 3, a.body["total_matched"])
	assert.EqualValues(t, 2, a.body["total_enqueued"], "%s", a.raw)
	assert.EqualValues(t, 1, a.body["total_failed"])
	assert.Len(t, a.body["jobs"], 2)
	assert.Equal(t, "mc-none", a.body["errors"].([]any)[0].(map[string]any)["certificate_id"])
	for _, j := range a.body["jobs"].([]any) {
		job := w.mustAs(t, w.viewer, 200, "GET", "/api/v1/jobs/"+j.(map[string]any)["job_id"].(string), nil)
		assert.Equal(t, "Renewal", job.body["type"])
		assert.Equal(t, j.(map[string]any)["certificate_id"], job.body["certificate_id"])
	}
	// Asked again, the open renewals are kept: skipped, their jobs named.
	a = w.mustAs(t, w.operator, 200, "POST", "/api/v1/certificates/bulk-renew", map[string]any{"owner_id": w.ref.owner})
	assert.EqualValues(t, 2, a.body["total_matched"], "%s", a.raw)
	assert.EqualValues(t, 0, a.body["total_enqueued"])
	assert.EqualValues(t, 2, a.body["total_skipped"])

	// Revoke is the admin's.
	body := map[string]any{"team_id": other.team, "reason": "cessationOfOperation"}
	requireError(t, w.as(t, w.operator, "POST", "/api/v1/certificates/bulk-revoke", body), 403, "")
	requireError(t, w.as(t, w.admin, "POST", "/api/v1/certificates/bulk-revoke", map[string]any{"team_id": other.team, "reason": "stolen"}), 400, "reason")
	requireError(t, w.as(t, w.admin, "POST", "/api/v1/certificates/bulk-revoke", map[string]any{"reason": "superseded"}), 400, "certificate_ids")
	a = w.must(t, 200, "POST", "/api/v1/certificates/bulk-revoke", body)
	assert.Equal(t, map[string]any{"total_matched": float64(1), "total_revoked": float64(1), "total_skipped": float64(0), "total_failed": float64(0), "errors": []any{}}, a.body)
	assert.Equal(t, "Revoked", w.mustAs(t, w.viewer, 200, "GET", "/api/v1/certificates/"+b1, nil).body["status"])
	assert.Equal(t, "Active", w.mustAs(t, w.viewer, 200, "GET", "/api/v1/certificates/"+a1, nil).body["status"], "another team's certificate is untouched")
	// Named certificates outside the criteria are not acted on.
	a = w.must(t, 200, "POST", "/api/v1/certificates/bulk-revoke", map[string]any{"certificate_ids": []string{a1, b1}, "team_id": other.team})
	assert.EqualValues(t, 0, a.body["total_revoked"], "%s", a.raw)
	assert.EqualValues(t, 2, a.body["total_skipped"], "a1 does not match; b1 is revoked already")
	assert.Equal(t, "Active", w.mustAs(t, w.viewer, 200, "GET", "/api/v1/certificates/"+a1, nil).body["status"])
}

// TestAPI_HeartbeatStoresHostFacts: os, architecture and ip_address reach
// the agent record, filter the agent list and count in the summary.
func TestAPI_HeartbeatStoresHostFacts(t *testing.T) {
	w := newWorld(t, api.Config{RateLimit: -1, AuthFailureRate: -1, HeartbeatFlush: 10 * time.Millisecond})
	w.mustAs(t, w.agentKey, 200, "POST", "/api/v1/agents/"+w.agentID+"/heartbeat",
		map[string]any{"version": "1.4.0", "hostname": "web-1", "os": "linux", "architecture": "arm64", "ip_address": "10.0.0.7"})
	a := w.mustAs(t, w.viewer, 200, "GET", "/api/v1/agents/"+w.agentID, nil)
	assert.Equal(t, "linux", a.body["os"])
	assert.Equal(t, "arm64", a.body["architecture"])
	assert.Equal(t, "10.0.0.7", a.body["ip_address"])

	l := w.mustAs(t, w.viewer, 200, "GET", "/api/v1/agents?os=Linux", nil)
	require.EqualValues(t, 1, l.body["total"], "%s", l.raw)
	assert.Equal(t, w.agentID, l.body["data"].([]any)[0].(map[string]any)["id"])
	assert.EqualValues(t, 1, w.mustAs(t, w.viewer, 200, "GET", "/api/v1/agents?version=1.4.0", nil).body["total"])
	assert.EqualValues(t, 0, w.mustAs(t, w.viewer, 200, "GET", "/api/v1/agents?version=1.4.0&status=Offline", nil).body["total"])

	s := w.mustAs(t, w.viewer, 200, "GET", "/api/v1/stats/summary", nil)
	agents := s.body["agents"].(map[string]any)
	assert.EqualValues(t, 1, agents["by_os"].(map[string]any)["linux"])
	assert.EqualValues(t, 1, agents["by_version"].(map[string]any)["1.4.0"])
	assert.EqualValues(t, 1, s.body["active_agents"])

	requireError(t, w.as(t, w.agentKey, "POST", "/api/v1/agents/"+w.agentID+"/heartbeat", map[string]any{"ip_address": "not-an-ip"}), 400, "ip_address")
	requireError(t, w.as(t, w.agentKey, "POST", "/api/v1/agents/"+w.agentID+"/heartbeat", map[string]any{"os": strings.Repeat("x", 65)}), 400, "os")
	requireError(t, w.as(t, w.agentKey, "POST", "/api/v1/agents/"+w.agentID+"/heartbeat", map[string]any{"architecture": "x86\u202e"}), 400, "architecture")
}

// statsCases are the routes' cases for TestAPI_EveryRoute.
func statsCases() map[string]routeCase {
	get := func(path string, keys ...string) routeCase {
		return func(t *testing.T, w *world) {
			a := w.mustAs(t, w.viewer, 200, "GET", path, nil)
			for _, k := range keys {
				assert.Contains(t, a.body, k, "%s", a.raw)
			}
		}
	}
	return map[string]routeCase{
		"GET /api/v1/stats/summary": get("/api/v1/stats/summary", "total_certificates", "expiring_certificates", "expired_certificates",
			"active_agents", "pending_jobs", "certificates", "agents", "jobs", "notifications", "generated_at"),
		"GET /api/v1/stats/expiration-timeline":    get("/api/v1/stats/expiration-timeline?days=90&bucket=week", "buckets", "days", "bucket"),
		"GET /api/v1/stats/certificates-by-status": get("/api/v1/stats/certificates-by-status", "data", "total"),
		"GET /api/v1/stats/job-trends":             get("/api/v1/stats/job-trends?days=30", "days", "data"),
		"GET /api/v1/stats/issuance-rate":          get("/api/v1/stats/issuance-rate?days=30", "days", "data"),
		"GET /api/v1/stats/attention":              get("/api/v1/stats/attention", "items", "total"),
		"POST /api/v1/certificates/bulk-renew": func(t *testing.T, w *world) {
			id := w.cert(t, w.admin, w.ref, nil)
			a := w.mustAs(t, w.operator, 200, "POST", "/api/v1/certificates/bulk-renew", map[string]any{"certificate_ids": []string{id}})
			assert.EqualValues(t, 1, a.body["total_enqueued"], "%s", a.raw)
			requireError(t, w.as(t, w.operator, "POST", "/api/v1/certificates/bulk-renew", "{"), 400, "")
		},
		"POST /api/v1/certificates/bulk-revoke": func(t *testing.T, w *world) {
			id := w.cert(t, w.admin, w.ref, nil)
			w.issue(t, id, id+".example.com", 30*day)
			a := w.must(t, 200, "POST", "/api/v1/certificates/bulk-revoke", map[string]any{"certificate_ids": []string{id}, "reason": "keyCompromise"})
			assert.EqualValues(t, 1, a.body["total_revoked"], "%s", a.raw)
		},
		"POST /api/v1/notifications/:id/retry": func(t *testing.T, w *world) {
			id := w.notification(t)
			w.propose(t, &fsm.MarkNotificationFailed{ID: id, Error: "smtp: 550", Dead: true})
			w.mustAs(t, w.operator, 200, "POST", "/api/v1/notifications/"+id+"/retry", nil)
			requireError(t, w.as(t, w.operator, "POST", "/api/v1/notifications/ne-none/retry", nil), 404, "")
		},
	}
}

// TestAPI_MetricsDashboardCounts: what the overview counts is on /metrics,
// and made-up paths cannot grow the request metrics' label values.
func TestAPI_MetricsDashboardCounts(t *testing.T) {
	w := newWorld(t, api.Config{RateLimit: -1, AuthFailureRate: -1, HeartbeatFlush: 10 * time.Millisecond})
	w.mustAs(t, w.agentKey, 200, "POST", "/api/v1/agents/"+w.agentID+"/heartbeat", map[string]any{"version": "1.4.0"})
	certID, _ := w.deployJob(t, w.agentID)
	note := w.notification(t)
	w.propose(t, &fsm.MarkNotificationFailed{ID: note, Error: "smtp: 550", Dead: true})
	archived := w.cert(t, w.admin, w.ref, nil)
	w.issue(t, archived, archived+".example.com", 30*day)
	w.must(t, 204, "DELETE", "/api/v1/certificates/"+archived, nil)

	w.mustAs(t, w.viewer, 200, "GET", "/metrics", nil) // the /metrics route's own series
	before := string(w.mustAs(t, w.viewer, 200, "GET", "/metrics", nil).raw)
	for i := range 50 {
		w.as(t, w.viewer, "GET", fmt.Sprintf("/api/v1/made-up-%d/x", i), nil)
		w.as(t, w.viewer, "GET", fmt.Sprintf("/api/v1/certificates/mc-made-up-%d", i), nil)
	}
	text := string(w.mustAs(t, w.viewer, 200, "GET", "/metrics", nil).raw)
	assert.NotContains(t, text, "made-up", "a path never becomes a label value")
	series := func(s string) int { return strings.Count(s, "certctl_http_request_duration_seconds_count{") }
	assert.LessOrEqual(t, series(text), series(before)+2, "at most the unmatched and /api/v1/certificates/:id series are new")

	v, ok := metricValue(text, "certctl_jobs", `status="Pending"`, `type="Deployment"`)
	assert.True(t, ok && v == 1, "certctl_jobs{Pending,Deployment}: %v", v)
	v, ok = metricValue(text, "certctl_jobs", `status="Completed"`, `type="Renewal"`)
	assert.True(t, ok && v == 0, "every status and type is present")
	v, ok = metricValue(text, "certctl_agents", `status="Online"`, `version="1.4.0"`)
	assert.True(t, ok && v == 1)
	v, ok = metricValue(text, "certctl_agents", `status="Offline"`, `version=""`)
	assert.True(t, ok && v == 1, "the other agent never sent a heartbeat")
	v, ok = metricValue(text, "certctl_notifications", `status="dead"`)
	if !ok {
		v, ok = metricValue(text, "certctl_notifications", `status="Dead"`)
	}
	assert.True(t, ok && v == 1)
	v, ok = metricValue(text, "certctl_notifications_dead")
	assert.True(t, ok && v == 1)
	c := w.mustAs(t, w.viewer, 200, "GET", "/api/v1/certificates/"+certID, nil)
	exp, err := time.Parse(time.RFC3339Nano, c.body["expires_at"].(string))
	require.NoError(t, err)
	v, ok = metricValue(text, "certctl_certificate_expiration_timestamp_seconds", `id="`+certID+`"`, `common_name="`+certID+`.example.com"`, `issuer_id="`+w.ref.issuer+`"`)
	assert.True(t, ok, "each certificate's expiry")
	assert.Equal(t, float64(exp.Unix()), v)
	assert.NotContains(t, text, `id="`+archived+`"`, "archived certificates are left out")
}
