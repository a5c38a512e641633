package localca

import (
	"context"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/certctl/certctl/connectors/issuer"
)

// leafBackdate absorbs clock skew between this node and the hosts that check
// a new certificate.
const leafBackdate = time.Minute

// ErrCAExpired reports an intermediate too close to its end to issue from.
var ErrCAExpired = errors.New("localca: intermediate CA expired")

func (i *Issuer) issue(ctx context.Context, req issuer.IssuanceRequest) (*issuer.IssuanceResult, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	names, err := issuer.ParseNames(req.CommonName, req.SANs)
	if err != nil {
		return nil, err
	}
	if err := i.checkNames(req.CommonName, names); err != nil {
		return nil, err
	}
	csr, err := issuer.VerifyCSR(req.CSRPEM, req.CommonName, names)
	if err != nil {
		return nil, err
	}
	serial := req.Serial
	if serial == nil {
		if serial, err = issuer.NewSerial(i.rand); err != nil {
			return nil, fmt.Errorf("localca: %w", err)
		}
	} else if err := issuer.CheckSerial(serial); err != nil {
		return nil, err
	}
	notBefore, notAfter, err := i.validity(req)
	if err != nil {
		return nil, err
	}
	ski, err := subjectKeyID(csr.PublicKey)
	if err != nil {
		return nil, err
	}

	usage := x509.KeyUsageDigitalSignature
	if _, ok := csr.PublicKey.(*rsa.PublicKey); ok {
		usage |= x509.KeyUsageKeyEncipherment // RSA key exchange (TLS 1.2 without ECDHE)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: req.CommonName},
		NotBefore:             notBefore,
		NotAfter:              notAfter,
		KeyUsage:              usage,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		BasicConstraintsValid: true,
		IsCA:                  false,
		SubjectKeyId:          ski,
		// AuthorityKeyId is the intermediate's SubjectKeyId (crypto/x509).
		DNSNames:       names.DNSNames,
		IPAddresses:    names.IPAddresses,
		EmailAddresses: names.EmailAddresses,
		URIs:           names.URIs,
	}
	i.cfg.applyLeaf(tmpl)
	der, err := x509.CreateCertificate(i.rand, tmpl, i.inter, csr.PublicKey, i.signer)
	if err != nil {
		return nil, fmt.Errorf("localca: sign certificate: %w", err)
	}
	fp := sha256.Sum256(der)
	serialHex := issuer.FormatSerial(serial)
	return &issuer.IssuanceResult{
		CertPEM:           certPEM(der),
		ChainPEM:          i.chainPEM,
		SerialNumber:      serialHex,
		NotBefore:         notBefore,
		NotAfter:          notAfter,
		FingerprintSHA256: hex.EncodeToString(fp[:]),
		OrderID:           serialHex,
	}, nil
}

// validity returns a leaf's dates, in UTC to the second as the certificate
// encodes them: the request's, else from the clock (backdated leafBackdate)
// for the request's Validity or validity_days; then limited to the
// intermediate's own validity. A lifetime above max_validity_days is
// refused, never silently shortened: the caller asked for something this CA
// does not sign, and is told which setting says so. (The backdating is not
// counted: it absorbs clock skew.)
func (i *Issuer) validity(req issuer.IssuanceRequest) (notBefore, notAfter time.Time, err error) {
	if req.Validity < 0 {
		return time.Time{}, time.Time{}, &issuer.RequestError{Field: "validity", Reason: "must not be negative"}
	}
	if req.Validity > MaxValidityDays*24*time.Hour {
		return time.Time{}, time.Time{}, &issuer.RequestError{Field: "validity", Reason: fmt.Sprintf("%s exceeds %d days", req.Validity, MaxValidityDays)}
	}
	now := i.now()
	start, notBefore := req.NotBefore, req.NotBefore
	if start.IsZero() {
		start, notBefore = now, now.Add(-leafBackdate)
	}
	notAfter = req.NotAfter
	if notAfter.IsZero() {
		lifetime := req.Validity
		if lifetime == 0 {
			lifetime = time.Duration(i.cfg.ValidityDays) * 24 * time.Hour
		}
		notAfter = start.Add(lifetime)
	}
	if limit := time.Duration(i.cfg.MaxValidityDays) * 24 * time.Hour; notAfter.Sub(start) > limit {
		field := "validity"
		if !req.NotAfter.IsZero() {
			field = "not_after"
		}
		return time.Time{}, time.Time{}, &issuer.RequestError{Field: field, Reason: fmt.Sprintf(
			"a lifetime of %s days exceeds this CA's max_validity_days %d; ask for at most %d days, or raise max_validity_days in the issuer's config",
			strconv.FormatFloat(notAfter.Sub(start).Hours()/24, 'f', -1, 64), i.cfg.MaxValidityDays, i.cfg.MaxValidityDays)}
	}
	notBefore, notAfter = notBefore.UTC().Truncate(time.Second), notAfter.UTC().Truncate(time.Second)
	if !notAfter.After(notBefore) {
		return time.Time{}, time.Time{}, &issuer.RequestError{Field: "not_after", Reason: fmt.Sprintf("%s is not after not_before %s", notAfter.Format(time.RFC3339), notBefore.Format(time.RFC3339))}
	}

	if notBefore.Before(i.inter.NotBefore) {
		notBefore = i.inter.NotBefore
	}
	if notAfter.After(i.inter.NotAfter) {
		notAfter = i.inter.NotAfter
	}
	if !now.Before(i.inter.NotAfter) || !notAfter.After(notBefore) {
		return time.Time{}, time.Time{}, fmt.Errorf("%w: %q is valid from %s to %s", ErrCAExpired,
			i.inter.Subject.CommonName, i.inter.NotBefore.Format(time.RFC3339), i.inter.NotAfter.Format(time.RFC3339))
	}
	return notBefore, notAfter, nil
}
