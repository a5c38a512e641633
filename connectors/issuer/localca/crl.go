package localca

import (
	"context"
	"crypto/x509"
	"fmt"
	"math/big"
	"time"

	"github.com/certctl/certctl/connectors/issuer"
)

// CRL signs, with the intermediate, a DER CRL of revoked valid from
// thisUpdate to nextUpdate with CRL number number (non-negative, at most 20
// octets; the caller keeps it increasing). Each entry carries its
// revocation time and, unless unspecified, its reason code; the CRL carries
// the intermediate's key id as its AuthorityKeyId. A serial listed twice, a
// zero revocation time or an invalid reason is a *issuer.RequestError.
func (i *Issuer) CRL(ctx context.Context, revoked []issuer.RevokedSerial, thisUpdate, nextUpdate time.Time, number *big.Int) ([]byte, error) {
	if err := checkCRLParams(ctx, thisUpdate, nextUpdate, number); err != nil {
		return nil, err
	}

	entries := make([]x509.RevocationListEntry, 0, len(revoked))
	seen := make(map[string]struct{}, len(revoked))
	for n, r := range revoked {
		if err := issuer.CheckSerial(r.Serial); err != nil {
			return nil, fmt.Errorf("localca: CRL entry %d: %w", n, err)
		}
		key := string(r.Serial.Bytes())
		if _, dup := seen[key]; dup {
			return nil, &issuer.RequestError{Field: "revoked", Reason: fmt.Sprintf("serial %s is listed twice", issuer.FormatSerial(r.Serial))}
		}
		seen[key] = struct{}{}
		if r.RevokedAt.IsZero() {
			return nil, &issuer.RequestError{Field: "revoked", Reason: fmt.Sprintf("serial %s has no revocation time", issuer.FormatSerial(r.Serial))}
		}
		if !r.Reason.Valid() {
			return nil, &issuer.RequestError{Field: "revoked", Reason: fmt.Sprintf("serial %s has invalid reason code %d", issuer.FormatSerial(r.Serial), int(r.Reason))}
		}
		entries = append(entries, x509.RevocationListEntry{
			SerialNumber:   r.Serial,
			RevocationTime: r.RevokedAt.UTC(),
			ReasonCode:     int(r.Reason), // 0 (unspecified) omits the extension, as RFC 5280 asks
		})
	}
	tmpl := &x509.RevocationList{
		RevokedCertificateEntries: entries,
		Number:                    number,
		ThisUpdate:                thisUpdate.UTC(),
		NextUpdate:                nextUpdate.UTC(),
	}
	der, err := x509.CreateRevocationList(i.rand, tmpl, i.inter, i.signer)
	if err != nil {
		return nil, fmt.Errorf("localca: sign CRL: %w", err)
	}
	return der, nil
}

// RootCRL signs, with the root, the DER CRL that covers the intermediate,
// valid from thisUpdate to nextUpdate with CRL number number. It lists no
// serial: the intermediate is made once with the CA and never re-issued, so
// the root has signed no other certificate, and a CA whose intermediate
// must go is replaced by a new issuer. The root's key is opened from the
// sealed material for this signature and dropped after it. Relying parties
// that check the whole chain (openssl verify -crl_check_all) need it; the
// intermediate names where it is served when the CA was made with
// public_url.
func (i *Issuer) RootCRL(ctx context.Context, thisUpdate, nextUpdate time.Time, number *big.Int) ([]byte, error) {
	if err := checkCRLParams(ctx, thisUpdate, nextUpdate, number); err != nil {
		return nil, err
	}
	rootKey, err := i.rootMaterial.openKey(i.kek, i.cfg.ID, roleRoot, i.root)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.RevocationList{
		Number:     number,
		ThisUpdate: thisUpdate.UTC(),
		NextUpdate: nextUpdate.UTC(),
	}
	der, err := x509.CreateRevocationList(i.rand, tmpl, i.root, rootKey)
	if err != nil {
		return nil, fmt.Errorf("localca: sign the root's CRL: %w", err)
	}
	return der, nil
}

func checkCRLParams(ctx context.Context, thisUpdate, nextUpdate time.Time, number *big.Int) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if number == nil || number.Sign() < 0 || number.BitLen() > 159 {
		return &issuer.RequestError{Field: "number", Reason: "CRL number must be set, non-negative and at most 20 octets"}
	}
	if thisUpdate.IsZero() {
		return &issuer.RequestError{Field: "this_update", Reason: "must be set"}
	}
	if !nextUpdate.After(thisUpdate) {
		return &issuer.RequestError{Field: "next_update", Reason: "must be after this_update"}
	}
	return nil
}
