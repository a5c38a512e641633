package fsm

import (
	"bytes"
	"encoding/json"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/certctl/certctl/api/wire"
)

// MaxBatch bounds the records of one batch command.
const MaxBatch = 1000

func (j *Job) validate() error {
	if err := ValidID("id", j.ID); err != nil {
		return err
	}
	typ, err := validEnum("type", j.Type, JobTypes, true)
	if err != nil {
		return err
	}
	j.Type = typ
	if err := ValidID("certificate_id", j.CertificateID); err != nil {
		return err
	}
	if err := optionalID("target_id", j.TargetID); err != nil {
		return err
	}
	if err := optionalID("agent_id", j.AgentID); err != nil {
		return err
	}
	if j.Status == "" {
		j.Status = JobPending
	}
	if j.Status != JobPending && j.Status != JobAwaitingCSR {
		return invalidf("status", "a new job is Pending or AwaitingCSR, not %q", j.Status)
	}
	if j.MaxAttempts == 0 {
		j.MaxAttempts = DefaultMaxAttempts
	}
	if j.MaxAttempts < 1 || j.MaxAttempts > MaxJobAttempts {
		return invalidf("max_attempts", "max_attempts must be between 1 and %d", MaxJobAttempts)
	}
	return nil
}

// jobStore writes jobs with their status, agent and certificate indexes.
type jobStore struct{ t *txn }

func (s jobStore) get(id string) (*Job, error) {
	var j Job
	found, err := getJSON(s.t.bucket(bucketJobs), []byte(id), &j)
	if err != nil {
		return nil, err
	}
	if !found {
		return nil, notFound("job", id)
	}
	return &j, nil
}

func (s jobStore) put(old, j *Job) {
	t := s.t
	putJSON(t.bucket(bucketJobs), []byte(j.ID), j)
	stat := t.bucket(bucketJobStat)
	if old == nil {
		t.addCount(1, string(bucketJobs))
		must(t.bucket(bucketJobCert).Put(compound(j.CertificateID, j.ID), nil))
		if j.AgentID != "" {
			must(t.bucket(bucketJobAgent).Put(compound(j.AgentID, j.ID), nil))
		}
	} else if old.AgentID != j.AgentID {
		if old.AgentID != "" {
			must(t.bucket(bucketJobAgent).Delete(compound(old.AgentID, j.ID)))
		}
		if j.AgentID != "" {
			must(t.bucket(bucketJobAgent).Put(compound(j.AgentID, j.ID), nil))
		}
	}
	if old != nil && old.Status != j.Status {
		must(stat.Delete(compound(string(old.Status), old.ID)))
		t.addCount(-1, string(bucketJobs), "status", string(old.Status))
	}
	if old == nil || old.Status != j.Status {
		must(stat.Put(compound(string(j.Status), j.ID), nil))
		t.addCount(1, string(bucketJobs), "status", string(j.Status))
	}
	if old == nil || old.Status != j.Status || old.Type != j.Type {
		if old != nil {
			t.addCount(-1, jobTypeCountParts(old.Status, old.Type)...)
		}
		t.addCount(1, jobTypeCountParts(j.Status, j.Type)...)
	}
	wasOpen, isOpen := old != nil && !JobFinished(old.Status), !JobFinished(j.Status)
	switch {
	case isOpen && !wasOpen:
		must(t.bucket(bucketOpenJobs).Put(openJobKey(j), nil))
	case wasOpen && !isOpen:
		must(t.bucket(bucketOpenJobs).Delete(openJobKey(old)))
	}
}

// openJobKey is a job's key in the open-jobs index.
func openJobKey(j *Job) []byte { return compound(j.CertificateID, string(jobSlot(j.Type)), j.ID) }

// jobSlot is the slot of the open-jobs index a job of type typ holds: its
// lifecycle slot (openSlot), or its own type.
func jobSlot(typ wire.JobType) wire.JobType {
	if s := openSlot(typ); s != "" {
		return s
	}
	return typ
}

