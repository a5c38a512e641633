package fsm

import (
	"bytes"
	"cmp"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/certctl/certctl/api/wire"
)

// The dashboard's read-only queries. Each reads one transaction, answers
// from counters and index keys where it can, and takes its clock from the
// caller (the state machine has none).

// StatsSummary counts what the overview shows at rc (see wire.StatsSummary
// and Risk for the definitions). Certificates are counted from counters
// and index keys; only renewal_overdue decodes the certificates inside the
// renewal horizon. Agents (not retired) are decoded to count versions and
// operating systems.
func (f *FSM) StatsSummary(rc RiskClock) (wire.StatsSummary, error) {
	var out wire.StatsSummary
	err := f.view(func(tx *bolt.Tx) error {
		cs := &out.Certificates
		cs.ByStatus = map[string]int{}
		for _, st := range CertificateStatuses {
			if n := readCount(tx, string(bucketCertificates), "status", string(st)); n > 0 {
				cs.ByStatus[string(st)] = n
				if st != CertArchived {
					cs.Total += n
				}
			}
		}
		for _, r := range []struct {
			risk Risk
			dst  *int
		}{{RiskExpiring30d, &cs.Expiring30d}, {RiskExpiring7d, &cs.Expiring7d}, {RiskExpired, &cs.Expired},
			{RiskRenewalOverdue, &cs.RenewalOverdue}, {RiskRenewalFailed, &cs.RenewalFailed}, {RiskRevoked, &cs.Revoked},
			{RiskWeakKeys, &cs.WeakKeys}} {
			n, err := riskCount(tx, r.risk, rc)
			if err != nil {
				return err
			}
			*r.dst = n
		}

		as := &out.Agents
		as.ByStatus, as.ByVersion, as.ByOS = map[string]int{}, map[string]int{}, map[string]int{}
		err := tx.Bucket(bucketAgents).ForEach(func(k, v []byte) error {
			var a Agent
			if err := unmarshalStored(v, &a); err != nil {
				return unreadable(k, err)
			}
			if a.RetiredAt != nil {
				return nil
			}
			as.Total++
			as.ByStatus[string(a.Status)]++
			as.ByVersion[a.Version]++
			as.ByOS[a.OS]++
			return nil
		})
		if err != nil {
			return err
		}

		js := &out.Jobs
		js.ByStatus, js.ByType = map[string]int{}, map[string]int{}
		for _, st := range JobStatuses {
			if n := readCount(tx, string(bucketJobs), "status", string(st)); n > 0 {
				js.ByStatus[string(st)] = n
			}
			for _, typ := range JobTypes {
				if n := readCount(tx, jobTypeCountParts(st, typ)...); n > 0 {
					js.ByType[string(typ)] += n
				}
			}
		}

		out.Notifications = wire.NotificationStats{
			Failed:  readCount(tx, string(bucketNotifications), "status", string(NotifyFailed)),
			Dead:    readCount(tx, string(bucketNotifications), "status", string(NotifyDead)),
			Pending: readCount(tx, string(bucketNotifications), "status", string(NotifyPending)),
		}
		return nil
	})
	out.TotalCertificates, out.ExpiringCertificates, out.ExpiredCertificates = out.Certificates.Total, out.Certificates.Expiring30d, out.Certificates.Expired
	out.ActiveAgents, out.PendingJobs = out.Agents.ByStatus[string(AgentOnline)], out.Jobs.ByStatus[string(JobPending)]
	out.GeneratedAt = rc.Now.UTC()
	return out, err
}

// eachJob calls fn with each job in status st; fn returning false stops.
func eachJob(tx *bolt.Tx, st wire.JobStatus, fn func(*Job) bool) error {
	pfx := prefix(string(st))
	jobs := tx.Bucket(bucketJobs)
	c := tx.Bucket(bucketJobStat).Cursor()
	for k, _ := c.Seek(pfx); k != nil && bytes.HasPrefix(k, pfx); k, _ = c.Next() {
		var j Job
		found, err := getJSON(jobs, k[len(pfx):], &j)
		if err != nil {
			return err
		}
		if found && !fn(&j) {
			return nil
		}
	}
	return nil
}

