package scheduler

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/certctl/certctl/api/wire"
	"github.com/certctl/certctl/connectors/issuer"
	"github.com/certctl/certctl/fsm"
)

// finishTimeout bounds the proposals that close an attempt after ctx has
// ended (leadership lost mid-work): they go to the next leader.
const finishTimeout = 5 * time.Second

// processJobs is the job processor: it claims the due Issuance and Renewal
// jobs, oldest first, and works them through Issuance, JobWorkers at once.
// Deployment jobs are the agents'.
func (s *Scheduler) processJobs(ctx context.Context) error {
	now := s.cfg.Now()
	var jobs []fsm.Job
	for _, st := range []wire.JobStatus{fsm.JobPending, fsm.JobRunning} {
		for page := 1; ; page++ {
			l, err := s.state.Jobs(fsm.JobFilter{Status: st}, fsm.Page{Page: page, PerPage: fsm.MaxPerPage})
			if err != nil {
				return err
			}
			for _, j := range l.Items {
				if fsm.JobDue(now, &j) {
					jobs = append(jobs, j)
				}
			}
			if len(l.Items) < fsm.MaxPerPage {
				break
			}
		}
	}
	if len(jobs) == 0 {
		return nil
	}
	slices.SortFunc(jobs, func(a, b fsm.Job) int {
		return cmp.Or(a.ScheduledAt.Compare(b.ScheduledAt), strings.Compare(a.ID, b.ID))
	})
	if s.cfg.Issuance == nil {
		s.noIssuer.Do(func() {
			s.log.Warn("no issuer connector is wired: issuance and renewal jobs stay Pending", "due", len(jobs))
		})
		return s.handBack(ctx, jobs)
	}
	return s.workAll(ctx, jobs)
}

// workAll works jobs, oldest first, up to JobWorkers at once. The first
// error stops the pass: jobs not started yet wait for the next one, and
// those in progress are handed back as on a lost leadership.
func (s *Scheduler) workAll(ctx context.Context, jobs []fsm.Job) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	slots := make(chan struct{}, s.cfg.JobWorkers)
	var wg sync.WaitGroup
	for _, j := range jobs {
		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		wg.Go(func() {
			defer func() { <-slots }()
			if err := s.work(ctx, j); err != nil {
				cancel(err)
			}
		})
	}
	wg.Wait()
	if err := context.Cause(ctx); err != nil {
		return err
	}
	return nil
}

// handBack returns to Pending the Running jobs whose holder is gone, with
// no issuer to work them: claimed, then released, so they show Pending
// instead of Running under a dead lease. Pending jobs are left alone (a claim
// and release every pass would change nothing but fill the audit trail).
func (s *Scheduler) handBack(ctx context.Context, jobs []fsm.Job) error {
	for _, j := range jobs {
		if j.Status != fsm.JobRunning {
			continue
		}
		job, ok, err := s.claim(ctx, j)
		if err != nil || !ok {
			return err
		}
		if err := s.release(ctx, job); err != nil {
			return err
		}
	}
	return nil
}

// claim leases j to this scheduler. ok is false when someone else holds it
// or it moved on meanwhile; the job returned is the claimed one.
func (s *Scheduler) claim(ctx context.Context, j fsm.Job) (*fsm.Job, bool, error) {
	now := s.cfg.Now()
	err := s.propose(ctx, now, claimRequest(j.ID, now, "claim"),
		&fsm.ClaimJob{JobID: j.ID, Holder: s.holder, LeaseUntil: now.Add(s.cfg.LeaseDuration)})
	switch {
	case errors.Is(err, fsm.ErrLeaseHeld):
		s.log.Debug("job leased to another holder", "job", j.ID, "err", err)
		return nil, false, nil
	case rejected(err):
		s.log.Debug("job moved on meanwhile", "job", j.ID, "err", err)
		return nil, false, nil
	case err != nil:
		return nil, false, err
	}
	job, err := s.state.Job(j.ID)
	if err != nil {
		return nil, false, err
	}
	return job, true, nil
}

// release hands a claimed job back to Pending without counting an attempt.
func (s *Scheduler) release(ctx context.Context, job *fsm.Job) error {
	ctx, cancel := finishing(ctx)
	defer cancel()
	err := s.propose(ctx, s.cfg.Now(), jobRequest(job.ID, started(job), "release"),
		&fsm.ReleaseLease{JobID: job.ID, Holder: s.holder})
	if rejected(err) {
		s.log.Debug("lease already gone", "job", job.ID, "err", err)
		return nil
	}
	return err
}

