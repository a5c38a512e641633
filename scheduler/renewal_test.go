package scheduler

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/certctl/certctl/api/wire"
	"github.com/certctl/certctl/fsm"
	"github.com/certctl/certctl/fsm/fsmtest"
)

func days(n float64) time.Duration { return time.Duration(n * float64(day)) }

func ptr[T any](v T) *T { return &v }

// renewalCheck runs the renewal check once and fails the test on error.
func (h *harness) renewalCheck() {
	h.t.Helper()
	require.NoError(h.t, h.s.checkRenewals(context.Background()))
}

func TestRenewal_OneAlertPerThresholdAndOneJobHoweverOftenItRuns(t *testing.T) {
	h := newHarness(t)
	h.policy("policy-4t", 30, true, 30, 14, 7, 0)
	exp := t0.Add(10 * day)
	h.cert("mc-ten", fsm.CertActive, exp, "policy-4t")

	h.renewalCheck()
	after := h.prop.proposals()
	for range 99 {
		h.clock.Advance(time.Minute)
		h.renewalCheck()
	}
	assert.Equal(t, after, h.prop.proposals(), "runs with nothing new to do propose nothing")

	notes := h.notifications(fsm.NotificationFilter{CertificateID: "mc-ten"})
	require.Len(t, notes, 2, "exactly one 30-day and one 14-day alert")
	keys := map[string]fsm.Notification{}
	for _, n := range notes {
		keys[n.DedupKey] = n
		assert.Equal(t, wire.NotificationExpirationWarning, n.Type)
		assert.Equal(t, wire.ChannelEmail, n.Channel)
		assert.Equal(t, "owner-1@example.com", n.Recipient)
		assert.Equal(t, fsm.NotifyPending, n.Status)
	}
	assert.Contains(t, keys, expiryAlertKey("mc-ten", 30, exp))
	assert.Contains(t, keys, expiryAlertKey("mc-ten", 14, exp))
	assert.Contains(t, keys[expiryAlertKey("mc-ten", 14, exp)].Message, "in 10 day(s) (14-day alert)")

	jobs := h.jobsOf("mc-ten")
	require.Len(t, jobs, 1, "exactly one renewal job")
	assert.Equal(t, fsm.JobRenewal, jobs[0].Type)
	assert.Equal(t, fsm.JobPending, jobs[0].Status)
	assert.Equal(t, 4, jobs[0].MaxAttempts, "max_retries 3 + the first attempt")
	assert.Equal(t, fsm.CertExpiring, h.certificate("mc-ten").Status)
	assert.Len(t, h.audit("certificate_status_changed", "mc-ten"), 1)
}

func TestRenewal_RenewalWindowDays(t *testing.T) {
	for _, tc := range []struct {
		window int
		job    bool
	}{{14, false}, {30, true}} {
		h := newHarness(t)
		h.policy("policy-w", tc.window, true, 30, 14, 7, 0)
		h.cert("mc-twenty", fsm.CertActive, t0.Add(20*day), "policy-w")
		h.renewalCheck()
		assert.Equal(t, tc.job, len(h.jobsOf("mc-twenty")) == 1, "window %d days, 20 days left", tc.window)
		assert.Len(t, h.notifications(fsm.NotificationFilter{CertificateID: "mc-twenty"}), 1, "the 30-day alert either way")
	}
}

func TestRenewal_NoWindowRenewsWithAThirdOfTheLifetimeLeft(t *testing.T) {
	h := newHarness(t)
	h.policy("policy-third", 0, true, 7)
	// Issued for 60 days: renewal is due with 20 days left.
	h.cert("mc-sixty", fsm.CertPending, t0, "policy-third")
	h.must(&fsm.RecordVersion{Version: fsmtest.Version("cv-60", "mc-sixty", 60, t0.Add(-39*day), 60*day)})
	// No version: 90 days assumed, renewal due with 30 days left.
	h.cert("mc-unknown", fsm.CertActive, t0.Add(31*day), "policy-third")

	h.renewalCheck() // 21 days left of 60; 31 of "90"
	assert.Empty(t, h.jobsOf("mc-sixty"))
	assert.Empty(t, h.jobsOf("mc-unknown"))

	h.clock.Advance(day + time.Second) // just under 20 days left; just under 30
	h.renewalCheck()
	assert.Len(t, h.jobsOf("mc-sixty"), 1)
	assert.Len(t, h.jobsOf("mc-unknown"), 1)
}

