package fsm

import (
	"bytes"
	"cmp"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/certctl/certctl/api/wire"
)

// AwaitingCSRGrace is how long a job may wait for its agent's CSR before
// the needs-attention queue lists it.
const AwaitingCSRGrace = 5 * time.Minute

// Attention lists what needs an operator at now, newest problem first, at
// most limit items, with the number there are:
//
//   - renewal_failed: a certificate Failed, or one (not Archived or Revoked,
//     with no Issuance or Renewal job open, not renewed since) whose last
//     failed Issuance or Renewal job is its newest; retry: renew;
//   - deployment_failed: the newest failed Deployment job of a certificate
//     and target, unless the certificate was deployed since or cannot get
//     work; retry: deploy to that target;
//   - awaiting_csr: a job AwaitingCSR for longer than AwaitingCSRGrace;
//   - awaiting_agent: a Pending Deployment job whose agent is Offline;
//   - notification_dead: a Dead notification (its attempts are spent, it is
//     never retried by itself); retry: the notification's retry;
//   - agent_offline: an agent Offline and not retired.
func (f *FSM) Attention(now time.Time, limit int) (wire.Attention, error) {
	var items []wire.AttentionItem
	err := f.view(func(tx *bolt.Tx) error {
		a := attention{tx: tx, now: now, certs: map[string]*Certificate{}, agents: map[string]*Agent{}}
		for _, step := range []func() error{a.failedCertificates, a.failedJobs, a.waitingJobs, a.deadNotifications, a.offlineAgents} {
			if err := step(); err != nil {
				return err
			}
		}
		items = a.items
		return nil
	})
	if err != nil {
		return wire.Attention{}, err
	}
	slices.SortStableFunc(items, func(x, y wire.AttentionItem) int {
		tx, ty := time.Time{}, time.Time{}
		if x.Since != nil {
			tx = *x.Since
		}
		if y.Since != nil {
			ty = *y.Since
		}
		if c := ty.Compare(tx); c != 0 {
			return c
		}
		return cmp.Compare(x.Kind+x.CertificateID+x.JobID+x.AgentID+x.NotificationID, y.Kind+y.CertificateID+y.JobID+y.AgentID+y.NotificationID)
	})
	total := len(items)
	if len(items) > limit {
		items = items[:limit]
	}
	if items == nil {
		items = []wire.AttentionItem{}
	}
	return wire.Attention{Items: items, Total: total}, nil
}

// attention collects the items of one Attention read.
type attention struct {
	tx     *bolt.Tx
	now    time.Time
	certs  map[string]*Certificate
	agents map[string]*Agent
	items  []wire.AttentionItem
	// renewalListed are the certificates listed as renewal_failed.
	renewalListed map[string]bool
}

func (a *attention) cert(id string) (*Certificate, error) {
	if c, ok := a.certs[id]; ok {
		return c, nil
	}
	var c Certificate
	found, err := getJSON(a.tx.Bucket(bucketCertificates), []byte(id), &c)
	if err != nil || !found {
		a.certs[id] = nil
		return nil, err
	}
	a.certs[id] = &c
	return &c, nil
}

func (a *attention) agent(id string) (*Agent, error) {
	if ag, ok := a.agents[id]; ok {
		return ag, nil
	}
	var ag Agent
	found, err := getJSON(a.tx.Bucket(bucketAgents), []byte(id), &ag)
	if err != nil || !found {
		a.agents[id] = nil
		return nil, err
	}
	a.agents[id] = &ag
	return &ag, nil
}

func certName(c *Certificate) string {
	if c.Name != "" {
		return c.Name
	}
	return c.CommonName
}

// severity is critical for a certificate expired or expiring within 7
// days, else error.
func (a *attention) severity(c *Certificate) string {
	if c.ExpiresAt != nil && c.ExpiresAt.Sub(a.now) <= 7*Day {
		return "critical"
	}
	return "error"
}

func renewRetry(certID string) *wire.Retry {
	return &wire.Retry{Method: "POST", Path: "/api/v1/certificates/" + certID + "/renew", Body: map[string]any{}}
}