// ExpirationTimeline counts the certificates neither Archived nor Revoked
// expiring in each bucket of size after now, over days: bucket i holds the
// expiries in (now + i·size, now + (i+1)·size], the last one cut at
// now + days. It reads the expiry index's keys only.
func (f *FSM) ExpirationTimeline(now time.Time, days int, size time.Duration) ([]wire.ExpirationBucket, error) {
	end := now.Add(time.Duration(days) * Day)
	var out []wire.ExpirationBucket
	for start := now; start.Before(end); start = start.Add(size) {
		out = append(out, wire.ExpirationBucket{Start: start.UTC(), End: minTime(start.Add(size), end).UTC()})
	}
	err := f.view(func(tx *bolt.Tx) error {
		expiryWalk(tx, now, end, func(exp time.Time, _ []byte) bool {
			i := int((exp.Sub(now) - 1) / size)
			if i >= 0 && i < len(out) {
				out[i].Count++
			}
			return true
		})
		return nil
	})
	return out, err
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// dayRange returns the UTC dates of the days days up to now's, oldest
// first, and the start of the first.
func dayRange(now time.Time, days int) ([]string, time.Time) {
	today := now.UTC().Truncate(Day)
	first := today.Add(-time.Duration(days-1) * Day)
	out := make([]string, days)
	for i := range out {
		out[i] = first.Add(time.Duration(i) * Day).Format(time.DateOnly)
	}
	return out, first
}

// JobTrends counts the jobs Completed and Failed on each UTC day of the
// days up to now's, by type. It decodes the finished jobs of those two
// statuses.
func (f *FSM) JobTrends(now time.Time, days int) ([]wire.JobTrendDay, error) {
	dates, first := dayRange(now, days)
	out := make([]wire.JobTrendDay, days)
	for i := range out {
		out[i] = wire.JobTrendDay{Date: dates[i], ByType: map[string]wire.JobTrendCounts{}}
	}
	err := f.view(func(tx *bolt.Tx) error {
		for _, st := range []wire.JobStatus{JobCompleted, JobFailed} {
			err := eachJob(tx, st, func(j *Job) bool {
				if j.CompletedAt == nil || j.CompletedAt.Before(first) {
					return true
				}
				i := int(j.CompletedAt.Sub(first) / Day)
				if i >= days {
					return true
				}
				d := &out[i]
				c := d.ByType[string(j.Type)]
				if st == JobCompleted {
					d.Completed++
					c.Completed++
				} else {
					d.Failed++
					c.Failed++
				}
				d.ByType[string(j.Type)] = c
				return true
			})
			if err != nil {
				return err
			}
		}
		return nil
	})
	return out, err
}

// IssuanceRate counts the certificate versions recorded on each UTC day of
// the days up to now's, from the keys of the versions-by-certificate index
// (certificate id, NUL, recording time, version id): no version is decoded.
func (f *FSM) IssuanceRate(now time.Time, days int) ([]wire.IssuanceDay, error) {
	dates, first := dayRange(now, days)
	out := make([]wire.IssuanceDay, days)
	for i := range out {
		out[i].Date = dates[i]
	}
	err := f.view(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketVerByCert).ForEach(func(k, _ []byte) error {
			i := bytes.IndexByte(k, sep)
			if i < 0 || len(k) < i+9 {
				return nil
			}
			at := time.Unix(0, int64(readU64(k[i+1:i+9])))
			if at.Before(first) {
				return nil
			}
			if d := int(at.Sub(first) / Day); d < days {
				out[d].Count++
			}
			return nil
		})
	})
	return out, err
}

// AgentCount is the number of agents (not retired) of one status and
// version.
type AgentCount struct {
	Status  wire.AgentStatus
	Version string
	N       int
}

// AgentCounts counts the agents not retired by status and version, in
// status then version order. It decodes every agent.
func (f *FSM) AgentCounts() ([]AgentCount, error) {
	n := map[[2]string]int{}
	err := f.view(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketAgents).ForEach(func(k, v []byte) error {
			var a Agent
			if err := unmarshalStored(v, &a); err != nil {
				return unreadable(k, err)
			}
			if a.RetiredAt == nil {
				n[[2]string{string(a.Status), a.Version}]++
			}
			return nil
		})
	})
	out := make([]AgentCount, 0, len(n))
	for k, c := range n {
		out = append(out, AgentCount{Status: wire.AgentStatus(k[0]), Version: k[1], N: c})
	}
	slices.SortFunc(out, func(a, b AgentCount) int {
		return cmp.Or(cmp.Compare(a.Status, b.Status), cmp.Compare(a.Version, b.Version))
	})
	return out, err
}

// NotificationCounts returns the number of notifications of each status,
// from counters.
func (f *FSM) NotificationCounts() (map[wire.NotificationStatus]int, error) {
	out := map[wire.NotificationStatus]int{}
	err := f.view(func(tx *bolt.Tx) error {
		for _, st := range NotificationStatus {
			out[st] = readCount(tx, string(bucketNotifications), "status", string(st))
		}
		return nil
	})
	return out, err
}