// openJob returns the first unfinished job of a certificate in a slot (""
// for any), or nil. It seeks the open-jobs index once, so its cost does not
// grow with the certificate's finished jobs.
func (s jobStore) openJob(certID string, slot wire.JobType) (*Job, error) {
	pfx := prefix(certID)
	if slot != "" {
		pfx = prefix(certID, string(slot))
	}
	k, _ := s.t.bucket(bucketOpenJobs).Cursor().Seek(pfx)
	if k == nil || !bytes.HasPrefix(k, pfx) {
		return nil, nil
	}
	return s.get(string(k[bytes.LastIndexByte(k, sep)+1:]))
}

// openJobIDs returns the ids of a certificate's unfinished jobs, by slot
// and then id.
func (s jobStore) openJobIDs(certID string) []string {
	var out []string
	pfx := prefix(certID)
	c := s.t.bucket(bucketOpenJobs).Cursor()
	for k, _ := c.Seek(pfx); k != nil && bytes.HasPrefix(k, pfx); k, _ = c.Next() {
		out = append(out, string(k[bytes.LastIndexByte(k, sep)+1:]))
	}
	return out
}

// CreateJobs adds jobs, all or none.
type CreateJobs struct {
	Jobs []Job `json:"jobs"`
}

func (CreateJobs) CommandType() CommandType { return CommandCreateJobs }
func (p *CreateJobs) Validate() error {
	if len(p.Jobs) == 0 || len(p.Jobs) > MaxBatch {
		return invalidf("jobs", "between 1 and %d jobs are required", MaxBatch)
	}
	for i := range p.Jobs {
		if err := p.Jobs[i].validate(); err != nil {
			return err
		}
	}
	return nil
}
func (p *CreateJobs) apply(t *txn) (any, error) {
	seen := map[string]bool{}
	for _, j := range p.Jobs {
		if seen[j.ID] || t.exists(bucketJobs, j.ID) {
			return nil, conflictf("job", j.ID, "job %q already exists", j.ID)
		}
		seen[j.ID] = true
		if err := t.checkRefs([]reference{
			{bucketCertificates, "certificate", "certificate_id", j.CertificateID},
			{bucketTargets, "target", "target_id", j.TargetID},
			{bucketAgents, "agent", "agent_id", j.AgentID},
		}); err != nil {
			return nil, err
		}
	}
	s := jobStore{t}
	out := make([]Job, 0, len(p.Jobs))
	for _, j := range p.Jobs {
		j.Attempts, j.CreatedAt = 0, t.now()
		if j.ScheduledAt.IsZero() {
			j.ScheduledAt = t.now()
		}
		s.put(nil, &j)
		t.audit("job_created", "job", j.ID, map[string]string{"type": string(j.Type), "certificate_id": j.CertificateID, "target_id": j.TargetID})
		out = append(out, j)
	}
	return out, nil
}

// ClaimJob leases a due job to Holder until LeaseUntil and marks it Running,
// counting an attempt. A Running job whose lease has expired (by the command's
// time) can be claimed again, which is how a new leader takes over the work of
// a lost one; a job leased to someone else is refused with ErrLeaseHeld. The
// current holder claiming again extends its lease.
type ClaimJob struct {
	JobID      string    `json:"job_id"`
	Holder     string    `json:"holder"`
	LeaseUntil time.Time `json:"lease_until"`
}