func TestRenewal_AutoRenewOffAlertsOnly(t *testing.T) {
	h := newHarness(t)
	h.policy("policy-manual", 30, false, 30, 14, 7, 0)
	h.cert("mc-manual", fsm.CertActive, t0.Add(5*day), "policy-manual")
	for range 3 {
		h.renewalCheck()
	}
	assert.Len(t, h.notifications(fsm.NotificationFilter{CertificateID: "mc-manual"}), 3, "30, 14 and 7 days")
	assert.Empty(t, h.jobsOf("mc-manual"))
	assert.Equal(t, fsm.CertExpiring, h.certificate("mc-manual").Status)
}

func TestRenewal_ActiveThenExpiringThenExpired(t *testing.T) {
	h := newHarness(t)
	h.policy("policy-manual", 0, false, 30, 14, 7, 0)
	exp := t0.Add(40 * day)
	h.cert("mc-life", fsm.CertActive, exp, "policy-manual")

	status := func() wire.CertificateStatus { return h.certificate("mc-life").Status }
	alerts := func() int { return len(h.notifications(fsm.NotificationFilter{CertificateID: "mc-life"})) }
	steps := []struct {
		at     time.Time
		status wire.CertificateStatus
		alerts int
	}{
		{t0, fsm.CertActive, 0},                           // 40 days left: outside every window
		{exp.Add(-30*day - time.Hour), fsm.CertActive, 0}, // 30 days and an hour left
		{exp.Add(-30 * day), fsm.CertExpiring, 1},         // the 30-day threshold
		{exp.Add(-15 * day), fsm.CertExpiring, 1},
		{exp.Add(-14 * day), fsm.CertExpiring, 2},
		{exp.Add(-time.Minute), fsm.CertExpiring, 3}, // 7 days crossed long ago, alerted now
		{exp, fsm.CertExpired, 4},                    // 0 days: expired
		{exp.Add(30 * day), fsm.CertExpired, 4},
	}
	for _, st := range steps {
		h.clock.Set(st.at)
		h.renewalCheck()
		h.renewalCheck()
		assert.Equal(t, st.status, status(), "at %s", st.at)
		assert.Equal(t, st.alerts, alerts(), "at %s", st.at)
	}
	changes := h.audit("certificate_status_changed", "mc-life")
	assert.Len(t, changes, 2, "Active → Expiring → Expired, each once")

	expired := h.notifications(fsm.NotificationFilter{CertificateID: "mc-life"})
	var zero *fsm.Notification
	for i := range expired {
		if expired[i].DedupKey == expiryAlertKey("mc-life", 0, exp) {
			zero = &expired[i]
		}
	}
	require.NotNil(t, zero)
	assert.Contains(t, zero.Message, "expired on")
}

func TestRenewal_FailedCertificateExpiresKeepingItsReason(t *testing.T) {
	h := newHarness(t)
	exp := t0.Add(day)
	h.cert("mc-broken", fsm.CertActive, exp, "")
	h.must(&fsm.SetCertificateStatus{ID: "mc-broken", Status: fsm.CertFailed, Reason: "renewal failed after 3 attempt(s): CA down"})
	h.clock.Set(exp.Add(time.Hour))
	h.renewalCheck()
	c := h.certificate("mc-broken")
	assert.Equal(t, fsm.CertExpired, c.Status)
	assert.Equal(t, "renewal failed after 3 attempt(s): CA down", c.StatusReason)
}

func TestRenewal_ARenewedCertificateIsAlertedAndRenewedAgain(t *testing.T) {
	h := newHarness(t)
	h.policy("policy-4t", 30, true, 30, 14, 7, 0)
	exp := t0.Add(10 * day)
	h.cert("mc-cycle", fsm.CertActive, exp, "policy-4t")
	h.renewalCheck()
	first := renewalJobID("mc-cycle", exp)
	require.Equal(t, first, h.jobsOf("mc-cycle")[0].ID)

	// The renewal lands: a new version, a new expiry, the job done.
	h.must(&fsm.ClaimJob{JobID: first, Holder: "scheduler/n1", LeaseUntil: t0.Add(time.Hour)})
	h.must(&fsm.RecordVersion{Version: fsmtest.Version("cv-new", "mc-cycle", 7, t0, 90*day)})
	h.must(&fsm.CompleteJob{JobID: first, Holder: "scheduler/n1"})
	h.renewalCheck()
	assert.Len(t, h.jobsOf("mc-cycle"), 1, "90 days left: nothing due")

	// 80 days on, the new version is due in turn: new alerts, a new job.
	h.clock.Advance(80 * day)
	h.renewalCheck()
	assert.Len(t, h.jobsOf("mc-cycle"), 2)
	assert.Len(t, h.notifications(fsm.NotificationFilter{CertificateID: "mc-cycle"}), 4, "30 and 14 days, twice")
}