func (a *attention) failedCertificates() error {
	a.renewalListed = map[string]bool{}
	pfx := prefix(string(CertFailed))
	c := a.tx.Bucket(bucketCertStat).Cursor()
	for k, _ := c.Seek(pfx); k != nil && bytes.HasPrefix(k, pfx); k, _ = c.Next() {
		cert, err := a.cert(string(k[len(pfx):]))
		if err != nil {
			return err
		}
		if cert == nil {
			continue
		}
		since := cert.UpdatedAt
		a.renewalListed[cert.ID] = true
		a.items = append(a.items, wire.AttentionItem{Kind: wire.AttentionRenewalFailed, Severity: a.severity(cert),
			Title: "Renewal failed: " + certName(cert), Detail: cert.StatusReason, Since: &since,
			CertificateID: cert.ID, Retry: renewRetry(cert.ID)})
	}
	return nil
}

// failedJobs lists the newest failed renewal of each certificate and the
// newest failed deployment of each certificate and target, when nothing
// since has made them moot.
func (a *attention) failedJobs() error {
	newest := map[string]*Job{} // "r\x00cert" or "d\x00cert\x00target" → job
	err := eachJob(a.tx, JobFailed, func(j *Job) bool {
		key := "d\x00" + j.CertificateID + "\x00" + j.TargetID
		if openSlot(j.Type) == JobRenewal {
			key = "r\x00" + j.CertificateID
		} else if j.Type != JobDeployment {
			return true
		}
		if o := newest[key]; o == nil || finishedAt(j).After(finishedAt(o)) || finishedAt(j).Equal(finishedAt(o)) && j.ID > o.ID {
			jj := *j
			newest[key] = &jj
		}
		return true
	})
	if err != nil {
		return err
	}
	open := a.tx.Bucket(bucketOpenJobs)
	for _, j := range newest {
		cert, err := a.cert(j.CertificateID)
		if err != nil {
			return err
		}
		if cert == nil || !MayGetWork(cert.Status) {
			continue
		}
		at := finishedAt(j)
		if j.Type == JobDeployment {
			if cert.LastDeploymentAt != nil && cert.LastDeploymentAt.After(at) {
				continue
			}
			a.items = append(a.items, wire.AttentionItem{Kind: wire.AttentionDeploymentFailed, Severity: "error",
				Title: "Deployment failed: " + certName(cert), Detail: j.LastError, Since: &at,
				CertificateID: cert.ID, JobID: j.ID, AgentID: j.AgentID,
				Retry: &wire.Retry{Method: "POST", Path: "/api/v1/certificates/" + cert.ID + "/deploy", Body: map[string]any{"target_id": j.TargetID}}})
			continue
		}
		if a.renewalListed[cert.ID] || hasPrefixKey(open, prefix(cert.ID, string(JobRenewal))) ||
			cert.LastRenewalAt != nil && cert.LastRenewalAt.After(at) {
			continue
		}
		if later, err := a.laterRenewal(j); err != nil || later {
			if err != nil {
				return err
			}
			continue
		}
		a.items = append(a.items, wire.AttentionItem{Kind: wire.AttentionRenewalFailed, Severity: a.severity(cert),
			Title: "Renewal failed: " + certName(cert), Detail: j.LastError, Since: &at,
			CertificateID: cert.ID, JobID: j.ID, Retry: renewRetry(cert.ID)})
	}
	return nil
}

// laterRenewal reports whether j's certificate has an Issuance or Renewal
// job finished after j other than a failed one (one completed or
// cancelled since).
func (a *attention) laterRenewal(j *Job) (bool, error) {
	pfx := prefix(j.CertificateID)
	jobs := a.tx.Bucket(bucketJobs)
	c := a.tx.Bucket(bucketJobCert).Cursor()
	for k, _ := c.Seek(pfx); k != nil && bytes.HasPrefix(k, pfx); k, _ = c.Next() {
		var o Job
		found, err := getJSON(jobs, k[len(pfx):], &o)
		if err != nil {
			return false, err
		}
		if found && o.ID != j.ID && openSlot(o.Type) == JobRenewal && o.Status != JobFailed && finishedAt(&o).After(finishedAt(j)) {
			return true, nil
		}
	}
	return false, nil
}

