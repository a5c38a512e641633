package issuance

import (
	"context"
	"encoding/pem"
	"fmt"

	"github.com/certctl/certctl/connectors/issuer"
	"github.com/certctl/certctl/fsm"
)

// RenewalInfo asks the issuer of cert when certPEM, its current
// certificate, should renew (ACME Renewal Information, RFC 9773). An
// issuer whose connector has no such capability (the Local CA), or whose
// CA serves none, gives an error matching issuer.ErrNoRenewalInfo; an
// issuer without material yet is not built for it (nothing is written).
func (s *Service) RenewalInfo(ctx context.Context, cert fsm.Certificate, certPEM string) (*issuer.RenewalInfo, error) {
	// Without material (a Local CA's CA, an ACME account) the issuer has
	// issued nothing through this cluster, so there is nothing to ask; a
	// build would answer "not made yet" and the loop would warn each pass.
	if m, err := s.material(cert.IssuerID); err != nil {
		return nil, err
	} else if m == nil {
		return nil, fmt.Errorf("issuance: issuer %s has no material yet: %w", cert.IssuerID, issuer.ErrNoRenewalInfo)
	}
	iss, _, err := s.build(ctx, cert.IssuerID, false)
	if err != nil {
		return nil, err
	}
	ri, ok := iss.(issuer.RenewalInformer)
	if !ok {
		return nil, fmt.Errorf("issuance: issuer %s: %w", cert.IssuerID, issuer.ErrNoRenewalInfo)
	}
	return ri.RenewalInfo(ctx, certPEM)
}

// order asks iss for the certificate of job: a Renewal names the
// certificate it replaces (cert's latest version), which an ACME issuer
// passes on as the order's "replaces" (RFC 9773 §5); others treat both
// alike.
func (s *Service) order(ctx context.Context, iss issuer.Issuer, job fsm.Job, cert fsm.Certificate, req issuer.IssuanceRequest) (*issuer.IssuanceResult, error) {
	if job.Type != fsm.JobRenewal {
		return iss.IssueCertificate(ctx, req)
	}
	rr := issuer.RenewalRequest{IssuanceRequest: req}
	if v, err := s.state.LatestCertificateVersion(cert.ID); err == nil {
		rr.PreviousSerial = v.SerialNumber
		if block, _ := pem.Decode([]byte(v.PEMChain)); block != nil {
			rr.PreviousCertPEM = string(pem.EncodeToMemory(block))
		}
	}
	return iss.RenewCertificate(ctx, rr)
}
