package fsm

import (
	"github.com/certctl/certctl/api/wire"

	"slices"
	"time"
)

// The certificate lifecycle's policy, as pure functions of their inputs:
// the defaults, when a certificate renews and is alerted for, how a failed
// job is retried, when a job is finished, and whether a certificate may get
// work at all. The scheduler, the API and the compliance checks ask these,
// and the lifecycle commands (RequestRenewal, RequestDeployment,
// RequestRevocation) enforce them when applied.

// Day is the unit of the renewal policies' windows and thresholds.
const Day = 24 * time.Hour

// DefaultLifetime is the lifetime assumed for a certificate with no version
// yet: the Local CA's default validity.
const DefaultLifetime = 90 * Day

// DefaultMaxAttempts is the original's jobs.max_attempts default.
const DefaultMaxAttempts = 3

// MaxJobAttempts bounds a job's attempts, whatever its policy's retries.
const MaxJobAttempts = 100

// MaxRetryDelay caps the backoff between attempts of a job, unless the
// policy's retry interval is longer still.
const MaxRetryDelay = 24 * time.Hour

// DefaultRenewalPolicy fills the fields a new renewal policy leaves out: the
// original's column defaults (auto renew, 3 retries every 60 minutes, alerts
// at 30, 14, 7 and 0 days), the renewal window left to a third of the
// lifetime.
func DefaultRenewalPolicy() RenewalPolicy {
	return RenewalPolicy{AutoRenew: true, MaxRetries: 3, RetryIntervalMinutes: 60,
		AlertThresholdsDays: []int{30, 14, 7, 0}}
}

// EffectivePolicy is the policy governing a certificate whose renewal policy
// is p: p itself, or for none (nil) DefaultRenewalPolicy with the jobs'
// default of DefaultMaxAttempts attempts.
func EffectivePolicy(p *RenewalPolicy) RenewalPolicy {
	if p != nil {
		return *p
	}
	d := DefaultRenewalPolicy()
	d.MaxRetries = DefaultMaxAttempts - 1
	return d
}

// MaxAttempts is the attempts a job of a certificate under p gets: one plus
// the policy's retries, at most MaxJobAttempts. A nil p: no policy.
func MaxAttempts(p *RenewalPolicy) int {
	e := EffectivePolicy(p)
	return min(e.MaxRetries+1, MaxJobAttempts)
}

// RenewalWindow is how long before expiry a certificate under p renews: the
// policy's renewal_window_days, or else a third of lifetime (the current
// version's not_after − not_before), or a third of DefaultLifetime when the
// lifetime is unknown (≤ 0).
func RenewalWindow(p *RenewalPolicy, lifetime time.Duration) time.Duration {
	switch {
	case p != nil && p.RenewalWindowDays != nil:
		return time.Duration(*p.RenewalWindowDays) * Day
	case lifetime > 0:
		return lifetime / 3
	}
	return DefaultLifetime / 3
}

// RenewalDue reports whether a certificate under p with left before expiry
// (negative once expired) is due for automatic renewal: never when p does
// not renew automatically, else once left ≤ RenewalWindow.
func RenewalDue(p *RenewalPolicy, left, lifetime time.Duration) bool {
	return p.AutoRenew && left <= RenewalWindow(p, lifetime)
}

// AlertThresholds returns p's alert thresholds in days, largest first,
// without repeats.
func AlertThresholds(p *RenewalPolicy) []int {
	ts := slices.Clone(p.AlertThresholdsDays)
	slices.Sort(ts)
	ts = slices.Compact(ts)
	slices.Reverse(ts)
	return ts
}

// CrossedThresholds returns the thresholds of p (largest first) crossed with
// left before expiry: t days is crossed with t days or less left (0: expired).
func CrossedThresholds(p *RenewalPolicy, left time.Duration) []int {
	var out []int
	for _, t := range AlertThresholds(p) {
		if left <= time.Duration(t)*Day {
			out = append(out, t)
		}
	}
	return out
}

// RenewalHorizon is how far past now the renewal check must read for
// policies: their largest alert threshold and, for those that renew
// automatically, their largest renewal window, a policy without a window
// counting a third of maxLifetime.
func RenewalHorizon(policies []RenewalPolicy, maxLifetime time.Duration) time.Duration {
	var h time.Duration
	for i := range policies {
		p := &policies[i]
		for _, t := range p.AlertThresholdsDays {
			h = max(h, time.Duration(t)*Day)
		}
		if p.AutoRenew {
			h = max(h, RenewalWindow(p, maxLifetime))
		}
	}
	return h
}

// Watched reports whether the renewal check looks after a certificate in
// status st: not one never issued (Pending), Revoked or Archived.
func Watched(st wire.CertificateStatus) bool {
	switch st {
	case CertActive, CertExpiring, CertExpired, CertRenewalInProgress, CertFailed:
		return true
	}
	return false
}

// RenewalPlan is what the renewal check concludes about one certificate.
type RenewalPlan struct {
	Status  wire.CertificateStatus // the status to move to; "" keeps the current one
	Crossed []int                  // alert thresholds crossed (days), largest first
	Renew   bool                   // renewal is due and the policy renews automatically
	// Suggested: the CA's suggested window (RenewalInfoValid) decided
	// Renew instead of the policy's renewal window.
	Suggested bool
	Left      time.Duration // time left before expiry; negative once expired
}

