package fsm

import (
	"bytes"
	"encoding/json"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/certctl/certctl/api/wire"
)

// Risk is one of the overview's questions about a certificate. The same
// walk (atRisk) answers the overview's count and the certificate list
// filtered by it, so a tile and the list it links to always agree.
type Risk string

// The risks, each defined at now (the reader's clock):
//
//   - expiring_30d, expiring_7d: not Archived or Revoked, expires_at in
//     (now, now + 30 or 7 days];
//   - expired: not Archived or Revoked, expires_at ≤ now;
//   - renewal_overdue: status Active, Expiring, RenewalInProgress or Failed,
//     expires_at > now, past its renewal point (RenewalWindow of its renewal
//     policy and current version's lifetime before expires_at, whether or not
//     the policy renews automatically), and no Issuance or Renewal job open;
//   - renewal_failed: status Failed;
//   - revoked: status Revoked;
//   - weak_keys: not Archived or Revoked, and its current version's key is
//     weak (CertificateVersion.DescribeKey).
const (
	RiskExpiring30d    Risk = "expiring_30d"
	RiskExpiring7d     Risk = "expiring_7d"
	RiskExpired        Risk = "expired"
	RiskRenewalOverdue Risk = "renewal_overdue"
	RiskRenewalFailed  Risk = "renewal_failed"
	RiskRevoked        Risk = "revoked"
	RiskWeakKeys       Risk = "weak_keys"
)

// Risks are the values of Risk.
var Risks = Enum[Risk]{RiskExpiring30d, RiskExpiring7d, RiskExpired, RiskRenewalOverdue, RiskRenewalFailed, RiskRevoked, RiskWeakKeys}

// DefaultStatsMaxLifetime is the longest lifetime renewal_overdue assumes
// when its reader gives none: the renewal check's default (the CA/Browser
// Forum ceiling), so both read the same range of the renewal index.
const DefaultStatsMaxLifetime = 398 * Day

// countWeak is the counter of certificates at risk weak_keys.
const countWeak = "weak"

// weakAtRisk reports whether c counts under weak_keys.
func weakAtRisk(c *Certificate) bool { return c.WeakKey && MayGetWork(c.Status) }

// RiskClock is what a risk is judged against: the reader's now, and the
// longest certificate lifetime the renewal check considers (0: the
// default, DefaultStatsMaxLifetime).
type RiskClock struct {
	Now         time.Time
	MaxLifetime time.Duration
}

func (rc RiskClock) maxLifetime() time.Duration {
	if rc.MaxLifetime > 0 {
		return rc.MaxLifetime
	}
	return DefaultStatsMaxLifetime
}

// inUse reports whether the certificate id is neither Archived nor Revoked,
// from the status index alone.
func inUse(tx *bolt.Tx, id []byte) bool {
	stat := tx.Bucket(bucketCertStat)
	for _, st := range []wire.CertificateStatus{CertArchived, CertRevoked} {
		if stat.Get(compound(string(st), string(id))) != nil {
			return false
		}
	}
	return true
}

