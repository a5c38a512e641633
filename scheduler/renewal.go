package scheduler

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/certctl/certctl/api/wire"
	"github.com/certctl/certctl/fsm"
)

const day = 24 * time.Hour

// DefaultLifetime is the lifetime assumed for a certificate with no version
// yet: the Local CA's default validity.
const DefaultLifetime = 90 * day

// defaultPolicy governs a certificate without a renewal policy: the
// original's column defaults (auto renew, alerts at 30, 14, 7 and 0 days,
// retries every 60 minutes), the jobs' default of 3 attempts, and the renewal
// window left to a third of the lifetime.
func defaultPolicy() fsm.RenewalPolicy {
	return fsm.RenewalPolicy{AutoRenew: true, MaxRetries: fsm.DefaultMaxAttempts - 1,
		RetryIntervalMinutes: 60, AlertThresholdsDays: []int{30, 14, 7, 0}}
}

// decision is what the renewal check concludes about one certificate.
type decision struct {
	status  wire.CertificateStatus // the status to move to; "" keeps the current one
	crossed []int                  // alert thresholds crossed (days), largest first
	renew   bool                   // renewal is due and the policy renews automatically
	left    time.Duration          // time left before expiry; negative once expired
}

// plan decides, at now, what a certificate under policy p needs. lifetime is
// the current version's (not_after − not_before), or 0 when unknown; it is
// used only when the policy has no renewal window. plan is a pure function:
// the same inputs always give the same decision.
//
//   - status: Active → Expiring inside the alert window (the largest
//     threshold); Active, Expiring, RenewalInProgress or Failed → Expired
//     once expires_at ≤ now;
//   - alerts: each threshold of t days is crossed when t days or less are
//     left (0 days: expired);
//   - renewal: due with renewal_window_days or less left, or, when the
//     policy sets no window, a third of the lifetime (90 days if unknown);
//     never when auto_renew is off.
//
// Certificates that are Pending (never issued), Revoked or Archived, or have
// no expiry, need nothing.
func plan(now time.Time, c *fsm.Certificate, p *fsm.RenewalPolicy, lifetime time.Duration) decision {
	if c.ExpiresAt == nil || !watched(c.Status) {
		return decision{}
	}
	d := decision{left: c.ExpiresAt.Sub(now)}
	thresholds := slices.Clone(p.AlertThresholdsDays)
	slices.Sort(thresholds)
	thresholds = slices.Compact(thresholds)
	slices.Reverse(thresholds)
	for _, t := range thresholds {
		if d.left <= time.Duration(t)*day {
			d.crossed = append(d.crossed, t)
		}
	}
	switch {
	case d.left <= 0 && c.Status != fsm.CertExpired:
		d.status = fsm.CertExpired
	case d.left > 0 && c.Status == fsm.CertActive && len(thresholds) > 0 && d.left <= time.Duration(thresholds[0])*day:
		d.status = fsm.CertExpiring
	}
	if p.AutoRenew {
		window := lifetime / 3
		if p.RenewalWindowDays != nil {
			window = time.Duration(*p.RenewalWindowDays) * day
		} else if lifetime <= 0 {
			window = DefaultLifetime / 3
		}
		d.renew = d.left <= window
	}
	return d
}

// watched reports whether the renewal check looks after a certificate in
// status st.
func watched(st wire.CertificateStatus) bool {
	switch st {
	case fsm.CertActive, fsm.CertExpiring, fsm.CertExpired, fsm.CertRenewalInProgress, fsm.CertFailed:
		return true
	}
	return false
}

// horizon is how far past now the renewal check reads: the largest alert
// threshold and the largest renewal window of all policies, a policy
// without a window counting a third of maxLifetime.
func horizon(policies []fsm.RenewalPolicy, maxLifetime time.Duration) time.Duration {
	var h time.Duration
	for _, p := range policies {
		for _, t := range p.AlertThresholdsDays {
			h = max(h, time.Duration(t)*day)
		}
		if !p.AutoRenew {
			continue
		}
		if p.RenewalWindowDays != nil {
			h = max(h, time.Duration(*p.RenewalWindowDays)*day)
		} else {
			h = max(h, maxLifetime/3)
		}
	}
	return h
}

