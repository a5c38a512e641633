package scheduler

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/certctl/certctl/fsm"
	"github.com/certctl/certctl/fsm/fsmtest"
)

func (h *harness) processJobs() {
	h.t.Helper()
	require.NoError(h.t, h.s.processJobs(context.Background()))
}

// renewalJob queues a Renewal job for a certificate under fsmtest's policy
// (3 retries every 60 minutes), as the renewal check would.
func (h *harness) renewalJob(id string) {
	h.t.Helper()
	h.cert("mc-job", fsm.CertExpiring, h.clock.Now().Add(10*day), fsmtest.RenewalPolicyID)
	j := fsm.Job{ID: id, Type: fsm.JobRenewal, CertificateID: "mc-job", MaxAttempts: 4}
	h.must(&fsm.CreateJobs{Jobs: []fsm.Job{j}})
}

func TestJobs_FailingIssuanceRetriesWithBackoffThenFails(t *testing.T) {
	iss := &issuance{fn: func(context.Context, fsm.Job, fsm.Certificate) error {
		return errors.New("CA unreachable:\x00 connection refused")
	}}
	h := newHarness(t, func(c *Config) { c.Issuance = iss })
	h.renewalJob("job-r")

	// Attempts 1, 2 and 3 fail and are retried 60, 120 and 240 minutes on.
	for attempt, wait := range []time.Duration{60 * time.Minute, 120 * time.Minute, 240 * time.Minute} {
		failedAt := h.clock.Now()
		h.processJobs()
		j := h.job("job-r")
		require.Equal(t, fsm.JobPending, j.Status, "after attempt %d", attempt+1)
		assert.Equal(t, attempt+1, j.Attempts)
		assert.Equal(t, failedAt.Add(wait), j.ScheduledAt, "retry_at after attempt %d", attempt+1)
		assert.Equal(t, "CA unreachable:  connection refused", j.LastError)
		assert.Empty(t, j.LeaseHolder)

		h.clock.Advance(wait - time.Second)
		h.processJobs() // not due yet
		assert.Len(t, iss.Calls(), attempt+1)
		h.clock.Advance(time.Second)
	}

	// Attempt 4 of 4 fails: the job and the certificate are Failed.
	h.processJobs()
	j := h.job("job-r")
	assert.Equal(t, fsm.JobFailed, j.Status)
	assert.Equal(t, 4, j.Attempts)
	assert.NotNil(t, j.CompletedAt)
	c := h.certificate("mc-job")
	assert.Equal(t, fsm.CertFailed, c.Status)
	assert.Equal(t, "renewal failed after 4 attempt(s): CA unreachable:  connection refused", c.StatusReason)
	alerts := h.notifications(fsm.NotificationFilter{Type: "RenewalFailure"})
	require.Len(t, alerts, 1)
	assert.Equal(t, "mc-job", alerts[0].CertificateID)
	assert.Equal(t, "owner-1@example.com", alerts[0].Recipient)

	calls := iss.Calls()
	require.Len(t, calls, 4)
	for i, call := range calls {
		assert.Equal(t, i+1, call.Attempts, "Issue sees the attempt number")
		assert.Equal(t, "scheduler/n1", call.LeaseHolder)
	}
	h.clock.Advance(24 * time.Hour)
	h.processJobs()
	assert.Len(t, iss.Calls(), 4, "a failed job is never picked up again")
}

func TestJobs_SuccessCompletes(t *testing.T) {
	iss := &issuance{}
	h := newHarness(t, func(c *Config) { c.Issuance = iss })
	h.renewalJob("job-ok")
	h.must(&fsm.CreateJobs{Jobs: []fsm.Job{fsmtest.DeploymentJob("job-deploy")}})
	h.processJobs()
	j := h.job("job-ok")
	assert.Equal(t, fsm.JobCompleted, j.Status)
	assert.Equal(t, 1, j.Attempts)
	assert.Empty(t, j.LeaseHolder)
	require.Len(t, iss.Calls(), 1)
	assert.Equal(t, "mc-job", iss.Calls()[0].CertificateID)
	assert.Equal(t, fsm.JobPending, h.job("job-deploy").Status, "deployments are the agents' work")

	h.processJobs()
	assert.Len(t, iss.Calls(), 1)
}

