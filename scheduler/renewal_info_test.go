package scheduler

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/certctl/certctl/connectors/issuer"
	"github.com/certctl/certctl/fsm"
	"github.com/certctl/certctl/fsm/fsmtest"
)

// informer is an Issuance whose CA answers renewal-information requests
// with fn; it counts the requests per certificate.
type informer struct {
	issuance
	mu    sync.Mutex
	asked map[string]int
	fn    func(cert fsm.Certificate) (*issuer.RenewalInfo, error)
}

func (i *informer) RenewalInfo(_ context.Context, cert fsm.Certificate, certPEM string) (*issuer.RenewalInfo, error) {
	i.mu.Lock()
	i.asked[cert.ID]++
	i.mu.Unlock()
	if certPEM == "" {
		return nil, errors.New("no certificate to ask about")
	}
	return i.fn(cert)
}

func (i *informer) count(id string) int {
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.asked[id]
}

func ariHarness(t *testing.T, fn func(cert fsm.Certificate) (*issuer.RenewalInfo, error)) (*harness, *informer) {
	inf := &informer{asked: map[string]int{}, fn: fn}
	h := newHarness(t, func(c *Config) { c.Issuance = inf })
	h.must(&fsm.RecordVersion{Version: fsmtest.Version("ver-1", fsmtest.CertificateID, 1, t0.Add(-day), 90*day)})
	return h, inf
}

func (h *harness) refreshRenewalInfo() {
	h.t.Helper()
	require.NoError(h.t, h.s.refreshRenewalInfo(context.Background()))
}

// TestRenewalInfo_PastWindowRenewsAndRetryAfterIsHonoured: a window the CA
// says has opened is recorded and starts the renewal check, which queues
// the renewal though the policy (a third of 90 days, 89 left) would wait;
// the CA is not asked again before its Retry-After, and is after it.
func TestRenewalInfo_PastWindowRenewsAndRetryAfterIsHonoured(t *testing.T) {
	h, inf := ariHarness(t, func(fsm.Certificate) (*issuer.RenewalInfo, error) {
		return &issuer.RenewalInfo{WindowStart: t0.Add(-2 * time.Hour), WindowEnd: t0.Add(-time.Hour),
			ExplanationURL: "https://ca.example/why", RetryAfter: 2 * time.Hour}, nil
	})
	h.refreshRenewalInfo()
	c := h.certificate(fsmtest.CertificateID)
	require.NotNil(t, c.RenewalInfo)
	assert.True(t, c.RenewalInfo.RetryAfter.Equal(t0.Add(2*time.Hour)), "%v", c.RenewalInfo.RetryAfter)
	assert.Equal(t, "https://ca.example/why", c.RenewalInfo.ExplanationURL)
	jobs := h.jobsOf(fsmtest.CertificateID)
	require.Len(t, jobs, 1, "the open window queued a renewal")
	assert.Equal(t, fsm.JobRenewal, jobs[0].Type)

	h.clock.Advance(time.Hour)
	h.refreshRenewalInfo()
	assert.Equal(t, 1, inf.count(fsmtest.CertificateID), "not asked again before the CA's Retry-After")
	h.clock.Advance(time.Hour + time.Minute)
	h.refreshRenewalInfo()
	assert.Equal(t, 2, inf.count(fsmtest.CertificateID), "asked again after it")
}

// TestRenewalInfo_FutureWindowHoldsOffThePolicy: a window ahead keeps a
// policy whose own window has come from renewing; the renewal check with
// none recorded renews by the policy.
func TestRenewalInfo_FutureWindowHoldsOffThePolicy(t *testing.T) {
	h, _ := ariHarness(t, func(fsm.Certificate) (*issuer.RenewalInfo, error) {
		return &issuer.RenewalInfo{WindowStart: t0.Add(30 * day), WindowEnd: t0.Add(31 * day)}, nil
	})
	h.policy("rp-now", 3650, true)
	c := h.certificate(fsmtest.CertificateID)
	c.RenewalPolicyID = "rp-now"
	h.must(&fsm.UpdateCertificate{Certificate: *c})
	h.refreshRenewalInfo()
	require.NotNil(t, h.certificate(fsmtest.CertificateID).RenewalInfo)
	assert.True(t, h.certificate(fsmtest.CertificateID).RenewalInfo.RetryAfter.Equal(t0.Add(6*time.Hour)), "no Retry-After: 6 hours")
	h.renewalCheck()
	assert.Empty(t, h.jobsOf(fsmtest.CertificateID), "the CA's window, a month ahead, decides")

	h.clock.Advance(30*day + 23*time.Hour + 59*time.Minute)
	h.renewalCheck()
	assert.Len(t, h.jobsOf(fsmtest.CertificateID), 1, "renewed once inside the window")
}

// TestRenewalInfo_NoARIOrAFailingCA: an issuer without renewal
// information is asked once per pass, whatever its certificates; a CA
// that fails is logged, not an error of the pass, and records nothing; the
// policy decides for both.
func TestRenewalInfo_NoARIOrAFailingCA(t *testing.T) {
	for name, err := range map[string]error{"no ARI": issuer.ErrNoRenewalInfo, "CA down": &issuer.CAError{Op: "fetch", Detail: "unavailable"}} {
		t.Run(name, func(t *testing.T) {
			h, inf := ariHarness(t, func(fsm.Certificate) (*issuer.RenewalInfo, error) { return nil, err })
			h.cert("mc-2", fsm.CertActive, t0.Add(89*day), "")
			h.must(&fsm.RecordVersion{Version: fsmtest.Version("ver-2", "mc-2", 2, t0.Add(-day), 90*day)})
			h.refreshRenewalInfo()
			assert.Equal(t, 1, inf.count(fsmtest.CertificateID)+inf.count("mc-2"), "one request for the issuer this pass")
			assert.Nil(t, h.certificate(fsmtest.CertificateID).RenewalInfo)
			assert.Nil(t, h.certificate("mc-2").RenewalInfo)
			h.renewalCheck()
			assert.Empty(t, h.jobsOf(fsmtest.CertificateID), "the policy: not yet")
		})
	}
}
