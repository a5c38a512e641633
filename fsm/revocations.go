package fsm

import (
	"bytes"
	"encoding/json"
	"time"

	bolt "go.etcd.io/bbolt"
)

// RevocationReasons are RFC 5280's CRLReason names, in code order (7 is unused).
var RevocationReasons = Enum[string]{"unspecified", "keyCompromise", "caCompromise", "affiliationChanged",
	"superseded", "cessationOfOperation", "certificateHold", "removeFromCRL", "privilegeWithdrawn", "aACompromise"}

// RevocationReasonCode returns the CRLReason code of a reason name.
func RevocationReasonCode(name string) (int, bool) {
	canon, ok := RevocationReasons.Canonical(name)
	if !ok {
		return 0, false
	}
	for i, r := range RevocationReasons {
		if r == canon {
			if i >= 7 { // removeFromCRL is 8: code 7 is unused
				return i + 1, true
			}
			return i, true
		}
	}
	return 0, false
}

// Revocation is a revoked serial number, kept per issuer for its CRL.
type Revocation struct {
	IssuerID      string    `json:"issuer_id"`
	SerialNumber  string    `json:"serial_number"`
	CertificateID string    `json:"certificate_id"`
	VersionID     string    `json:"version_id"`
	Reason        string    `json:"reason"`
	RevokedAt     time.Time `json:"revoked_at"`
}

// RevokeCertificate revokes a certificate: status Revoked, and every version
// that has not expired (by the command's time) listed for its issuer's CRL.
type RevokeCertificate struct {
	CertificateID string `json:"certificate_id"`
	Reason        string `json:"reason"`
}

func (RevokeCertificate) CommandType() CommandType { return CommandRevokeCertificate }
func (p *RevokeCertificate) Validate() error {
	if err := ValidID("certificate_id", p.CertificateID); err != nil {
		return err
	}
	if p.Reason == "" {
		p.Reason = "unspecified"
	}
	r, err := validEnum("reason", p.Reason, RevocationReasons, true)
	p.Reason = r
	return err
}
func (p *RevokeCertificate) apply(t *txn) (any, error) {
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
	return revoke(t, old, p.Reason), nil
}

// checkVersionsReadable fails if a version of certificate certID cannot be
// decoded, so that revoke, which reads them while writing, never fails.
func checkVersionsReadable(t *txn, certID string) error {
	versions := t.bucket(bucketVersions)
	pfx := prefix(certID)
	c := t.bucket(bucketVerByCert).Cursor()
	for k, _ := c.Seek(pfx); k != nil && bytes.HasPrefix(k, pfx); k, _ = c.Next() {
		var v CertificateVersion
		if err := json.Unmarshal(versions.Get(k[len(pfx)+8:]), &v); err != nil {
			return unreadable(k, err)
		}
	}
	return nil
}

// revoke moves old to Revoked with reason and lists each of its versions
// not yet expired for its issuer's CRL, returning their serials. The caller
// has checked revocationRefusal and checkVersionsReadable.
func revoke(t *txn, old *Certificate, reason string) []string {
	var revoked []string
	versions := t.bucket(bucketVersions)
	pfx := prefix(old.ID)
	c := t.bucket(bucketVerByCert).Cursor()
	for k, _ := c.Seek(pfx); k != nil && bytes.HasPrefix(k, pfx); k, _ = c.Next() {
		var v CertificateVersion
		must(json.Unmarshal(versions.Get(k[len(pfx)+8:]), &v))
		if !v.NotAfter.After(t.now()) {
			continue
		}
		rev := Revocation{IssuerID: old.IssuerID, SerialNumber: v.SerialNumber, CertificateID: old.ID,
			VersionID: v.ID, Reason: reason, RevokedAt: t.now()}
		key := compound(old.IssuerID, v.SerialNumber)
		if t.bucket(bucketRevocations).Get(key) != nil {
			continue
		}
		putJSON(t.bucket(bucketRevocations), key, &rev)
		must(t.bucket(bucketRevByCert).Put(compound(old.ID, old.IssuerID, v.SerialNumber), nil))
		revoked = append(revoked, v.SerialNumber)
	}
	c2 := *old
	c2.Status, c2.StatusReason, c2.UpdatedAt = CertRevoked, reason, t.now()
	certStore{t}.put(old, &c2)
	t.audit("certificate_revoked", "certificate", old.ID, map[string]any{"reason": reason, "serial_numbers": revoked})
	return revoked
}

// Revocations returns the revoked serials of an issuer, in serial order.
func (f *FSM) Revocations(issuerID string) ([]Revocation, error) {
	var out []Revocation
	err := f.view(func(tx *bolt.Tx) error {
		pfx := prefix(issuerID)
		c := tx.Bucket(bucketRevocations).Cursor()
		for k, v := c.Seek(pfx); k != nil && bytes.HasPrefix(k, pfx); k, v = c.Next() {
			var r Revocation
			if err := json.Unmarshal(v, &r); err != nil {
				return unreadable(k, err)
			}
			out = append(out, r)
		}
		return nil
	})
	return out, err
}