// finishedAt is when a job finished, or was created if it has no end.
func finishedAt(j *Job) time.Time {
	if j.CompletedAt != nil {
		return *j.CompletedAt
	}
	return j.CreatedAt
}

func (a *attention) waitingJobs() error {
	err := eachJob(a.tx, JobAwaitingCSR, func(j *Job) bool {
		since := j.CreatedAt
		if j.StartedAt != nil {
			since = *j.StartedAt
		}
		if a.now.Sub(since) <= AwaitingCSRGrace {
			return true
		}
		a.items = append(a.items, wire.AttentionItem{Kind: wire.AttentionAwaitingCSR, Severity: "warning",
			Title: "Waiting for a CSR from agent " + j.AgentID, Detail: string(j.Type) + " job " + j.ID + " waits for the agent's CSR",
			Since: &since, CertificateID: j.CertificateID, JobID: j.ID, AgentID: j.AgentID})
		return true
	})
	if err != nil {
		return err
	}
	var aerr error
	err = eachJob(a.tx, JobPending, func(j *Job) bool {
		if j.Type != JobDeployment || j.AgentID == "" {
			return true
		}
		ag, err := a.agent(j.AgentID)
		if err != nil {
			aerr = err
			return false
		}
		if ag == nil || ag.Status != AgentOffline || ag.RetiredAt != nil {
			return true
		}
		since := j.CreatedAt
		a.items = append(a.items, wire.AttentionItem{Kind: wire.AttentionAwaitingAgent, Severity: "warning",
			Title: "Deployment waits for offline agent " + ag.Name, Detail: "deployment job " + j.ID + " is pending; agent " + ag.ID + " is Offline",
			Since: &since, CertificateID: j.CertificateID, JobID: j.ID, AgentID: ag.ID})
		return true
	})
	if err == nil {
		err = aerr
	}
	return err
}

func (a *attention) deadNotifications() error {
	pfx := prefix(string(NotifyDead))
	notes := a.tx.Bucket(bucketNotifications)
	c := a.tx.Bucket(bucketNotifStat).Cursor()
	for k, _ := c.Seek(pfx); k != nil && bytes.HasPrefix(k, pfx); k, _ = c.Next() {
		var n Notification
		found, err := getJSON(notes, k[len(pfx):], &n)
		if err != nil {
			return err
		}
		if !found {
			continue
		}
		since := n.CreatedAt
		a.items = append(a.items, wire.AttentionItem{Kind: wire.AttentionNotificationDead, Severity: "warning",
			Title: "Notification not delivered: " + string(n.Type) + " by " + string(n.Channel), Detail: n.Error,
			Since: &since, CertificateID: n.CertificateID, NotificationID: n.ID,
			Retry: &wire.Retry{Method: "POST", Path: "/api/v1/notifications/" + n.ID + "/retry", Body: map[string]any{}}})
	}
	return nil
}

func (a *attention) offlineAgents() error {
	return a.tx.Bucket(bucketAgents).ForEach(func(k, v []byte) error {
		var ag Agent
		if err := unmarshalStored(v, &ag); err != nil {
			return unreadable(k, err)
		}
		if ag.Status != AgentOffline || ag.RetiredAt != nil {
			return nil
		}
		since, detail := ag.LastHeartbeatAt, ""
		if since == nil {
			since = &ag.RegisteredAt
			detail = "no heartbeat from " + ag.Hostname + " since it was registered at " + since.UTC().Format(time.RFC3339)
		} else {
			detail = "no heartbeat from " + ag.Hostname + " since " + since.UTC().Format(time.RFC3339)
		}
		a.items = append(a.items, wire.AttentionItem{Kind: wire.AttentionAgentOffline, Severity: "warning",
			Title: "Agent offline: " + ag.Name, Detail: detail, Since: since, AgentID: ag.ID})
		return nil
	})
}