// checkRenewals is the renewal check: for every certificate expiring within
// the horizon, move its status, queue the alerts of the thresholds it has
// crossed and a renewal job when one is due. It reads only the expiry index
// range of the horizon, and proposes only what the state does not already
// hold, so a run that finds nothing new costs reads alone.
func (s *Scheduler) checkRenewals(ctx context.Context) error {
	now := s.cfg.Now()
	policies, err := s.policies()
	if err != nil {
		return err
	}
	all := []fsm.RenewalPolicy{defaultPolicy()}
	for _, p := range policies {
		all = append(all, p)
	}
	var certs []fsm.Certificate
	// Collect, then act: proposing inside the read transaction would hold
	// it open across raft round trips.
	err = s.state.CertificatesExpiringBefore(now.Add(horizon(all, s.cfg.MaxLifetime)), func(c *fsm.Certificate) bool {
		if watched(c.Status) {
			certs = append(certs, *c)
		}
		return ctx.Err() == nil
	})
	if err != nil {
		return err
	}
	r := renewalRun{s: s, now: now, policies: policies, emails: map[string]string{}}
	for i := range certs {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := r.check(ctx, &certs[i]); err != nil {
			return err
		}
	}
	if r.jobs > 0 {
		s.Nudge()
	}
	if r.changed+r.alerts+r.jobs > 0 {
		s.log.Info("renewal check", "certificates", len(certs), "status_changes", r.changed, "alerts", r.alerts, "renewal_jobs", r.jobs)
	}
	return nil
}

// policies returns every renewal policy by id.
func (s *Scheduler) policies() (map[string]fsm.RenewalPolicy, error) {
	out := map[string]fsm.RenewalPolicy{}
	for page := 1; ; page++ {
		l, err := s.state.RenewalPolicies(fsm.Page{Page: page, PerPage: fsm.MaxPerPage})
		if err != nil {
			return nil, err
		}
		for _, p := range l.Items {
			out[p.ID] = p
		}
		if len(l.Items) < fsm.MaxPerPage {
			return out, nil
		}
	}
}

// renewalRun is one pass of the renewal check: its clock, the policies and
// owners' addresses it has read, and what it did.
type renewalRun struct {
	s        *Scheduler
	now      time.Time
	policies map[string]fsm.RenewalPolicy
	emails   map[string]string // owner id → e-mail

	changed, alerts, jobs int
}

func (r *renewalRun) policy(c *fsm.Certificate) fsm.RenewalPolicy {
	if p, ok := r.policies[c.RenewalPolicyID]; ok && c.RenewalPolicyID != "" {
		return p
	}
	return defaultPolicy()
}

func (r *renewalRun) check(ctx context.Context, c *fsm.Certificate) error {
	s := r.s
	p := r.policy(c)
	var lifetime time.Duration
	if p.AutoRenew && p.RenewalWindowDays == nil {
		v, err := s.state.LatestCertificateVersion(c.ID)
		switch {
		case err == nil:
			lifetime = v.NotAfter.Sub(v.NotBefore)
		case !errors.Is(err, fsm.ErrNotFound):
			return err
		}
	}
	d := plan(r.now, c, &p, lifetime)
	if d.status != "" {
		reason := ""
		if c.Status == fsm.CertFailed {
			reason = c.StatusReason // an expired certificate keeps why its renewal failed
		}
		err := s.propose(ctx, r.now, statusRequest(c, d.status),
			&fsm.SetCertificateStatus{ID: c.ID, Status: d.status, From: c.Status, Reason: reason})
		switch {
		case err == nil:
			r.changed++
		case rejected(err):
			s.log.Debug("certificate status changed meanwhile", "certificate", c.ID, "err", err)
		default:
			return err
		}
	}

	if err := r.alert(ctx, c, &p, d); err != nil {
		return err
	}
	if d.renew {
		return r.queueRenewal(ctx, c, p)
	}
	return nil
}