func TestRenewal_NoJobWhileAnIssuanceOrRenewalIsUnfinished(t *testing.T) {
	h := newHarness(t)
	h.cert("mc-busy", fsm.CertActive, t0.Add(5*day), "")
	open := fsmtest.Job("job-manual", fsm.JobRenewal)
	open.CertificateID = "mc-busy"
	h.must(&fsm.CreateJobs{Jobs: []fsm.Job{open}})
	h.renewalCheck()
	assert.Len(t, h.jobsOf("mc-busy"), 1)

	// Once that job is finished (here cancelled), the automatic job of this
	// expiry is queued.
	h.must(&fsm.CancelJob{JobID: "job-manual"})
	h.renewalCheck()
	jobs := h.jobsOf("mc-busy")
	require.Len(t, jobs, 2)
	// Once the automatic job is finished too, whatever its outcome, no third
	// one is queued for the same expiry: the certificate waits for an operator.
	h.must(&fsm.CancelJob{JobID: renewalJobID("mc-busy", t0.Add(5*day))})
	h.renewalCheck()
	assert.Len(t, h.jobsOf("mc-busy"), 2)
}

func TestRenewal_ReadsOnlyTheHorizon(t *testing.T) {
	h := newHarness(t)
	h.policy("policy-4t", 30, true, 30, 14, 7, 0)
	h.cert("mc-in", fsm.CertActive, t0.Add(29*day), "policy-4t")
	h.cert("mc-out", fsm.CertActive, t0.Add(5*365*day), "policy-4t")
	counting := &countingState{State: h.f}
	h.s.state = counting
	h.renewalCheck()
	// Horizon: a third of 398 days, for certificates without a policy (the
	// default policy has no window).
	assert.Equal(t, 1, counting.visited)
	assert.Len(t, h.jobsOf("mc-in"), 1)
	assert.Empty(t, h.jobsOf("mc-out"))
}

// countingState counts the certificates the expiry scan hands out.
type countingState struct {
	State
	visited int
}

func (c *countingState) CertificatesInRenewalScan(t time.Time, fn func(*fsm.Certificate) bool) error {
	return c.State.CertificatesInRenewalScan(t, func(cert *fsm.Certificate) bool {
		c.visited++
		return fn(cert)
	})
}

func TestRenewal_ARetryOrASecondLeaderIsANoOp(t *testing.T) {
	// Two schedulers (an old leader and a new one) take the same decisions
	// on the same state: the second proposes the same request ids and ids,
	// so nothing is written twice.
	h := newHarness(t)
	h.policy("policy-4t", 30, true, 30, 14, 7, 0)
	h.cert("mc-twice", fsm.CertActive, t0.Add(10*day), "policy-4t")
	other, err := New(Config{NodeID: "n2", Now: h.clock.Now, Logger: h.s.log}, h.f, h.prop)
	require.NoError(t, err)
	// The new leader read the state before the old one's writes landed:
	// replay the old one's exact commands.
	replay := &replayProposer{inner: h.prop}
	h.s.proposer = replay
	h.renewalCheck()
	require.NotEmpty(t, replay.cmds)
	for _, cmd := range replay.cmds {
		_, err := h.prop.Propose(context.Background(), cmd)
		require.NoError(t, err, "%s again", cmd.Type)
	}
	// Long after, when the fsm no longer remembers the request ids, the
	// same commands still change nothing: compare-and-set statuses, dedup
	// keys and ids fixed by the decision.
	for _, cmd := range replay.cmds {
		again := *cmd
		again.RequestID = ""
		_, err := h.prop.Propose(context.Background(), &again)
		if err != nil {
			assert.True(t, rejected(err), "%s: %v", cmd.Type, err)
		}
	}
	require.NoError(t, other.checkRenewals(context.Background()))
	assert.Len(t, h.notifications(fsm.NotificationFilter{CertificateID: "mc-twice"}), 2)
	assert.Len(t, h.jobsOf("mc-twice"), 1)
	assert.Len(t, h.audit("certificate_status_changed", "mc-twice"), 1)
}

