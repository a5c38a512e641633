package issuance

import (
	"context"
	"crypto/sha256"
	"encoding/pem"
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
	material    [sha256.Size]byte // of the material that signed it (root CRLs)
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

// RootCRL returns the CRL (DER) in which issuer issuerID's root covers the
// issuing CA it signed, for relying parties that check revocation along
// the whole chain; the issuer must be an issuer.RootCRLSigner (the Local
// CA). Its number is the raft index, and it is signed again once half of
// its CRLValidity has passed: the root's key is opened only then.
func (s *Service) RootCRL(ctx context.Context, issuerID string) ([]byte, error) {
	material, err := s.material(issuerID)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(material) // a restore may bring other material
	now := s.cfg.Now()
	s.mu.Lock()
	c, ok := s.rootCRLs[issuerID]
	s.mu.Unlock()
	if ok && c.material == sum && now.Sub(c.thisUpdate) < CRLValidity/2 && !now.Before(c.thisUpdate) {
		return c.der, nil
	}
	iss, rec, err := s.build(ctx, issuerID, false)
	if err != nil {
		return nil, err
	}
	signer, ok := iss.(issuer.RootCRLSigner)
	if !ok {
		return nil, &fsm.Error{Code: fsm.CodeNotFound, Resource: "issuer", ID: rec.ID, Message: "issuer " + rec.ID + " (" + string(rec.Type) + ") has no root of its own that signs a CRL"}
	}
	number := new(big.Int).SetUint64(s.state.AppliedIndex())
	thisUpdate := now.UTC().Truncate(time.Second)
	der, err := signer.RootCRL(ctx, thisUpdate, thisUpdate.Add(CRLValidity), number)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	s.rootCRLs[issuerID] = cachedCRL{thisUpdate: thisUpdate, der: der, material: sum}
	s.mu.Unlock()
	return der, nil
}

// CA certificates CACert serves.
const (
	// CAIntermediate is the CA that signs the issuer's leaves.
	CAIntermediate = "intermediate"
	// CARoot is the top of the issuer's chain.
	CARoot = "root"
)

// CACert returns one CA certificate of issuer issuerID in DER, as an
// HTTP caIssuers location serves it (RFC 5280 4.2.2.1): which is
// CAIntermediate (the issuing CA, the first of CAChain) or CARoot (the
// last).
func (s *Service) CACert(ctx context.Context, issuerID, which string) ([]byte, error) {
	if which != CAIntermediate && which != CARoot {
		return nil, &fsm.Error{Code: fsm.CodeNotFound, Resource: "CA certificate", ID: which, Message: "no CA certificate " + which + ": ask for " + CAIntermediate + " or " + CARoot}
	}
	chain, err := s.CAChain(ctx, issuerID)
	if err != nil {
		return nil, err
	}
	var certs [][]byte
	for rest := []byte(chain); ; {
		var b *pem.Block
		if b, rest = pem.Decode(rest); b == nil {
			break
		}
		if b.Type == "CERTIFICATE" {
			certs = append(certs, b.Bytes)
		}
	}
	if len(certs) == 0 {
		return nil, fmt.Errorf("issuance: issuer %s published no CA certificate", issuerID)
	}
	if which == CARoot {
		return certs[len(certs)-1], nil
	}
	return certs[0], nil
}