// atRisk calls visit with the id of each certificate at risk r, in the
// order of the index it walks (expiry for the expiry risks, id otherwise).
// visit returning false stops. It decodes records only where the index
// cannot answer: renewal_overdue (the certificates inside the renewal
// horizon). weak_keys walks idx_certificates_weak (its count is a counter,
// see riskCount).
func atRisk(tx *bolt.Tx, r Risk, rc RiskClock, visit func(id []byte) bool) error {
	now := rc.Now
	switch r {
	case RiskExpiring30d, RiskExpiring7d:
		days := 30
		if r == RiskExpiring7d {
			days = 7
		}
		expiryWalk(tx, now, now.Add(time.Duration(days)*Day), func(_ time.Time, id []byte) bool { return visit(id) })
		return nil
	case RiskExpired:
		c := tx.Bucket(bucketCertExp).Cursor()
		end := timeKey(now)
		for k, _ := c.First(); k != nil && bytes.Compare(k[:8], end) <= 0; k, _ = c.Next() {
			if inUse(tx, k[8:]) && !visit(k[8:]) {
				return nil
			}
		}
		return nil
	case RiskRenewalFailed, RiskRevoked:
		st := CertFailed
		if r == RiskRevoked {
			st = CertRevoked
		}
		pfx := prefix(string(st))
		c := tx.Bucket(bucketCertStat).Cursor()
		for k, _ := c.Seek(pfx); k != nil && bytes.HasPrefix(k, pfx); k, _ = c.Next() {
			if !visit(k[len(pfx):]) {
				return nil
			}
		}
		return nil
	case RiskWeakKeys:
		c := tx.Bucket(bucketCertWeak).Cursor()
		for k, _ := c.First(); k != nil; k, _ = c.Next() {
			if !visit(k) {
				return nil
			}
		}
		return nil
	case RiskRenewalOverdue:
		return overdueWalk(tx, rc, visit)
	}
	return invalidf("risk", "risk %q is not one of %s", r, joinRisks())
}

func joinRisks() string {
	out := ""
	for i, r := range Risks {
		if i > 0 {
			out += ", "
		}
		out += string(r)
	}
	return out
}

// expiryWalk calls fn for each certificate neither Archived nor Revoked
// whose expiry is in (from, to], soonest first.
func expiryWalk(tx *bolt.Tx, from, to time.Time, fn func(exp time.Time, id []byte) bool) {
	c := tx.Bucket(bucketCertExp).Cursor()
	end := timeKey(to)
	for k, _ := c.Seek(timeKey(from.Add(time.Nanosecond))); k != nil && bytes.Compare(k[:8], end) <= 0; k, _ = c.Next() {
		if inUse(tx, k[8:]) && !fn(time.Unix(0, int64(readU64(k[:8]))), k[8:]) {
			return
		}
	}
}

// overdueWalk walks the renewal check's index from now to the furthest
// renewal point any policy can have (its window at the longest lifetime),
// and visits the certificates past their own.
func overdueWalk(tx *bolt.Tx, rc RiskClock, visit func(id []byte) bool) error {
	policies := map[string]RenewalPolicy{}
	all := []RenewalPolicy{EffectivePolicy(nil)}
	err := tx.Bucket(bucketRenewalPolicies).ForEach(func(k, v []byte) error {
		var p RenewalPolicy
		if err := unmarshalStored(v, &p); err != nil {
			return unreadable(k, err)
		}
		policies[p.ID] = p
		all = append(all, p)
		return nil
	})
	if err != nil {
		return err
	}
	horizon := time.Duration(0)
	for i := range all {
		horizon = max(horizon, RenewalWindow(&all[i], rc.maxLifetime()))
	}
	now := rc.Now
	certs, open := tx.Bucket(bucketCertificates), tx.Bucket(bucketOpenJobs)
	c := tx.Bucket(bucketRenewalScan).Cursor()
	end := timeKey(now.Add(horizon))
	for k, _ := c.Seek(timeKey(now.Add(time.Nanosecond))); k != nil && bytes.Compare(k[:8], end) <= 0; k, _ = c.Next() {
		id := k[8:]
		if hasPrefixKey(open, prefix(string(id), string(JobRenewal))) {
			continue
		}
		// Only what the rule reads, without the record's lists and tags.
		var cert struct {
			Status          wire.CertificateStatus `json:"status"`
			ExpiresAt       *time.Time             `json:"expires_at"`
			RenewalPolicyID string                 `json:"renewal_policy_id"`
		}
		raw := certs.Get(id)
		if raw == nil {
			continue
		}
		if err := json.Unmarshal(raw, &cert); err != nil {
			return unreadable(id, err)
		}
		if cert.Status == CertExpired || cert.ExpiresAt == nil {
			continue
		}
		p := EffectivePolicy(nil)
		if rp, ok := policies[cert.RenewalPolicyID]; ok && cert.RenewalPolicyID != "" {
			p = rp
		}
		var lifetime time.Duration
		if p.RenewalWindowDays == nil {
			if lifetime, err = currentLifetime(tx, string(id)); err != nil {
				return err
			}
		}
		if cert.ExpiresAt.Sub(now) <= RenewalWindow(&p, lifetime) && !visit(id) {
			return nil
		}
	}
	return nil
}