func (ClaimJob) CommandType() CommandType { return CommandClaimJob }
func (p *ClaimJob) Validate() error {
	if err := ValidID("job_id", p.JobID); err != nil {
		return err
	}
	if err := ValidText("holder", p.Holder, MaxNameLength, true); err != nil {
		return err
	}
	if p.LeaseUntil.IsZero() {
		return invalidf("lease_until", "lease_until is required")
	}
	return nil
}
func (p *ClaimJob) apply(t *txn) (any, error) {
	s := jobStore{t}
	old, err := s.get(p.JobID)
	if err != nil {
		return nil, err
	}
	if !p.LeaseUntil.After(t.now()) {
		return nil, &Error{Code: CodeBadLease, Resource: "job", ID: p.JobID, Message: "lease_until must be later than the command's time"}
	}
	j := *old
	switch {
	case old.Status == JobPending:
		if old.ScheduledAt.After(t.now()) {
			return nil, statef("job", old.ID, "job %q is not due until %s", old.ID, old.ScheduledAt.Format(time.RFC3339))
		}
		j.Attempts++
	case old.Status == JobRunning && old.LeaseHolder == p.Holder:
		// The holder extends its lease.
	case old.Status == JobRunning && old.LeaseExpiresAt != nil && !old.LeaseExpiresAt.After(t.now()):
		j.Attempts++
	case old.Status == JobRunning:
		return nil, &Error{Code: CodeLeaseHeld, Resource: "job", ID: old.ID,
			Message: "job " + old.ID + " is leased to " + old.LeaseHolder + " until " + old.LeaseExpiresAt.Format(time.RFC3339Nano)}
	default:
		return nil, statef("job", old.ID, "job %q is %s and cannot be claimed", old.ID, old.Status)
	}
	now, until := t.now(), p.LeaseUntil
	j.Status, j.LeaseHolder, j.LeaseExpiresAt = JobRunning, p.Holder, &until
	if old.Status != JobRunning || old.LeaseHolder != p.Holder {
		j.StartedAt = &now
		t.audit("job_claimed", "job", j.ID, map[string]any{"holder": p.Holder, "attempt": j.Attempts, "lease_until": until})
	}
	s.put(old, &j)
	if old.Status == JobPending && (j.Type == JobRenewal || j.Type == JobIssuance) {
		markRenewing(t, j.CertificateID, j.ID)
	}
	return j, nil
}

// markRenewing shows a certificate RenewalInProgress while an issuance or
// renewal job of it is being worked on. Recording the new version makes it
// Active; a final failure makes it Failed; a cancel (settleRenewal) undoes it.
func markRenewing(t *txn, certID, jobID string) {
	s := certStore{t}
	old, err := s.get(certID)
	if err != nil {
		return // the job outlived its certificate: nothing to show
	}
	switch old.Status {
	case CertActive, CertExpiring, CertExpired, CertFailed, CertPending:
	default:
		return
	}
	c := *old
	c.Status, c.StatusReason, c.UpdatedAt = CertRenewalInProgress, "", t.now()
	s.put(old, &c)
	t.audit("certificate_status_changed", "certificate", c.ID, map[string]string{"from": string(old.Status), "to": string(c.Status), "reason": "job " + jobID})
}

// settleRenewal takes a certificate out of RenewalInProgress when its job
// ends without a version: Expired past its expiry, else Active (the renewal
// check moves it on to Expiring if it is in its alert window).
func settleRenewal(t *txn, certID, jobID string) {
	s := certStore{t}
	old, err := s.get(certID)
	if err != nil || old.Status != CertRenewalInProgress {
		return
	}
	c := *old
	c.Status, c.UpdatedAt = CertActive, t.now()
	if c.ExpiresAt == nil {
		c.Status = CertPending
	} else if !c.ExpiresAt.After(t.now()) {
		c.Status = CertExpired
	}
	s.put(old, &c)
	t.audit("certificate_status_changed", "certificate", c.ID, map[string]string{"from": string(old.Status), "to": string(c.Status), "reason": "job " + jobID + " cancelled"})
}

// jobOwner checks that the caller may finish the job: the lease holder when
// Holder is given, the job's agent when AgentID is given.
func jobOwner(j *Job, holder, agentID string, now time.Time) error {
	if holder != "" && (j.Status != JobRunning || j.LeaseHolder != holder || j.LeaseExpiresAt == nil || !j.LeaseExpiresAt.After(now)) {
		return &Error{Code: CodeBadLease, Resource: "job", ID: j.ID,
			Message: "job " + j.ID + " is not leased to " + holder + " (status " + string(j.Status) + ", holder " + j.LeaseHolder + ")"}
	}
	if agentID != "" && j.AgentID != agentID {
		return &Error{Code: CodeBadLease, Resource: "job", ID: j.ID, Message: "job " + j.ID + " does not belong to agent " + agentID}
	}
	if JobFinished(j.Status) {
		return statef("job", j.ID, "job %q is already %s", j.ID, j.Status)
	}
	return nil
}

