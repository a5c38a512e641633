package issuance

import (
	"context"
	"fmt"
	"math/big"
	"time"

	"github.com/certctl/certctl/connectors/issuer"
	"github.com/certctl/certctl/fsm"
)

// CRLValidity is how long a CRL served by Service.CRL is valid; a cached
// CRL is signed again once half of it has passed.
const CRLValidity = 7 * 24 * time.Hour

type cachedCRL struct {
	revocations int
	thisUpdate  time.Time
	der         []byte
}

// CRL returns issuer issuerID's current CRL (DER), listing every serial
// revoked in the state. It is signed again when a revocation arrives or
// half of its CRLValidity has passed; its number is the raft index it
// reflects, which only grows.
func (s *Service) CRL(ctx context.Context, issuerID string) ([]byte, error) {
	revs, err := s.state.Revocations(issuerID)
	if err != nil {
		return nil, err
	}
	now := s.cfg.Now()
	s.mu.Lock()
	c, ok := s.crls[issuerID]
	s.mu.Unlock()
	if ok && c.revocations == len(revs) && now.Sub(c.thisUpdate) < CRLValidity/2 {
		return c.der, nil
	}
	iss, rec, err := s.build(ctx, issuerID, false)
	if err != nil {
		return nil, err
	}
	signer, ok := iss.(issuer.CRLSigner)
	if !ok {
		return nil, &fsm.Error{Code: fsm.CodeState, Resource: "issuer", ID: rec.ID, Message: "issuer " + rec.ID + " (" + string(rec.Type) + ") does not sign its own CRL"}
	}
	list := make([]issuer.RevokedSerial, 0, len(revs))
	for _, r := range revs {
		serial, err := issuer.ParseSerial(r.SerialNumber)
		if err != nil {
			return nil, fmt.Errorf("issuance: revoked serial %q of issuer %s: %w", r.SerialNumber, issuerID, err)
		}
		reason, err := issuer.ParseReason(r.Reason)
		if err != nil {
			reason = issuer.ReasonUnspecified
		}
		list = append(list, issuer.RevokedSerial{Serial: serial, RevokedAt: r.RevokedAt, Reason: reason})
	}
	number := new(big.Int).SetUint64(s.state.AppliedIndex())
	thisUpdate := now.UTC().Truncate(time.Second)
	der, err := signer.CRL(ctx, list, thisUpdate, thisUpdate.Add(CRLValidity), number)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	s.crls[issuerID] = cachedCRL{revocations: len(revs), thisUpdate: thisUpdate, der: der}
	s.mu.Unlock()
	return der, nil
}

// CAChain returns issuer issuerID's CA certificates in PEM, the issuing CA
// first and the root last.
func (s *Service) CAChain(ctx context.Context, issuerID string) (string, error) {
	iss, rec, err := s.build(ctx, issuerID, false)
	if err != nil {
		return "", err
	}
	p, ok := iss.(issuer.ChainProvider)
	if !ok {
		return "", &fsm.Error{Code: fsm.CodeState, Resource: "issuer", ID: rec.ID, Message: "issuer " + rec.ID + " (" + string(rec.Type) + ") does not publish its CA chain"}
	}
	return p.CAChainPEM()
}
