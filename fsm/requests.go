package fsm

import (
	"bytes"
	"fmt"
	"time"
)

// The lifecycle's requests: whether work may start on a certificate is
// decided here, when the request is applied, from the replicated state, and
// not by whoever proposed it from a replica that may be stale. The rules
// they apply are lifecycle_rules.go's.

// RequestRenewal asks for a Renewal job of a certificate, with id JobID
// (fixed by the proposer). One renewal at a time: while the certificate has
// an unfinished Issuance or Renewal job, nothing is written and Apply
// answers with that job, so a request repeated (or sent twice at once, from
// any nodes) leaves one open job. It is refused (nothing written) when the
// certificate is Revoked or Archived (CodeState), or when a job JobID
// exists (CodeConflict: an automatic renewal's id names the expiry it
// renews, so it is asked for once). With CheckPolicies, a certificate that
// breaks an enabled rule of severity Error or Critical is refused too
// (CodePolicy), as an operator's request is; an automatic renewal leaves
// that to the job processor, which fails the job naming the rule and tells
// the owner. The job gets the attempts of the certificate's renewal policy
// (MaxAttempts). Apply answers with the Job created or found open.
type RequestRenewal struct {
	CertificateID string `json:"certificate_id"`
	JobID         string `json:"job_id"`
	CheckPolicies bool   `json:"check_policies,omitempty"`
}

func (RequestRenewal) CommandType() CommandType { return CommandRequestRenewal }
func (p *RequestRenewal) Validate() error {
	if err := ValidID("certificate_id", p.CertificateID); err != nil {
		return err
	}
	return ValidID("job_id", p.JobID)
}
func (p *RequestRenewal) apply(t *txn) (any, error) {
	cert, err := certStore{t}.get(p.CertificateID)
	if err != nil {
		return nil, err
	}
	if r := WorkRefusal(cert, "renewed"); r != nil {
		return nil, r
	}
	s := jobStore{t}
	open, err := s.openJob(cert.ID, openSlot(JobRenewal))
	if err != nil {
		return nil, err
	}
	if open != nil {
		return *open, nil
	}
	if t.exists(bucketJobs, p.JobID) {
		return nil, conflictf("job", p.JobID, "job %q already exists", p.JobID)
	}
	if p.CheckPolicies {
		if r := refusal(cert, evaluate(t, cert, nil), false); r != nil {
			return nil, r
		}
	}
	policy, err := policyOf(t, cert)
	if err != nil {
		return nil, err
	}
	j := Job{ID: p.JobID, Type: JobRenewal, CertificateID: cert.ID, Status: JobPending,
		MaxAttempts: MaxAttempts(policy), ScheduledAt: t.now(), CreatedAt: t.now()}
	s.put(nil, &j)
	t.audit("job_created", "job", j.ID, map[string]string{"type": string(j.Type), "certificate_id": j.CertificateID, "target_id": ""})
	return j, nil
}

// policyOf returns the renewal policy of c, nil for none (or one deleted).
func policyOf(t *txn, c *Certificate) (*RenewalPolicy, error) {
	if c.RenewalPolicyID == "" {
		return nil, nil
	}
	var p RenewalPolicy
	found, err := getJSON(t.bucket(bucketRenewalPolicies), []byte(c.RenewalPolicyID), &p)
	if err != nil || !found {
		return nil, err
	}
	return &p, nil
}

// RequestDeployment asks for a Deployment job of a certificate's current
// version to each of its targets, or to TargetID alone, which must be mapped
// to it. The job of the only target is JobID; with several targets, in id
// order, they are JobID-1, JobID-2, ... Each job is bound to its target's
// agent. Refused (nothing written) when the certificate is Revoked or
// Archived or has no version yet, or has no target (CodeState), or TargetID
// is not mapped to it (CodeInvalid). Apply answers with the []Job.
type RequestDeployment struct {
	CertificateID string `json:"certificate_id"`
	TargetID      string `json:"target_id,omitempty"`
	JobID         string `json:"job_id"`
}