// agentAttempt counts the attempt of an agent that reports on a job it was
// handed Pending (a deployment: agents take no lease), and stamps when it
// started, as a claim does for the server's jobs.
func agentAttempt(j, old *Job, agentID string, now time.Time) {
	if agentID == "" || old.Status != JobPending {
		return
	}
	j.Attempts++
	if j.StartedAt == nil {
		j.StartedAt = &now
	}
}

// CompleteJob marks a job Completed. Holder (a lease holder) or AgentID (the
// job's agent) identifies who finished it; a Deployment also stamps the
// certificate's last_deployment_at.
type CompleteJob struct {
	JobID            string          `json:"job_id"`
	Holder           string          `json:"holder,omitempty"`
	AgentID          string          `json:"agent_id,omitempty"`
	DeploymentResult json.RawMessage `json:"deployment_result,omitempty"`
}

func (CompleteJob) CommandType() CommandType { return CommandCompleteJob }
func (p *CompleteJob) Validate() error {
	if err := ValidID("job_id", p.JobID); err != nil {
		return err
	}
	if err := optionalID("agent_id", p.AgentID); err != nil {
		return err
	}
	if len(p.DeploymentResult) > MaxTextLength {
		return invalidf("deployment_result", "deployment_result is larger than %d bytes", MaxTextLength)
	}
	return validObject("deployment_result", p.DeploymentResult)
}
func (p *CompleteJob) apply(t *txn) (any, error) {
	s := jobStore{t}
	old, err := s.get(p.JobID)
	if err != nil {
		return nil, err
	}
	if err := jobOwner(old, p.Holder, p.AgentID, t.now()); err != nil {
		return nil, err
	}
	var cert *Certificate
	if old.Type == JobDeployment {
		if cert, err = (certStore{t}).get(old.CertificateID); err != nil {
			return nil, err
		}
	}
	j, now := *old, t.now()
	agentAttempt(&j, old, p.AgentID, now)
	j.Status, j.CompletedAt, j.LastError = JobCompleted, &now, ""
	j.LeaseHolder, j.LeaseExpiresAt = "", nil
	if len(p.DeploymentResult) > 0 {
		j.DeploymentResult = p.DeploymentResult
	}
	s.put(old, &j)
	if cert != nil {
		c := *cert
		c.LastDeploymentAt, c.UpdatedAt = &now, now
		certStore{t}.put(cert, &c)
	}
	t.audit("job_completed", "job", j.ID, map[string]any{"type": j.Type, "certificate_id": j.CertificateID, "attempts": j.Attempts})
	return j, nil
}

// FailJob records a failed attempt. With RetryAt set and attempts left the job
// goes back to Pending, due at RetryAt; otherwise it is Failed for good.
type FailJob struct {
	JobID            string          `json:"job_id"`
	Holder           string          `json:"holder,omitempty"`
	AgentID          string          `json:"agent_id,omitempty"`
	Error            string          `json:"error"`
	RetryAt          *time.Time      `json:"retry_at,omitempty"`
	DeploymentResult json.RawMessage `json:"deployment_result,omitempty"`
}

func (FailJob) CommandType() CommandType { return CommandFailJob }
func (p *FailJob) Validate() error {
	if err := ValidID("job_id", p.JobID); err != nil {
		return err
	}
	if err := optionalID("agent_id", p.AgentID); err != nil {
		return err
	}
	if err := ValidText("error", p.Error, MaxTextLength, false); err != nil {
		return err
	}
	return validObject("deployment_result", p.DeploymentResult)
}
func (p *FailJob) apply(t *txn) (any, error) {
	s := jobStore{t}
	old, err := s.get(p.JobID)
	if err != nil {
		return nil, err
	}
	if err := jobOwner(old, p.Holder, p.AgentID, t.now()); err != nil {
		return nil, err
	}
	j, now := *old, t.now()
	agentAttempt(&j, old, p.AgentID, now)
	j.LastError, j.LeaseHolder, j.LeaseExpiresAt = p.Error, "", nil
	if len(p.DeploymentResult) > 0 {
		j.DeploymentResult = p.DeploymentResult
	}
	action := "job_failed"
	if p.RetryAt != nil && RetriesLeft(&j) {
		j.Status, j.ScheduledAt = JobPending, *p.RetryAt
		action = "job_retry_scheduled"
	} else {
		j.Status, j.CompletedAt = JobFailed, &now
	}
	s.put(old, &j)
	t.audit(action, "job", j.ID, map[string]any{"error": p.Error, "attempts": j.Attempts, "max_attempts": j.MaxAttempts})
	return j, nil
}