func TestJobs_ExpiredLeaseOfAFormerLeaderIsTakenOver(t *testing.T) {
	iss := &issuance{}
	h := newHarness(t, func(c *Config) { c.Issuance = iss })
	h.renewalJob("job-lost")
	// The former leader claimed it and died.
	h.must(&fsm.ClaimJob{JobID: "job-lost", Holder: "scheduler/old-leader", LeaseUntil: h.clock.Now().Add(5 * time.Minute)})

	h.clock.Advance(4 * time.Minute)
	h.processJobs()
	assert.Empty(t, iss.Calls(), "the lease still holds")
	assert.Equal(t, "scheduler/old-leader", h.job("job-lost").LeaseHolder)

	h.clock.Advance(time.Minute)
	h.processJobs()
	require.Len(t, iss.Calls(), 1)
	call := iss.Calls()[0]
	assert.Equal(t, "scheduler/n1", call.LeaseHolder)
	assert.Equal(t, 2, call.Attempts, "the lost attempt counts")
	assert.Equal(t, fsm.JobCompleted, h.job("job-lost").Status)
	claims := h.audit("job_claimed", "job-lost")
	require.Len(t, claims, 2)
	assert.Contains(t, string(claims[1].Details), `"holder":"scheduler/n1"`)
	assert.Equal(t, "scheduler/n1", claims[1].Actor)
}

func TestJobs_NoIssuerLeavesJobsPending(t *testing.T) {
	h := newHarness(t) // no Issuance
	h.renewalJob("job-waiting")
	h.must(&fsm.CreateJobs{Jobs: []fsm.Job{fsmtest.Job("job-orphan", fsm.JobIssuance)}})
	h.must(&fsm.ClaimJob{JobID: "job-orphan", Holder: "scheduler/old-leader", LeaseUntil: h.clock.Now().Add(time.Minute)})
	h.clock.Advance(2 * time.Minute)

	h.processJobs()
	// The orphan of a former leader is handed back; nothing else is touched.
	orphan := h.job("job-orphan")
	assert.Equal(t, fsm.JobPending, orphan.Status)
	assert.Equal(t, 1, orphan.Attempts, "the former leader's attempt counts, the hand-back's not")
	assert.Empty(t, orphan.LeaseHolder)
	before := h.prop.proposals()
	for range 10 {
		h.processJobs()
	}
	assert.Equal(t, before, h.prop.proposals(), "no claim and release every pass")
	assert.Equal(t, fsm.JobPending, h.job("job-waiting").Status)
	assert.Empty(t, h.audit("job_claimed", "job-waiting"))
}

func TestJobs_IssueThatMovesTheJobOnIsNotCompleted(t *testing.T) {
	h := newHarness(t)
	iss := &issuance{fn: func(ctx context.Context, job fsm.Job, cert fsm.Certificate) error {
		// Agent-side keys: the job waits for the agent's CSR.
		h.must(&fsm.AwaitCSR{JobID: job.ID, Holder: job.LeaseHolder})
		return nil
	}}
	h.s.cfg.Issuance = iss
	h.renewalJob("job-csr")
	h.processJobs()
	assert.Equal(t, fsm.JobAwaitingCSR, h.job("job-csr").Status)
	h.processJobs()
	assert.Len(t, iss.Calls(), 1)
}

func TestJobs_ArchivedCertificateFailsItsJobWithoutRetry(t *testing.T) {
	iss := &issuance{}
	h := newHarness(t, func(c *Config) { c.Issuance = iss })
	h.renewalJob("job-archived")
	h.must(&fsm.ArchiveCertificate{ID: "mc-job"})
	h.processJobs()
	j := h.job("job-archived")
	assert.Equal(t, fsm.JobFailed, j.Status)
	assert.Equal(t, `certificate "mc-job" is Archived and cannot be renewed; create a new certificate instead`, j.LastError)
	assert.Empty(t, iss.Calls())
	assert.Equal(t, fsm.CertArchived, h.certificate("mc-job").Status)
}