// replayProposer proposes through inner and remembers every command.
type replayProposer struct {
	inner Proposer
	cmds  []*fsm.Command
}

func (r *replayProposer) Propose(ctx context.Context, cmd *fsm.Command) (uint64, error) {
	r.cmds = append(r.cmds, cmd)
	return r.inner.Propose(ctx, cmd)
}

func TestRenewal_TheSameStatusChangeDecidedAgainIsApplied(t *testing.T) {
	h := newHarness(t)
	h.cert("mc-again", fsm.CertActive, t0.Add(10*day), "")
	h.renewalCheck()
	require.Equal(t, fsm.CertExpiring, h.certificate("mc-again").Status)
	// Something puts it back to Active without a new expiry (a renewal that
	// gave up, say): the next check moves it again, although it is the very
	// change of the same certificate version the fsm remembers a request of.
	h.clock.Advance(time.Minute)
	h.must(&fsm.SetCertificateStatus{ID: "mc-again", Status: fsm.CertActive})
	h.renewalCheck()
	assert.Equal(t, fsm.CertExpiring, h.certificate("mc-again").Status)
	assert.Len(t, h.audit("certificate_status_changed", "mc-again"), 3)
}

func TestRenewal_ExpiredLeavesTheScanOnceItsFinalAlertIsQueued(t *testing.T) {
	h := newHarness(t)
	h.policy("policy-manual", 30, false, 30, 14, 7, 0)
	h.policy("policy-auto", 30, true, 30, 0)
	h.cert("mc-manual", fsm.CertActive, t0.Add(-day), "policy-manual")
	h.cert("mc-auto", fsm.CertActive, t0.Add(-day), "policy-auto")
	counting := &countingState{State: h.f}
	h.s.state = counting

	h.renewalCheck()
	assert.Equal(t, fsm.CertExpired, h.certificate("mc-manual").Status)
	assert.Len(t, h.notifications(fsm.NotificationFilter{CertificateID: "mc-manual"}), 4, "every threshold, the final one included")
	require.Len(t, h.jobsOf("mc-auto"), 1, "its renewal is asked for once")

	counting.visited = 0
	h.renewalCheck()
	assert.Equal(t, 1, counting.visited, "the manual one left the scan; the one still renewing stays")

	// Its renewal job finished without a new version: nothing is left to do
	// for it either.
	h.must(&fsm.CancelJob{JobID: renewalJobID("mc-auto", t0.Add(-day))})
	h.renewalCheck()
	counting.visited = 0
	h.renewalCheck()
	assert.Zero(t, counting.visited)
	for _, id := range []string{"mc-manual", "mc-auto"} {
		assert.Equal(t, fsm.CertExpired, h.certificate(id).Status, "%s stays listed as Expired", id)
	}
	assert.Len(t, h.jobsOf("mc-auto"), 1)
	assert.Len(t, h.notifications(fsm.NotificationFilter{CertificateID: "mc-manual"}), 4)

	// A new expiry (an operator's renewal recorded) brings it back.
	h.must(&fsm.RecordVersion{Version: fsmtest.Version("ver-new", "mc-manual", 77, t0, 90*day)})
	counting.visited = 0
	h.renewalCheck()
	assert.Equal(t, 1, counting.visited)
}

// TestRenewal_DisabledIssuerGetsNoJob: a certificate of a disabled issuer
// is alerted but gets no renewal job (it would fail at every check); once
// the issuer is enabled again, the next check queues it.
func TestRenewal_DisabledIssuerGetsNoJob(t *testing.T) {
	h := newHarness(t)
	h.policy("policy-4t", 30, true, 30, 14, 7, 0)
	h.cert("mc-off", fsm.CertActive, t0.Add(10*day), "policy-4t")
	iss := fsmtest.Issuer(fsmtest.IssuerID, "Local CA")
	iss.Enabled = false
	h.must(&fsm.UpdateIssuer{Issuer: iss})

	h.renewalCheck()
	assert.Empty(t, h.jobsOf("mc-off"), "no job for a disabled issuer")
	assert.NotEmpty(t, h.notifications(fsm.NotificationFilter{CertificateID: "mc-off"}), "the expiry alerts go on")

	iss.Enabled = true
	h.must(&fsm.UpdateIssuer{Issuer: iss})
	h.clock.Advance(time.Minute)
	h.renewalCheck()
	assert.Len(t, h.jobsOf("mc-off"), 1, "enabled again, it is renewed")
}
