package scheduler

import (
	"context"
	"encoding/pem"
	"errors"
	"time"

	"github.com/certctl/certctl/api/wire"
	"github.com/certctl/certctl/connectors/issuer"
	"github.com/certctl/certctl/fsm"
)

// The renewal-information loop: for the certificates of issuers whose CA
// suggests renewal windows (ACME Renewal Information, RFC 9773), fetch the
// window and record it (fsm.SetRenewalInfo), where the renewal check's
// rule (fsm.PlanRenewal) finds it. It runs apart from the renewal check,
// so a slow or unreachable CA never holds up renewals and alerts.

// RenewalInformer is implemented by an Issuance that can ask a
// certificate's CA for its suggested renewal window (issuance.Service).
// certPEM is the certificate's current leaf. An error matching
// issuer.ErrNoRenewalInfo says the issuer offers none.
type RenewalInformer interface {
	RenewalInfo(ctx context.Context, cert fsm.Certificate, certPEM string) (*issuer.RenewalInfo, error)
}

const (
	// DefaultRenewalInfoSpec schedules the renewal-information loop.
	DefaultRenewalInfoSpec = "@every 1h"
	// renewalInfoTimeout bounds one request to a CA.
	renewalInfoTimeout = 30 * time.Second
	// renewalInfoPerPass bounds the requests of one pass; the next pass
	// goes on with the rest.
	renewalInfoPerPass = 500
	// The CA's Retry-After is honoured within these bounds (RFC 9773 §4.3
	// asks clients to clamp it); a CA that gives none is asked again after
	// defaultRetryAfter.
	minRetryAfter     = time.Minute
	maxRetryAfter     = 24 * time.Hour
	defaultRetryAfter = 6 * time.Hour
)

// RenewalInfoRefetch is when a certificate's renewal information is next
// fetched: at once when none is recorded for its current certificate,
// else at the recorded retry_after.
func RenewalInfoRefetch(c *fsm.Certificate) time.Time {
	ri := c.RenewalInfo
	if ri == nil || c.ExpiresAt == nil || !ri.ExpiresAt.Equal(*c.ExpiresAt) {
		return time.Time{}
	}
	return ri.RetryAfter
}

// RetryAfterClamped is the time to ask again after a fetch at now whose
// answer said to wait d (0: nothing said).
func RetryAfterClamped(now time.Time, d time.Duration) time.Time {
	if d <= 0 {
		d = defaultRetryAfter
	}
	return now.Add(min(max(d, minRetryAfter), maxRetryAfter))
}

// refreshRenewalInfo is one pass of the renewal-information loop. An
// issuer that offers no renewal information, or whose CA fails, is left
// for this pass after its first certificate. A window that opens by now
// starts the renewal check.
func (s *Scheduler) refreshRenewalInfo(ctx context.Context) error {
	ask, ok := s.cfg.Issuance.(RenewalInformer)
	if !ok {
		return nil
	}
	now := s.cfg.Now()
	var issuers []fsm.Issuer
	for page := 1; ; page++ {
		l, err := s.state.Issuers(fsm.Page{Page: page, PerPage: fsm.MaxPerPage})
		if err != nil {
			return err
		}
		issuers = append(issuers, l.Items...)
		if len(l.Items) < fsm.MaxPerPage {
			break
		}
	}
	fetched, recorded, due := 0, 0, false
	for _, iss := range issuers {
		if !iss.Enabled {
			continue
		}
		var certs []fsm.Certificate
		for page := 1; ; page++ {
			l, err := s.state.Certificates(fsm.CertificateFilter{IssuerID: iss.ID}, fsm.Page{Page: page, PerPage: fsm.MaxPerPage})
			if err != nil {
				return err
			}
			for _, c := range l.Items {
				if c.ExpiresAt != nil && fsm.Watched(c.Status) && c.ExpiresAt.After(now) && !now.Before(RenewalInfoRefetch(&c)) {
					certs = append(certs, c)
				}
			}
			if len(l.Items) < fsm.MaxPerPage {
				break
			}
		}
		for i := range certs {
			if fetched >= renewalInfoPerPass {
				break
			}
			if err := ctx.Err(); err != nil {
				return err
			}
			c := &certs[i]
			fetched++
			info, err := s.fetchRenewalInfo(ctx, ask, c, now)
			if errors.Is(err, issuer.ErrNoRenewalInfo) {
				s.log.Debug("no renewal information from the issuer", "issuer", iss.ID)
				break
			}
			if err != nil {
				s.log.Warn("renewal information not fetched; the issuer's other certificates wait for the next pass",
					"issuer", iss.ID, "certificate", c.ID, "err", err)
				break
			}
			if info == nil {
				continue
			}
			err = s.propose(ctx, now, "renewal-info/"+c.ID+"/"+now.UTC().Format(time.RFC3339Nano),
				&fsm.SetRenewalInfo{CertificateID: c.ID, Info: *info})
			switch {
			case err == nil:
				recorded++
				c.RenewalInfo = info
				if fsm.RenewalInfoValid(c) && !now.Before(fsm.RenewAt(c.ID, info)) {
					due = true
				}
			case rejected(err):
				s.log.Debug("renewal information not recorded", "certificate", c.ID, "err", err)
			default:
				return err
			}
		}
	}
	if recorded > 0 {
		s.log.Info("renewal information", "fetched", fetched, "recorded", recorded, "window_open", due)
	}
	if due {
		s.renewal.run(ctx)
	}
	return nil
}

// fetchRenewalInfo asks c's CA about its current certificate, within
// renewalInfoTimeout. nil, nil: c has no certificate to ask about.
func (s *Scheduler) fetchRenewalInfo(ctx context.Context, ask RenewalInformer, c *fsm.Certificate, now time.Time) (*wire.RenewalInfo, error) {
	v, err := s.state.LatestCertificateVersion(c.ID)
	if errors.Is(err, fsm.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if !v.NotAfter.Equal(*c.ExpiresAt) {
		return nil, nil // the record's expiry is not its latest version's (imported): nothing to ask
	}
	block, _ := pem.Decode([]byte(v.PEMChain))
	if block == nil {
		return nil, nil
	}
	ctx, cancel := context.WithTimeout(ctx, renewalInfoTimeout)
	defer cancel()
	ri, err := ask.RenewalInfo(ctx, *c, string(pem.EncodeToMemory(block)))
	if err != nil {
		return nil, err
	}
	return &wire.RenewalInfo{WindowStart: ri.WindowStart.UTC(), WindowEnd: ri.WindowEnd.UTC(),
		ExplanationURL: ri.ExplanationURL, RetryAfter: RetryAfterClamped(now, ri.RetryAfter).UTC(),
		FetchedAt: now.UTC(), ExpiresAt: *c.ExpiresAt}, nil
}
