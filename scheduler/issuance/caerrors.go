package issuance

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/certctl/certctl/connectors/issuer"
	"github.com/certctl/certctl/fsm"
)

// defaultCARetry is how long an agent's job waits before it is tried again
// after a CA's answer that may change (rateLimited without Retry-After, a
// validation the CA could not complete), when the certificate's renewal
// policy sets no retry interval.
const defaultCARetry = 5 * time.Minute

// caFailed records a CA's refusal of an agent's CSR on its job, with the
// CA's own message: a retry not before the CA's Retry-After (or the
// backoff) while attempts remain, else the job fails for good and the
// certificate is Failed. The agent is not asked again meanwhile, so a CA
// that keeps refusing is never a silent loop. It returns caErr.
func (s *Service) caFailed(ctx context.Context, agentID string, job fsm.Job, caErr *issuer.CAError) error {
	now := s.cfg.Now()
	reason := fsm.CleanText(caErr.Error(), 2048)
	cmd := &fsm.FailJob{JobID: job.ID, AgentID: agentID, Error: reason}
	if !caErr.Final {
		at := now.Add(max(caErr.RetryAfter, fsm.RetryDelay(s.retryInterval(job.CertificateID), job.Attempts+1), defaultCARetry))
		cmd.RetryAt = &at
	}
	base := "csr/" + job.ID + "/" + fmt.Sprint(job.Attempts) + "/ca-refused/"
	err := s.propose(ctx, now, base+"fail", s.actor(), cmd)
	if err != nil && !rejected(err) {
		return fmt.Errorf("issuance: fail job %s after the CA refused: %w (the CA said: %v)", job.ID, err, caErr)
	}
	// The state machine decides whether attempts remain.
	if cur, err := s.state.Job(job.ID); err == nil && cur.Status == fsm.JobPending {
		s.log.Warn("the CA refused an agent's CSR; retry scheduled", "job", job.ID, "certificate", job.CertificateID, "retry_at", *cmd.RetryAt, "err", caErr)
		return caErr
	}
	what := "issuance"
	if job.Type == fsm.JobRenewal {
		what = "renewal"
	}
	if cur, err := s.state.Certificate(job.CertificateID); err == nil && fsm.MayGetWork(cur.Status) {
		why := fsm.CleanText(what+" failed: "+caErr.Error(), 4096)
		err = s.propose(ctx, now, base+"certificate-failed", s.actor(),
			&fsm.SetCertificateStatus{ID: cur.ID, Status: fsm.CertFailed, From: cur.Status, Reason: why})
		if err != nil && !rejected(err) {
			return fmt.Errorf("issuance: mark certificate %s Failed: %w", cur.ID, err)
		}
	}
	s.log.Warn("the CA refused an agent's CSR; job failed for good", "job", job.ID, "certificate", job.CertificateID, "err", caErr)
	return caErr
}

// retryInterval is the retry interval (minutes) of the renewal policy of
// certificate certID, 0 when none is set.
func (s *Service) retryInterval(certID string) int {
	type policyReader interface {
		RenewalPolicy(id string) (*fsm.RenewalPolicy, error)
	}
	pr, ok := s.state.(policyReader)
	if !ok {
		return 0
	}
	cert, err := s.state.Certificate(certID)
	if err != nil || cert.RenewalPolicyID == "" {
		return 0
	}
	p, err := pr.RenewalPolicy(cert.RenewalPolicyID)
	if err != nil {
		return 0
	}
	return p.RetryIntervalMinutes
}

// RevokeAtCA tells the CA of certificate certID that its versions
// revoked in the state (RequestRevocation) are revoked, with their
// reason, when the issuer is one that keeps the revocation itself (ACME):
// an issuer that signs its own CRL (issuer.CRLSigner) lists them there
// and is not called. Every version is tried; the errors are joined.
func (s *Service) RevokeAtCA(ctx context.Context, certID string) error {
	cert, err := s.state.Certificate(certID)
	if err != nil {
		return err
	}
	rec, err := s.state.Issuer(cert.IssuerID)
	if err != nil {
		return err
	}
	if !rec.Enabled {
		s.log.Warn("certificate revoked, but its issuer is disabled: its CA was not told", "certificate", certID, "issuer", rec.ID)
		return nil
	}
	revs, err := s.state.Revocations(cert.IssuerID)
	if err != nil {
		return err
	}
	if !slices.ContainsFunc(revs, func(r fsm.Revocation) bool { return r.CertificateID == certID }) {
		return nil // never issued: no CA holds anything of it (and a CA may not exist yet)
	}
	iss, _, err := s.build(ctx, cert.IssuerID, false)
	if errors.Is(err, issuer.ErrUnknownType) {
		return nil // a type this build has no connector for: nothing to tell
	}
	if err != nil {
		return err
	}
	if _, ok := iss.(issuer.CRLSigner); ok {
		return nil
	}
	var errs []error
	for _, r := range revs {
		if r.CertificateID != certID {
			continue
		}
		v, err := s.state.CertificateVersion(r.VersionID)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		leaf, _, _ := strings.Cut(v.PEMChain, "-----END CERTIFICATE-----")
		err = iss.RevokeCertificate(ctx, issuer.RevocationRequest{Serial: r.SerialNumber, Reason: r.Reason,
			RevokedAt: r.RevokedAt, CertPEM: leaf + "-----END CERTIFICATE-----\n"})
		if err != nil {
			errs = append(errs, fmt.Errorf("serial %s: %w", r.SerialNumber, err))
			continue
		}
		s.log.Info("certificate revoked at its CA", "certificate", certID, "issuer", cert.IssuerID, "serial", r.SerialNumber, "reason", r.Reason)
	}
	return errors.Join(errs...)
}