// CancelJob cancels a job that has not finished.
type CancelJob struct {
	JobID string `json:"job_id"`
}

func (CancelJob) CommandType() CommandType { return CommandCancelJob }
func (p *CancelJob) Validate() error       { return ValidID("job_id", p.JobID) }
func (p *CancelJob) apply(t *txn) (any, error) {
	s := jobStore{t}
	old, err := s.get(p.JobID)
	if err != nil {
		return nil, err
	}
	if JobFinished(old.Status) {
		return nil, statef("job", old.ID, "job %q is already %s", old.ID, old.Status)
	}
	j, now := *old, t.now()
	j.Status, j.CompletedAt, j.LeaseHolder, j.LeaseExpiresAt = JobCancelled, &now, "", nil
	s.put(old, &j)
	t.audit("job_cancelled", "job", j.ID, map[string]string{"previous_status": string(old.Status)})
	if j.Type == JobRenewal || j.Type == JobIssuance {
		settleRenewal(t, j.CertificateID, j.ID)
	}
	return j, nil
}

// AwaitCSR parks a job until the agent sends its CSR; the lease is released.
// AgentID, when given, names the agent whose CSR the job waits for (a
// renewal queued without one); a job already bound to another agent is
// refused.
type AwaitCSR struct {
	JobID   string `json:"job_id"`
	Holder  string `json:"holder,omitempty"`
	AgentID string `json:"agent_id,omitempty"`
}

func (AwaitCSR) CommandType() CommandType { return CommandAwaitCSR }
func (p *AwaitCSR) Validate() error {
	if err := ValidID("job_id", p.JobID); err != nil {
		return err
	}
	return optionalID("agent_id", p.AgentID)
}
func (p *AwaitCSR) apply(t *txn) (any, error) {
	s := jobStore{t}
	old, err := s.get(p.JobID)
	if err != nil {
		return nil, err
	}
	if err := jobOwner(old, p.Holder, "", t.now()); err != nil {
		return nil, err
	}
	if p.AgentID != "" && old.AgentID != "" && old.AgentID != p.AgentID {
		return nil, conflictf("job", old.ID, "job %q belongs to agent %s, not %s", old.ID, old.AgentID, p.AgentID)
	}
	if err := t.requireExists(bucketAgents, "agent", "agent_id", p.AgentID); err != nil {
		return nil, err
	}
	if old.Status == JobAwaitingCSR && (p.AgentID == "" || old.AgentID == p.AgentID) {
		return *old, nil
	}
	j := *old
	j.Status, j.LeaseHolder, j.LeaseExpiresAt = JobAwaitingCSR, "", nil
	if p.AgentID != "" {
		j.AgentID = p.AgentID
	}
	s.put(old, &j)
	var details any
	if p.AgentID != "" {
		details = map[string]string{"agent_id": p.AgentID}
	}
	t.audit("job_awaiting_csr", "job", j.ID, details)
	return j, nil
}

// ReleaseLease hands a Running job back to Pending without counting a failure,
// for a holder that stops (a leader stepping down).
type ReleaseLease struct {
	JobID  string `json:"job_id"`
	Holder string `json:"holder"`
}

func (ReleaseLease) CommandType() CommandType { return CommandReleaseLease }
func (p *ReleaseLease) Validate() error {
	if err := ValidID("job_id", p.JobID); err != nil {
		return err
	}
	return ValidText("holder", p.Holder, MaxNameLength, true)
}
func (p *ReleaseLease) apply(t *txn) (any, error) {
	s := jobStore{t}
	old, err := s.get(p.JobID)
	if err != nil {
		return nil, err
	}
	if err := jobOwner(old, p.Holder, "", t.now()); err != nil {
		return nil, err
	}
	j := *old
	j.Status, j.LeaseHolder, j.LeaseExpiresAt = JobPending, "", nil
	if j.Attempts > 0 {
		j.Attempts--
	}
	s.put(old, &j)
	t.audit("job_lease_released", "job", j.ID, map[string]string{"holder": p.Holder})
	return j, nil
}

