package scheduler

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/certctl/certctl/api/wire"
	"github.com/certctl/certctl/fsm"
)

const day = fsm.Day

// checkRenewals is the renewal check: for every certificate it watches
// expiring within the horizon (fsm.RenewalHorizon), or whose CA's suggested
// renewal window has opened (fsm.CertificatesRenewalInfoDue), move its status, queue
// the alerts of the thresholds it has crossed and ask for a renewal when
// one is due (fsm.PlanRenewal), and end the watch of an expired one once
// nothing is left to do for it. It reads only the horizon's range of the
// renewal check's index, and proposes only what the state does not already
// hold, so a run that finds nothing new costs reads alone.
func (s *Scheduler) checkRenewals(ctx context.Context) error {
	now := s.cfg.Now()
	policies, err := s.policies()
	if err != nil {
		return err
	}
	all := []fsm.RenewalPolicy{fsm.EffectivePolicy(nil)}
	for _, p := range policies {
		all = append(all, p)
	}
	var certs []fsm.Certificate
	// Collect, then act: proposing inside the read transaction would hold
	// it open across raft round trips.
	err = s.state.CertificatesInRenewalScan(now.Add(fsm.RenewalHorizon(all, s.cfg.MaxLifetime)), func(c *fsm.Certificate) bool {
		certs = append(certs, *c)
		return ctx.Err() == nil
	})
	if err != nil {
		return err
	}
	// And those whose CA's suggested window has opened, however far off
	// their expiry (fsm.RenewalInfoValid).
	seen := make(map[string]bool, len(certs))
	for i := range certs {
		seen[certs[i].ID] = true
	}
	err = s.state.CertificatesRenewalInfoDue(now.Add(time.Nanosecond), func(c *fsm.Certificate) bool {
		if !seen[c.ID] {
			certs = append(certs, *c)
		}
		return ctx.Err() == nil
	})
	if err != nil {
		return err
	}
	r := renewalRun{s: s, now: now, policies: policies, emails: map[string]string{}, disabled: map[string]bool{}}
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
	if r.changed+r.alerts+r.jobs+r.ended > 0 {
		s.log.Info("renewal check", "certificates", len(certs), "status_changes", r.changed, "alerts", r.alerts,
			"renewal_jobs", r.jobs, "expired_left", r.ended)
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
	disabled map[string]bool   // issuer id → disabled, as read this run

	changed, alerts, jobs, ended int
}

func (r *renewalRun) policy(c *fsm.Certificate) fsm.RenewalPolicy {
	if p, ok := r.policies[c.RenewalPolicyID]; ok && c.RenewalPolicyID != "" {
		return p
	}
	return fsm.EffectivePolicy(nil)
}

// issuerDisabled reports whether issuer id exists and is disabled.
func (r *renewalRun) issuerDisabled(id string) bool {
	if d, ok := r.disabled[id]; ok {
		return d
	}
	iss, err := r.s.state.Issuer(id)
	r.disabled[id] = err == nil && !iss.Enabled
	return r.disabled[id]
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
	d := fsm.PlanRenewal(r.now, c, &p, lifetime)
	if d.Status != "" {
		reason := ""
		if c.Status == fsm.CertFailed {
			reason = c.StatusReason // an expired certificate keeps why its renewal failed
		}
		err := s.propose(ctx, r.now, statusRequest(c, d.Status),
			&fsm.SetCertificateStatus{ID: c.ID, Status: d.Status, From: c.Status, Reason: reason})
		switch {
		case err == nil:
			r.changed++
			c.Status = d.Status
		case rejected(err):
			s.log.Debug("certificate status changed meanwhile", "certificate", c.ID, "err", err)
		default:
			return err
		}
	}

	if err := r.alert(ctx, c, &p, d); err != nil {
		return err
	}
	if d.Renew && r.issuerDisabled(c.IssuerID) {
		// A disabled issuer issues nothing: no job is queued for it, to
		// fail and be queued again at every check. The expiry alerts go
		// on; a renewal asked for by hand fails once, saying so.
		s.log.Debug("renewal due, but the issuer is disabled", "certificate", c.ID, "issuer", c.IssuerID)
		d.Renew = false
	}
	if d.Renew {
		if err := r.queueRenewal(ctx, c); err != nil {
			return err
		}
	}
	return r.endWatch(ctx, c, &p, d)
}

// endWatch takes an expired certificate out of the renewal check once the
// check has nothing left to do for it: it is Expired, every alert it has
// crossed is queued (its final one, 0 days, included) and no renewal of it
// is open or still to be asked for. It stays listed as Expired; a new
// expiry brings it back.
func (r *renewalRun) endWatch(ctx context.Context, c *fsm.Certificate, p *fsm.RenewalPolicy, d fsm.RenewalPlan) error {
	s := r.s
	var err error
	alerted := func(t int) bool {
		seen := true
		for _, n := range notificationsFor(p, "ExpirationWarning", expiryAlertKey(c.ID, t, *c.ExpiresAt), "", func() fsm.Notification { return fsm.Notification{} }) {
			ok, e := s.state.NotificationKeySeen(n.DedupKey)
			if e != nil {
				err = e
			}
			seen = seen && ok
		}
		return seen
	}
	if !fsm.FinalAlertSent(c, p, r.now, alerted) || err != nil {
		return err
	}
	if d.Renew {
		// Asked for once per expiry: done with once that job has finished.
		j, err := s.state.Job(renewalJobID(c.ID, *c.ExpiresAt))
		switch {
		case errors.Is(err, fsm.ErrNotFound):
			return nil
		case err != nil:
			return err
		case !fsm.JobFinished(j.Status):
			return nil
		}
	}
	if open, err := s.state.OpenRenewalJob(c.ID); err != nil || open != nil {
		return err
	}
	err = s.propose(ctx, r.now, expiryRequest(c.ID, *c.ExpiresAt, "end-watch"),
		&fsm.EndExpiryWatch{CertificateID: c.ID, ExpiresAt: *c.ExpiresAt})
	switch {
	case err == nil:
		r.ended++
	case rejected(err):
		s.log.Debug("expiry watch not ended", "certificate", c.ID, "err", err)
	default:
		return err
	}
	return nil
}

// alert queues the alerts of the thresholds c has crossed and not yet been
// alerted for. The dedup keys make the fsm skip any it has seen; asking
// first keeps a quiet run free of raft entries.
func (r *renewalRun) alert(ctx context.Context, c *fsm.Certificate, p *fsm.RenewalPolicy, d fsm.RenewalPlan) error {
	s := r.s
	exp := *c.ExpiresAt
	var notes []fsm.Notification
	var names []string
	for _, t := range d.Crossed {
		email, err := r.ownerEmail(c.OwnerID)
		if err != nil {
			return err
		}
		queued := false
		for _, n := range notificationsFor(p, wire.NotificationExpirationWarning, expiryAlertKey(c.ID, t, exp), email, func() fsm.Notification {
			return fsm.Notification{CertificateID: c.ID, Message: expiryMessage(c, t, d.Left)}
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

// queueRenewal asks for the renewal of c's current expiry (its job id names
// the expiry, so it is asked for once: a certificate whose automatic
// renewal failed for good waits for an operator, POST /renew, instead of
// hammering its CA every hour). The state machine refuses it while an
// Issuance or Renewal job of c is open; asking the state first keeps a quiet
// run free of raft entries.
func (r *renewalRun) queueRenewal(ctx context.Context, c *fsm.Certificate) error {
	s := r.s
	exp := *c.ExpiresAt
	id := renewalJobID(c.ID, exp)
	if open, err := s.state.OpenRenewalJob(c.ID); err != nil || open != nil {
		return err
	}
	switch _, err := s.state.Job(id); {
	case err == nil:
		return nil
	case !errors.Is(err, fsm.ErrNotFound):
		return err
	}
	err := s.propose(ctx, r.now, expiryRequest(c.ID, exp, "job"), &fsm.RequestRenewal{CertificateID: c.ID, JobID: id})
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