// work claims j, hands it to Issuance while keeping its lease, and records
// the outcome: Completed, a retry with backoff, or Failed for good with the
// certificate Failed too.
func (s *Scheduler) work(ctx context.Context, j fsm.Job) error {
	job, ok, err := s.claim(ctx, j)
	if err != nil || !ok {
		return err
	}
	cert, err := s.state.Certificate(job.CertificateID)
	switch {
	case rejected(err):
		return s.fail(ctx, job, nil, fsm.RenewalPolicy{}, err.Error(), false)
	case err != nil:
		return err
	case !fsm.MayGetWork(cert.Status):
		return s.fail(ctx, job, nil, fsm.RenewalPolicy{}, fsm.WorkRefusal(cert, "renewed").Message, false)
	}
	policy, err := s.policyOf(cert)
	if err != nil {
		return err
	}
	// A certificate that breaks a policy rule of severity Error never
	// reaches an issuer: the job fails for good naming the rule (a retry
	// would be refused the same way until someone changes the certificate
	// or the rule, and then renews it).
	switch err := s.state.CheckPolicies(cert.ID); {
	case errors.Is(err, fsm.ErrPolicy):
		return s.fail(ctx, job, cert, policy, err.Error(), false)
	case err != nil:
		return err
	}

	ictx, lost := context.WithCancel(ctx)
	var keeper sync.WaitGroup
	keeper.Go(func() { s.keepLease(ictx, job.ID, lost) })
	ierr := s.issue(ictx, job, cert)
	lost()
	keeper.Wait()

	switch {
	case ierr == nil:
		return s.complete(ctx, job)
	case ctx.Err() != nil:
		// Leadership ended mid-work: not the job's fault. Hand it back;
		// should that fail, the lease runs out and the next leader takes it.
		return s.release(ctx, job)
	default:
		// A policy refusal (a rule created while the job ran) is final too,
		// as is an issuer refusing the request itself (a name or lifetime its
		// config does not allow): the same request would be refused again.
		retry := !errors.Is(ierr, fsm.ErrPolicy) && !errors.Is(ierr, issuer.ErrInvalidRequest)
		// A CA that said when to come back (ACME rateLimited, Retry-After)
		// is not asked again before.
		var caErr *issuer.CAError
		if errors.As(ierr, &caErr) && caErr.RetryAfter > 0 {
			p := policy
			p.RetryIntervalMinutes = max(p.RetryIntervalMinutes, int((caErr.RetryAfter+time.Minute-1)/time.Minute))
			return s.fail(ctx, job, cert, p, ierr.Error(), retry)
		}
		return s.fail(ctx, job, cert, policy, ierr.Error(), retry)
	}
}

// issue calls Issuance, turning a panic into a failed attempt: a job whose
// work panics must use up its attempts and fail, not stay Running forever.
func (s *Scheduler) issue(ctx context.Context, job *fsm.Job, cert *fsm.Certificate) (err error) {
	defer func() {
		if r := recover(); r != nil {
			s.log.Error("issuance panicked", "job", job.ID, "panic", r, "stack", string(debug.Stack()))
			err = fmt.Errorf("scheduler: issuance panicked: %v", r)
		}
	}()
	return s.cfg.Issuance.Issue(ctx, *job, *cert)
}

// policyOf returns the renewal policy governing cert (fsm.EffectivePolicy).
func (s *Scheduler) policyOf(cert *fsm.Certificate) (fsm.RenewalPolicy, error) {
	if cert.RenewalPolicyID == "" {
		return fsm.EffectivePolicy(nil), nil
	}
	p, err := s.state.RenewalPolicy(cert.RenewalPolicyID)
	switch {
	case errors.Is(err, fsm.ErrNotFound):
		return fsm.EffectivePolicy(nil), nil
	case err != nil:
		return fsm.RenewalPolicy{}, err
	}
	return *p, nil
}

// keepLease extends the lease on job every third of LeaseDuration until ctx
// ends; if the lease turns out lost, it calls lost so the work stops.
func (s *Scheduler) keepLease(ctx context.Context, jobID string, lost context.CancelFunc) {
	t := time.NewTicker(s.cfg.LeaseDuration / 3)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		now := s.cfg.Now()
		err := s.propose(ctx, now, claimRequest(jobID, now, "extend"),
			&fsm.ClaimJob{JobID: jobID, Holder: s.holder, LeaseUntil: now.Add(s.cfg.LeaseDuration)})
		switch {
		case err == nil, ctx.Err() != nil:
		case rejected(err):
			s.log.Warn("job lease lost; stopping its work", "job", jobID, "err", err)
			lost()
			return
		default:
			s.log.Warn("job lease not extended; retrying", "job", jobID, "err", err)
		}
	}
}