// alert queues the alerts of the thresholds c has crossed and not yet been
// alerted for. The dedup keys make the fsm skip any it has seen; asking
// first keeps a quiet run free of raft entries.
func (r *renewalRun) alert(ctx context.Context, c *fsm.Certificate, p *fsm.RenewalPolicy, d decision) error {
	s := r.s
	exp := *c.ExpiresAt
	var notes []fsm.Notification
	var names []string
	for _, t := range d.crossed {
		email, err := r.ownerEmail(c.OwnerID)
		if err != nil {
			return err
		}
		queued := false
		for _, n := range notificationsFor(p, wire.NotificationExpirationWarning, expiryAlertKey(c.ID, t, exp), email, func() fsm.Notification {
			return fsm.Notification{CertificateID: c.ID, Message: expiryMessage(c, t, d.left)}
		}) {
			seen, err := s.state.NotificationKeySeen(n.DedupKey)
			if err != nil {
				return err
			}
			if !seen {
				notes, queued = append(notes, n), true
			}
		}
		if queued {
			names = append(names, strconv.Itoa(t))
		}
	}
	if len(notes) == 0 {
		return nil
	}
	err := s.propose(ctx, r.now, expiryRequest(c.ID, exp, "alerts/"+strings.Join(names, ",")),
		&fsm.CreateNotifications{Notifications: notes})
	switch {
	case err == nil:
		r.alerts += len(notes)
	case rejected(err):
		s.log.Debug("alerts not queued", "certificate", c.ID, "err", err)
	default:
		return err
	}
	return nil
}

func expiryMessage(c *fsm.Certificate, threshold int, left time.Duration) string {
	on := c.ExpiresAt.UTC().Format(time.RFC3339)
	if left <= 0 {
		return fmt.Sprintf("Certificate %s (%s) expired on %s.", c.Name, c.CommonName, on)
	}
	days := int(left / day)
	return fmt.Sprintf("Certificate %s (%s) expires on %s, in %d day(s) (%d-day alert).", c.Name, c.CommonName, on, days, threshold)
}

// ownerEmail returns the e-mail of owner id, "" when there is none.
func (r *renewalRun) ownerEmail(id string) (string, error) {
	if e, ok := r.emails[id]; ok {
		return e, nil
	}
	o, err := r.s.state.Owner(id)
	switch {
	case err == nil:
		r.emails[id] = o.Email
	case errors.Is(err, fsm.ErrNotFound):
		r.emails[id] = ""
	default:
		return "", err
	}
	return r.emails[id], nil
}

// queueRenewal creates the renewal job of c's current expiry, unless an
// Issuance or Renewal job for c is unfinished or that job already exists
// (finished: a certificate whose automatic renewal failed for good waits for
// an operator, POST /renew, instead of hammering its CA every hour).
func (r *renewalRun) queueRenewal(ctx context.Context, c *fsm.Certificate, p fsm.RenewalPolicy) error {
	s := r.s
	exp := *c.ExpiresAt
	id := renewalJobID(c.ID, exp)
	busy, err := s.hasJob(c.ID, id)
	if err != nil || busy {
		return err
	}
	job := fsm.Job{ID: id, Type: fsm.JobRenewal, CertificateID: c.ID, Status: fsm.JobPending,
		MaxAttempts: min(p.MaxRetries+1, 100)}
	err = s.propose(ctx, r.now, expiryRequest(c.ID, exp, "job"), &fsm.CreateJobs{Jobs: []fsm.Job{job}})
	switch {
	case err == nil:
		r.jobs++
		s.log.Info("renewal job queued", "certificate", c.ID, "job", id, "expires_at", exp)
	case rejected(err):
		s.log.Debug("renewal job not queued", "certificate", c.ID, "err", err)
	default:
		return err
	}
	return nil
}

// hasJob reports whether certificate certID has an unfinished Issuance or
// Renewal job, or a job with id.
func (s *Scheduler) hasJob(certID, id string) (bool, error) {
	for page := 1; ; page++ {
		l, err := s.state.Jobs(fsm.JobFilter{CertificateID: certID}, fsm.Page{Page: page, PerPage: fsm.MaxPerPage})
		if err != nil {
			return false, err
		}
		for _, j := range l.Items {
			if j.ID == id || (j.Type == fsm.JobIssuance || j.Type == fsm.JobRenewal) && !finished(j.Status) {
				return true, nil
			}
		}
		if len(l.Items) < fsm.MaxPerPage {
			return false, nil
		}
	}
}

func finished(status wire.JobStatus) bool {
	return status == fsm.JobCompleted || status == fsm.JobFailed || status == fsm.JobCancelled
}
