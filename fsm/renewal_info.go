package fsm

import (
	"hash/fnv"
	"time"

	"github.com/certctl/certctl/api/wire"
)

// maxExplanationURL bounds a RenewalInfo's explanation URL.
const maxExplanationURL = 2048

// RenewalInfoValid reports whether the renewal window c's CA suggested
// (ACME Renewal Information, RFC 9773) governs c's renewal: one is recorded,
// for the certificate c holds now (its expiry), well formed (its end after
// its start) and opening before that certificate expires. Otherwise the
// renewal policy decides.
func RenewalInfoValid(c *Certificate) bool {
	ri := c.RenewalInfo
	return ri != nil && c.ExpiresAt != nil && ri.ExpiresAt.Equal(*c.ExpiresAt) &&
		ri.WindowEnd.After(ri.WindowStart) && ri.WindowStart.Before(*c.ExpiresAt)
}

// RenewAt is the time inside ri's window at which certificate id renews:
// a point fixed by the id (RFC 9773 §4.2 asks clients to spread their
// renewals over the window; a hash of the id spreads them as a random
// choice would, and every replica and every run picks the same point).
func RenewAt(id string, ri *wire.RenewalInfo) time.Time {
	span := ri.WindowEnd.Sub(ri.WindowStart)
	if span <= 0 {
		return ri.WindowStart
	}
	h := fnv.New64a()
	h.Write([]byte(id))
	return ri.WindowStart.Add(time.Duration(h.Sum64() % uint64(span)))
}

// putRenewalInfo keeps the renewal-window index in step with a certificate
// written over old (nil for a new one): it lists a certificate the renewal
// check watches whose recorded window is valid, at RenewAt.
func (s certStore) putRenewalInfo(old, c *Certificate) {
	b := s.t.bucket(bucketRenewalInfo)
	if old != nil && RenewalInfoValid(old) {
		must(b.Delete(timeIDKey(RenewAt(old.ID, old.RenewalInfo), old.ID)))
	}
	if RenewalInfoValid(c) && inRenewalScan(s.t.bucket(bucketScanEnded), c) {
		must(b.Put(timeIDKey(RenewAt(c.ID, c.RenewalInfo), c.ID), nil))
	}
}

// SetRenewalInfo records the renewal window a certificate's CA suggested
// for its current certificate, and when to ask again. The scheduler
// fetches it before proposing; Apply only checks that it describes the
// certificate the record holds (a renewal since makes it moot).
type SetRenewalInfo struct {
	CertificateID string           `json:"certificate_id"`
	Info          wire.RenewalInfo `json:"renewal_info"`
}

func (SetRenewalInfo) CommandType() CommandType { return CommandSetRenewalInfo }

func (p *SetRenewalInfo) Validate() error {
	if err := ValidID("certificate_id", p.CertificateID); err != nil {
		return err
	}
	ri := &p.Info
	switch {
	case ri.WindowStart.IsZero() || ri.WindowEnd.IsZero():
		return invalidf("renewal_info.window_start", "renewal_info.window_start and window_end are required: a suggested window has both")
	case !ri.WindowEnd.After(ri.WindowStart):
		return invalidf("renewal_info.window_end", "renewal_info.window_end must be after window_start (RFC 9773 §4.2)")
	case ri.FetchedAt.IsZero() || ri.RetryAfter.IsZero():
		return invalidf("renewal_info.fetched_at", "renewal_info.fetched_at and retry_after are required: when it was fetched and when to ask again")
	case ri.ExpiresAt.IsZero():
		return invalidf("renewal_info.expires_at", "renewal_info.expires_at is required: the expiry of the certificate the window is for")
	}
	return ValidText("renewal_info.explanation_url", ri.ExplanationURL, maxExplanationURL, false)
}

func (p *SetRenewalInfo) apply(t *txn) (any, error) {
	s := certStore{t}
	old, err := s.get(p.CertificateID)
	if err != nil {
		return nil, err
	}
	switch {
	case old.Status == CertArchived || old.Status == CertRevoked:
		return nil, statef("certificate", old.ID, "certificate %q is %s: it renews no more", old.ID, old.Status)
	case old.ExpiresAt == nil || !old.ExpiresAt.Equal(p.Info.ExpiresAt):
		return nil, statef("certificate", old.ID, "certificate %q no longer expires at %s: the renewal information is for a certificate it replaced",
			old.ID, p.Info.ExpiresAt.UTC().Format(time.RFC3339))
	}
	c := *old
	ri := p.Info
	c.RenewalInfo, c.UpdatedAt = &ri, t.now()
	s.put(old, &c)
	t.audit("certificate_renewal_info_set", "certificate", c.ID, map[string]any{
		"window_start": ri.WindowStart, "window_end": ri.WindowEnd, "retry_after": ri.RetryAfter,
		"explanation_url": ri.ExplanationURL})
	return nil, nil
}

// CertificatesRenewalInfoDue calls fn for each certificate the renewal
// check watches whose CA's suggested window (RenewalInfoValid) has its
// RenewAt before t, soonest first: those whose expiry alone would not put
// them in the check's horizon. fn returning false stops.
func (f *FSM) CertificatesRenewalInfoDue(t time.Time, fn func(*Certificate) bool) error {
	return f.certificatesByTimeIndex(bucketRenewalInfo, t, fn)
}