func (RequestDeployment) CommandType() CommandType { return CommandRequestDeployment }
func (p *RequestDeployment) Validate() error {
	if err := ValidID("certificate_id", p.CertificateID); err != nil {
		return err
	}
	if err := optionalID("target_id", p.TargetID); err != nil {
		return err
	}
	// Room for the suffix of one job per target.
	if err := ValidID("job_id", p.JobID); err != nil {
		return err
	}
	if len(p.JobID) > MaxIDLength-len(fmt.Sprintf("-%d", MaxTargets)) {
		return invalidf("job_id", "job_id is %d characters long; at most %d are allowed", len(p.JobID), MaxIDLength-len(fmt.Sprintf("-%d", MaxTargets)))
	}
	return nil
}
func (p *RequestDeployment) apply(t *txn) (any, error) {
	cert, err := certStore{t}.get(p.CertificateID)
	if err != nil {
		return nil, err
	}
	if r := WorkRefusal(cert, "deployed"); r != nil {
		return nil, r
	}
	if k, _ := t.bucket(bucketVerByCert).Cursor().Seek(prefix(cert.ID)); k == nil || !bytes.HasPrefix(k, prefix(cert.ID)) {
		return nil, statef("certificate", cert.ID, "certificate %q has not been issued yet; renew it first", cert.ID)
	}
	targets := cert.TargetIDs
	if p.TargetID != "" {
		if !hasKey(t.bucket(bucketMappings), compound(cert.ID, p.TargetID)) {
			return nil, invalidf("target_id", "target %s is not mapped to certificate %s; map it first (target_ids)", p.TargetID, cert.ID)
		}
		targets = []string{p.TargetID}
	}
	if len(targets) == 0 {
		return nil, statef("certificate", cert.ID, "certificate %q is mapped to no target; set target_ids first", cert.ID)
	}
	jobs := make([]Job, len(targets))
	for i, tid := range targets {
		var tgt Target
		found, err := getJSON(t.bucket(bucketTargets), []byte(tid), &tgt)
		if err != nil {
			return nil, err
		}
		if !found {
			return nil, notFound("target", tid)
		}
		id := p.JobID
		if len(targets) > 1 {
			id = fmt.Sprintf("%s-%d", p.JobID, i+1)
		}
		if t.exists(bucketJobs, id) {
			return nil, conflictf("job", id, "job %q already exists", id)
		}
		jobs[i] = Job{ID: id, Type: JobDeployment, CertificateID: cert.ID, TargetID: tid, AgentID: tgt.AgentID,
			Status: JobPending, MaxAttempts: DefaultMaxAttempts, ScheduledAt: t.now(), CreatedAt: t.now()}
	}
	s := jobStore{t}
	for i := range jobs {
		s.put(nil, &jobs[i])
		t.audit("job_created", "job", jobs[i].ID, map[string]string{"type": string(JobDeployment), "certificate_id": cert.ID, "target_id": jobs[i].TargetID})
	}
	return jobs, nil
}

// RequestRevocation revokes a certificate as RevokeCertificate does (status
// Revoked, every version not yet expired listed for its issuer's CRL), and
// cancels its unfinished jobs in the same step: a revoked certificate gets
// no more work. Refused when it is already Revoked or Archived (CodeState).
// Apply answers with a Revocation result.
type RequestRevocation struct {
	CertificateID string `json:"certificate_id"`
	Reason        string `json:"reason"`
}

// RevocationResult is what RequestRevocation did.
type RevocationResult struct {
	SerialNumbers   []string `json:"serial_numbers"`
	CancelledJobIDs []string `json:"cancelled_job_ids,omitempty"`
}