func TestJobs_LeaseIsKeptWhileTheWorkRuns(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.LeaseDuration = 1200 * time.Millisecond })
	h.s.cfg.Issuance = &issuance{fn: func(ctx context.Context, job fsm.Job, cert fsm.Certificate) error {
		claimed := *job.LeaseExpiresAt
		h.clock.Advance(time.Second) // the work takes a while
		waitFor(t, "the lease to be extended", func() bool {
			j, err := h.f.Job(job.ID)
			return err == nil && j.LeaseExpiresAt != nil && j.LeaseExpiresAt.After(claimed)
		})
		return nil
	}}
	h.renewalJob("job-slow")
	h.processJobs()
	assert.Equal(t, fsm.JobCompleted, h.job("job-slow").Status)
	assert.GreaterOrEqual(t, h.prop.count(fsm.CommandClaimJob), 2, "a claim, then extensions")
}

func TestJobs_LostLeaseStopsTheWork(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.LeaseDuration = 1200 * time.Millisecond })
	h.s.cfg.Issuance = &issuance{fn: func(ctx context.Context, job fsm.Job, cert fsm.Certificate) error {
		// Stalled past the lease: another holder takes the job over.
		h.clock.Advance(2 * time.Second)
		h.must(&fsm.ClaimJob{JobID: job.ID, Holder: "scheduler/n2", LeaseUntil: h.clock.Now().Add(time.Hour)})
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(10 * time.Second):
			return errors.New("the work was not stopped")
		}
	}}
	h.renewalJob("job-stolen")
	h.processJobs()
	j := h.job("job-stolen")
	assert.Equal(t, fsm.JobRunning, j.Status, "left to its new holder")
	assert.Equal(t, "scheduler/n2", j.LeaseHolder)
	assert.Equal(t, 2, j.Attempts)
}

func TestJobs_PanickingIssuanceCountsAsAFailedAttempt(t *testing.T) {
	h := newHarness(t, func(c *Config) {
		c.Issuance = &issuance{fn: func(context.Context, fsm.Job, fsm.Certificate) error { panic("connector bug") }}
		c.Logger = slog.New(slog.DiscardHandler)
	})
	h.renewalJob("job-panic")
	h.processJobs()
	j := h.job("job-panic")
	assert.Equal(t, fsm.JobPending, j.Status)
	assert.Equal(t, 1, j.Attempts)
	assert.Equal(t, "scheduler: issuance panicked: connector bug", j.LastError)
}

// TestJobs_WorkersRunAtOnce: due jobs are worked JobWorkers at once, each
// completed under its own lease.
func TestJobs_WorkersRunAtOnce(t *testing.T) {
	var mu sync.Mutex
	active, most := 0, 0
	iss := &issuance{fn: func(ctx context.Context, job fsm.Job, cert fsm.Certificate) error {
		mu.Lock()
		active++
		most = max(most, active)
		mu.Unlock()
		deadline := time.Now().Add(2 * time.Second)
		for time.Now().Before(deadline) {
			mu.Lock()
			enough := most >= 3
			mu.Unlock()
			if enough {
				break
			}
			time.Sleep(time.Millisecond)
		}
		mu.Lock()
		active--
		mu.Unlock()
		return nil
	}}
	h := newHarness(t, func(c *Config) { c.Issuance, c.JobWorkers = iss, 3 })
	h.renewalJob("job-0")
	for i := 1; i < 6; i++ {
		h.must(&fsm.CreateJobs{Jobs: []fsm.Job{{ID: fmt.Sprint("job-", i), Type: fsm.JobRenewal, CertificateID: "mc-job", MaxAttempts: 4}}})
	}
	h.processJobs()
	assert.Equal(t, 3, most, "three workers at once, never more")
	assert.Len(t, iss.Calls(), 6)
	for i := range 6 {
		assert.Equal(t, fsm.JobCompleted, h.job(fmt.Sprint("job-", i)).Status)
	}
}