// Job returns the job with id.
func (f *FSM) Job(id string) (*Job, error) {
	var out *Job
	err := f.view(func(tx *bolt.Tx) (err error) {
		out, err = jobStore{&txn{tx: tx}}.get(id)
		return err
	})
	return out, err
}

// JobFilter selects jobs; empty fields match everything.
type JobFilter struct {
	Status wire.JobStatus
	// Statuses, when not empty, admits a job whose status is any of them,
	// so that one scan answers what would take a query per status.
	Statuses      []wire.JobStatus
	Type          wire.JobType
	AgentID       string
	CertificateID string
}

// Jobs lists jobs, through the most selective index the filter allows.
func (f *FSM) Jobs(flt JobFilter, p Page) (List[Job], error) {
	if st, ok := JobStatuses.Canonical(string(flt.Status)); ok {
		flt.Status = st
	}
	if ty, ok := JobTypes.Canonical(string(flt.Type)); ok {
		flt.Type = ty
	}
	statuses := slices.Clone(flt.Statuses)
	for i, st := range statuses {
		if c, ok := JobStatuses.Canonical(string(st)); ok {
			statuses[i] = c
		}
	}
	match := func(j *Job) bool {
		return (flt.Status == "" || j.Status == flt.Status) && (flt.Type == "" || j.Type == flt.Type) &&
			(flt.AgentID == "" || j.AgentID == flt.AgentID) && (flt.CertificateID == "" || j.CertificateID == flt.CertificateID) &&
			(len(statuses) == 0 || slices.Contains(statuses, j.Status))
	}
	var out List[Job]
	err := f.view(func(tx *bolt.Tx) (err error) {
		switch {
		case flt.AgentID != "":
			out, err = scanIndex(tx, bucketJobAgent, prefix(flt.AgentID), 0, bucketJobs, p, match)
		case flt.CertificateID != "":
			out, err = scanIndex(tx, bucketJobCert, prefix(flt.CertificateID), 0, bucketJobs, p, match)
		case flt.Status != "" && flt.Type == "" && len(statuses) == 0:
			var raw List[json.RawMessage]
			if raw, err = rawIndexCounted(tx, bucketJobStat, prefix(string(flt.Status)), bucketJobs, p,
				readCount(tx, string(bucketJobs), "status", string(flt.Status))); err == nil {
				out, err = decodeAll[Job](raw)
			}
		case flt.Status != "":
			out, err = scanIndex(tx, bucketJobStat, prefix(string(flt.Status)), 0, bucketJobs, p, match)
		case flt.Type != "" || len(statuses) > 0:
			out, err = scanBucket(tx, bucketJobs, p, match)
		default:
			out, err = scanBucket[Job](tx, bucketJobs, p, nil)
		}
		return err
	})
	return out, err
}

// jobTypeCountParts names the counter of jobs in status st of type typ.
func jobTypeCountParts(st wire.JobStatus, typ wire.JobType) []string {
	return []string{string(bucketJobs), "status_type", string(st), string(typ)}
}

func jobTypeCountKey(st wire.JobStatus, typ wire.JobType) []byte {
	return countKey(jobTypeCountParts(st, typ)...)
}

// JobCounts returns the number of jobs of each status and type (status →
// type → n), from counters.
func (f *FSM) JobCounts() (map[wire.JobStatus]map[wire.JobType]int, error) {
	out := map[wire.JobStatus]map[wire.JobType]int{}
	err := f.view(func(tx *bolt.Tx) error {
		for _, st := range JobStatuses {
			for _, typ := range JobTypes {
				if n := readCount(tx, jobTypeCountParts(st, typ)...); n > 0 {
					if out[st] == nil {
						out[st] = map[wire.JobType]int{}
					}
					out[st][typ] = n
				}
			}
		}
		return nil
	})
	return out, err
}