func (RequestRevocation) CommandType() CommandType { return CommandRequestRevocation }
func (p *RequestRevocation) Validate() error {
	r := RevokeCertificate{CertificateID: p.CertificateID, Reason: p.Reason}
	err := r.Validate()
	p.Reason = r.Reason
	return err
}
func (p *RequestRevocation) apply(t *txn) (any, error) {
	old, err := certStore{t}.get(p.CertificateID)
	if err != nil {
		return nil, err
	}
	if r := revocationRefusal(old); r != nil {
		return nil, r
	}
	if err := checkVersionsReadable(t, old.ID); err != nil {
		return nil, err
	}
	s := jobStore{t}
	ids := s.openJobIDs(old.ID)
	jobs := make([]*Job, len(ids))
	for i, id := range ids {
		if jobs[i], err = s.get(id); err != nil {
			return nil, err
		}
	}
	// No error past this point: the writes begin.
	for _, old := range jobs {
		j, now := *old, t.now()
		j.Status, j.CompletedAt, j.LeaseHolder, j.LeaseExpiresAt = JobCancelled, &now, "", nil
		s.put(old, &j)
		t.audit("job_cancelled", "job", j.ID, map[string]string{"previous_status": string(old.Status), "reason": "certificate revoked"})
	}
	return RevocationResult{SerialNumbers: revoke(t, old, p.Reason), CancelledJobIDs: ids}, nil
}

// revocationRefusal returns why c cannot be revoked, or nil.
func revocationRefusal(c *Certificate) *Error {
	switch c.Status {
	case CertRevoked:
		return statef("certificate", c.ID, "certificate %q is already revoked", c.ID)
	case CertArchived:
		return statef("certificate", c.ID, "certificate %q is archived", c.ID)
	}
	return nil
}

// EndExpiryWatch tells the state machine that the renewal check is done with
// an expired certificate: it is Expired at ExpiresAt, its alerts are queued
// (the proposer's FinalAlertSent) and no renewal of it is open. The
// certificate leaves the renewal check's index, so it costs no sweep any
// more; it stays listed as Expired. A new expiry (a renewal recorded, an
// update that sets it) puts it back. Refused (CodeState) while it is not
// Expired, not expired by the command's time, has another expiry, or has an
// unfinished Issuance or Renewal job; a no-op when already ended.
type EndExpiryWatch struct {
	CertificateID string    `json:"certificate_id"`
	ExpiresAt     time.Time `json:"expires_at"`
}

func (EndExpiryWatch) CommandType() CommandType { return CommandEndExpiryWatch }
func (p *EndExpiryWatch) Validate() error {
	if err := ValidID("certificate_id", p.CertificateID); err != nil {
		return err
	}
	if p.ExpiresAt.IsZero() {
		return invalidf("expires_at", "expires_at is required")
	}
	return nil
}
func (p *EndExpiryWatch) apply(t *txn) (any, error) {
	c, err := certStore{t}.get(p.CertificateID)
	if err != nil {
		return nil, err
	}
	switch {
	case c.ExpiresAt == nil || !c.ExpiresAt.Equal(p.ExpiresAt):
		return nil, statef("certificate", c.ID, "certificate %q does not expire at %s", c.ID, p.ExpiresAt.Format(time.RFC3339))
	case c.Status != CertExpired || c.ExpiresAt.After(t.now()):
		return nil, statef("certificate", c.ID, "certificate %q is %s, not Expired", c.ID, c.Status)
	}
	open, err := jobStore{t}.openJob(c.ID, openSlot(JobRenewal))
	if err != nil {
		return nil, err
	}
	if open != nil {
		return nil, openRenewalRefusal(c.ID, open)
	}
	ended := t.bucket(bucketScanEnded)
	if !inRenewalScan(ended, c) {
		return nil, nil
	}
	must(t.bucket(bucketRenewalScan).Delete(timeIDKey(*c.ExpiresAt, c.ID)))
	if RenewalInfoValid(c) {
		must(t.bucket(bucketRenewalInfo).Delete(timeIDKey(RenewAt(c.ID, c.RenewalInfo), c.ID)))
	}
	must(ended.Put([]byte(c.ID), timeKey(*c.ExpiresAt)))
	t.audit("certificate_expiry_watch_ended", "certificate", c.ID, map[string]any{"expires_at": *c.ExpiresAt})
	return nil, nil
}