// PlanRenewal decides, at now, what certificate c under policy p needs.
// lifetime is the current version's, or 0 when unknown.
//
//   - status: Active → Expiring inside the alert window (the largest
//     threshold); Active, Expiring, RenewalInProgress or Failed → Expired
//     once expires_at ≤ now;
//   - alerts: CrossedThresholds;
//   - renewal: RenewalDue, or, when c's CA suggested a window still in
//     force (RenewalInfoValid, RFC 9773), once now reaches RenewAt in it
//     or c has expired; the policy still says whether to renew
//     automatically at all.
//
// A certificate that is not Watched, or has no expiry, needs nothing.
func PlanRenewal(now time.Time, c *Certificate, p *RenewalPolicy, lifetime time.Duration) RenewalPlan {
	if c.ExpiresAt == nil || !Watched(c.Status) {
		return RenewalPlan{}
	}
	d := RenewalPlan{Left: c.ExpiresAt.Sub(now)}
	d.Crossed = CrossedThresholds(p, d.Left)
	thresholds := AlertThresholds(p)
	switch {
	case d.Left <= 0 && c.Status != CertExpired:
		d.Status = CertExpired
	case d.Left > 0 && c.Status == CertActive && len(thresholds) > 0 && d.Left <= time.Duration(thresholds[0])*Day:
		d.Status = CertExpiring
	}
	if RenewalInfoValid(c) {
		d.Suggested = true
		d.Renew = p.AutoRenew && (d.Left <= 0 || !now.Before(RenewAt(c.ID, c.RenewalInfo)))
		return d
	}
	d.Renew = RenewalDue(p, d.Left, lifetime)
	return d
}

// RetryDelay is the wait before the attempt after attempt number attempt
// (from 1) failed: the retry interval, in minutes as a policy stores it,
// doubled after each failed attempt, interval × 2^(attempt−1), at most
// MaxRetryDelay (or the interval itself if longer). No interval: no wait.
func RetryDelay(intervalMinutes, attempt int) time.Duration {
	base := time.Duration(intervalMinutes) * time.Minute
	if base <= 0 {
		return 0
	}
	limit := max(MaxRetryDelay, base)
	d := base
	for i := 1; i < attempt && d < limit; i++ {
		d *= 2
	}
	return min(d, limit)
}

// RetriesLeft reports whether job j may be attempted again after its current
// attempt failed.
func RetriesLeft(j *Job) bool { return j.Attempts < j.MaxAttempts }

// JobFinished reports whether a job in status st is done with: Completed,
// Failed or Cancelled. Only an unfinished job counts as open.
func JobFinished(st wire.JobStatus) bool {
	return st == JobCompleted || st == JobFailed || st == JobCancelled
}

// JobDue reports whether the job processor should claim j at now: a Pending
// Issuance or Renewal job whose time has come, or a Running one whose lease
// has run out (its holder, a former leader, is gone). Deployments are the
// agents'.
func JobDue(now time.Time, j *Job) bool {
	if j.Type != JobIssuance && j.Type != JobRenewal {
		return false
	}
	switch j.Status {
	case JobPending:
		return !j.ScheduledAt.After(now)
	case JobRunning:
		return j.LeaseExpiresAt != nil && !j.LeaseExpiresAt.After(now)
	}
	return false
}

// WorkRefusal returns why certificate c may get no work (what is the work's
// name: "renewed", "deployed", "issued"), or nil when it may: a Revoked or
// Archived certificate gets none. The refusal is CodeState.
func WorkRefusal(c *Certificate, what string) *Error {
	switch c.Status {
	case CertArchived:
		return statef("certificate", c.ID, "certificate %q is Archived and cannot be %s; create a new certificate instead", c.ID, what)
	case CertRevoked:
		return statef("certificate", c.ID, "certificate %q is Revoked and cannot be %s; create a new certificate instead", c.ID, what)
	}
	return nil
}

// MayGetWork reports whether a certificate in status st may get work.
func MayGetWork(st wire.CertificateStatus) bool { return st != CertArchived && st != CertRevoked }

// openSlot names the lifecycle slot a job of type typ holds while it is
// unfinished, "" for none: Issuance and Renewal share one, so a certificate
// has at most one of them open.
func openSlot(typ wire.JobType) wire.JobType {
	if typ == JobIssuance || typ == JobRenewal {
		return JobRenewal
	}
	return ""
}

// openRenewalRefusal is the refusal of a change that needs the certificate
// without an open renewal while job (its Issuance or Renewal job) is
// unfinished.
func openRenewalRefusal(certID string, job *Job) *Error {
	return statef("certificate", certID,
		"certificate %q has an open %s job %s (%s); wait for it to finish, or cancel it (POST /api/v1/jobs/%s/cancel)",
		certID, job.Type, job.ID, job.Status, job.ID)
}

// FinalAlertSent reports whether the renewal check has nothing more to say
// about an expired certificate: it is Expired, and every threshold of p it
// has crossed has been alerted (alerted reports that of one threshold).
func FinalAlertSent(c *Certificate, p *RenewalPolicy, now time.Time, alerted func(threshold int) bool) bool {
	if c.ExpiresAt == nil || c.Status != CertExpired || c.ExpiresAt.After(now) {
		return false
	}
	for _, t := range CrossedThresholds(p, c.ExpiresAt.Sub(now)) {
		if !alerted(t) {
			return false
		}
	}
	return true
}