// complete marks job Completed, unless Issue already moved it on (parked it
// for an agent's CSR, for instance).
func (s *Scheduler) complete(ctx context.Context, job *fsm.Job) error {
	ctx, cancel := finishing(ctx)
	defer cancel()
	cur, err := s.state.Job(job.ID)
	if err != nil {
		return err
	}
	if cur.Status != fsm.JobRunning || cur.LeaseHolder != s.holder {
		s.log.Info("job moved on by its work", "job", job.ID, "status", cur.Status)
		return nil
	}
	err = s.propose(ctx, s.cfg.Now(), jobRequest(job.ID, started(job), "complete"),
		&fsm.CompleteJob{JobID: job.ID, Holder: s.holder})
	switch {
	case err == nil:
		s.log.Info("job completed", "job", job.ID, "type", job.Type, "certificate", job.CertificateID, "attempt", job.Attempts)
	case rejected(err):
		s.log.Warn("job finished, but its lease was lost", "job", job.ID, "err", err)
	default:
		return err
	}
	return nil
}

// fail records a failed attempt of job: with retry, a retry at now +
// backoff while attempts remain; else Failed for good, with the certificate
// (cert, if known) Failed with the reason and its owner alerted.
func (s *Scheduler) fail(ctx context.Context, job *fsm.Job, cert *fsm.Certificate, p fsm.RenewalPolicy, reason string, retry bool) error {
	ctx, cancel := finishing(ctx)
	defer cancel()
	now := s.cfg.Now()
	reason = fsm.CleanText(reason, 2048)
	final := !retry || cert == nil || !fsm.RetriesLeft(job)
	cmd := &fsm.FailJob{JobID: job.ID, Holder: s.holder, Error: reason}
	if !final {
		at := now.Add(fsm.RetryDelay(p.RetryIntervalMinutes, job.Attempts))
		cmd.RetryAt = &at
	}
	err := s.propose(ctx, now, jobRequest(job.ID, started(job), "fail"), cmd)
	switch {
	case rejected(err):
		s.log.Warn("job failed, but its lease was lost", "job", job.ID, "err", err)
		return nil
	case err != nil:
		return err
	case !final:
		s.log.Info("job attempt failed; retry scheduled", "job", job.ID, "attempt", job.Attempts,
			"max_attempts", job.MaxAttempts, "retry_at", *cmd.RetryAt, "err", reason)
		return nil
	}
	s.log.Warn("job failed for good", "job", job.ID, "attempts", job.Attempts, "err", reason)
	if cert == nil {
		return nil
	}
	return s.certificateFailed(ctx, now, job, cert, reason)
}

// certificateFailed marks cert Failed after its job failed for good, and
// alerts its owner once.
func (s *Scheduler) certificateFailed(ctx context.Context, now time.Time, job *fsm.Job, cert *fsm.Certificate, reason string) error {
	what := "renewal"
	if job.Type == fsm.JobIssuance {
		what = "issuance"
	}
	why := fsm.CleanText(fmt.Sprintf("%s failed after %d attempt(s): %s", what, job.Attempts, reason), 4096)
	cur, err := s.state.Certificate(cert.ID)
	if err != nil {
		return err
	}
	if fsm.MayGetWork(cur.Status) {
		err = s.propose(ctx, now, jobRequest(job.ID, started(job), "certificate-failed"),
			&fsm.SetCertificateStatus{ID: cur.ID, Status: fsm.CertFailed, From: cur.Status, Reason: why})
		switch {
		case rejected(err):
			s.log.Debug("certificate status changed meanwhile", "certificate", cur.ID, "err", err)
		case err != nil:
			return err
		}
	}
	key := renewalFailedKey(cert.ID, job.ID)
	email := ""
	if o, err := s.state.Owner(cert.OwnerID); err == nil {
		email = o.Email
	} else if !errors.Is(err, fsm.ErrNotFound) {
		return err
	}
	var policy *fsm.RenewalPolicy
	if cert.RenewalPolicyID != "" {
		if policy, err = s.state.RenewalPolicy(cert.RenewalPolicyID); err != nil && !errors.Is(err, fsm.ErrNotFound) {
			return err
		}
	}
	notes := notificationsFor(policy, wire.NotificationRenewalFailure, key, email, func() fsm.Notification {
		return fsm.Notification{CertificateID: cert.ID, Message: fmt.Sprintf("Certificate %s (%s): %s", cert.Name, cert.CommonName, why)}
	})
	err = s.propose(ctx, now, jobRequest(job.ID, started(job), "alert"), &fsm.CreateNotifications{Notifications: notes})
	if rejected(err) {
		s.log.Debug("failure alert not queued", "certificate", cert.ID, "err", err)
		return nil
	}
	return err
}

// started is when the current attempt of a claimed job began.
func started(job *fsm.Job) time.Time {
	if job.StartedAt != nil {
		return *job.StartedAt
	}
	return time.Time{}
}

// finishing returns ctx, or once ctx has ended a context detached from it
// for at most finishTimeout: the outcome of work done must still be recorded.
func finishing(ctx context.Context) (context.Context, context.CancelFunc) {
	if ctx.Err() == nil {
		return ctx, func() {}
	}
	return context.WithTimeout(context.WithoutCancel(ctx), finishTimeout)
}