// hasPrefixKey reports whether b holds a key starting with pfx.
func hasPrefixKey(b *bolt.Bucket, pfx []byte) bool {
	k, _ := b.Cursor().Seek(pfx)
	return k != nil && bytes.HasPrefix(k, pfx)
}

// currentLifetime is the lifetime (not_after − not_before) of the version
// recorded last for certID, 0 for none: what the renewal check reads.
func currentLifetime(tx *bolt.Tx, certID string) (time.Duration, error) {
	pfx := prefix(certID)
	c := tx.Bucket(bucketVerByCert).Cursor()
	k, _ := c.Seek(prefixEnd(pfx))
	if k == nil {
		k, _ = c.Last()
	} else {
		k, _ = c.Prev()
	}
	if k == nil || !bytes.HasPrefix(k, pfx) {
		return 0, nil
	}
	var v struct {
		NotBefore time.Time `json:"not_before"`
		NotAfter  time.Time `json:"not_after"`
	}
	found, err := getJSON(tx.Bucket(bucketVersions), k[len(pfx)+8:], &v)
	if err != nil || !found {
		return 0, err
	}
	return v.NotAfter.Sub(v.NotBefore), nil
}

// riskCount is the number of certificates at risk r: a counter where one
// is kept (renewal_failed, revoked, weak_keys), else the walk's length.
func riskCount(tx *bolt.Tx, r Risk, rc RiskClock) (int, error) {
	switch r {
	case RiskRenewalFailed:
		return readCount(tx, string(bucketCertificates), "status", string(CertFailed)), nil
	case RiskRevoked:
		return readCount(tx, string(bucketCertificates), "status", string(CertRevoked)), nil
	case RiskWeakKeys:
		return readCount(tx, string(bucketCertificates), countWeak), nil
	}
	n := 0
	err := atRisk(tx, r, rc, func([]byte) bool { n++; return true })
	return n, err
}

// riskCertificates pages the certificates at risk flt.Risk that match the
// rest of flt, in the walk's order or sorted by field.
func riskCertificates(tx *bolt.Tx, flt CertificateFilter, field string, desc bool, p Page) (List[Certificate], error) {
	rest := flt
	rest.Risk, rest.Sort, rest.Clock = "", "", RiskClock{}
	match := rest.predicate()
	certs := tx.Bucket(bucketCertificates)
	pg := newPager[Certificate](p)
	var all []Certificate
	var derr error
	if field == "" && rest == (CertificateFilter{}) {
		// Nothing else to match: count the walk, decode the page only.
		err := atRisk(tx, flt.Risk, flt.Clock, func(id []byte) bool {
			if !pg.wants() {
				return true
			}
			var c Certificate
			found, err := getJSON(certs, id, &c)
			if err != nil {
				derr = err
				return false
			}
			if found {
				pg.add(c)
			}
			return true
		})
		if err == nil {
			err = derr
		}
		return List[Certificate]{Items: pg.items, Total: pg.seen}, err
	}
	err := atRisk(tx, flt.Risk, flt.Clock, func(id []byte) bool {
		var c Certificate
		found, err := getJSON(certs, id, &c)
		if err != nil {
			derr = err
			return false
		}
		if !found || !match(&c) {
			return true
		}
		if field != "" {
			all = append(all, c)
		} else if pg.wants() {
			pg.add(c)
		}
		return true
	})
	if err == nil {
		err = derr
	}
	if err != nil {
		return List[Certificate]{}, err
	}
	if field != "" {
		return sortPage(all, field, desc, p), nil
	}
	return List[Certificate]{Items: pg.items, Total: pg.seen}, nil
}
