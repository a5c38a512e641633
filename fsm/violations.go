package fsm

import (
	"bytes"
	"time"

	bolt "go.etcd.io/bbolt"
)

func (v *PolicyViolation) validate() error {
	if err := ValidID("id", v.ID); err != nil {
		return err
	}
	if err := ValidID("certificate_id", v.CertificateID); err != nil {
		return err
	}
	if err := ValidID("rule_id", v.RuleID); err != nil {
		return err
	}
	if err := ValidText("message", v.Message, 4096, true); err != nil {
		return err
	}
	sev, err := validEnum("severity", v.Severity, Severities, true)
	v.Severity = sev
	return err
}

// RecordViolations replaces the violations of one certificate with the result
// of evaluating the rules again: an empty list clears them.
type RecordViolations struct {
	CertificateID string            `json:"certificate_id"`
	Violations    []PolicyViolation `json:"violations"`
}

func (RecordViolations) CommandType() CommandType { return CommandRecordViolations }
func (p *RecordViolations) Validate() error {
	if err := ValidID("certificate_id", p.CertificateID); err != nil {
		return err
	}
	if len(p.Violations) > MaxBatch {
		return invalidf("violations", "at most %d violations are allowed", MaxBatch)
	}
	for i := range p.Violations {
		if err := p.Violations[i].validate(); err != nil {
			return err
		}
		if p.Violations[i].CertificateID != p.CertificateID {
			return invalidf("certificate_id", "violation %s is for another certificate", p.Violations[i].ID)
		}
	}
	return nil
}
func (p *RecordViolations) apply(t *txn) (any, error) {
	if err := t.requireExists(bucketCertificates, "certificate", "certificate_id", p.CertificateID); err != nil {
		return nil, err
	}
	if err := checkViolationIDs(t, p.CertificateID, p.Violations); err != nil {
		return nil, err
	}
	for _, v := range p.Violations {
		if err := t.requireExists(bucketPolicyRules, "policy rule", "rule_id", v.RuleID); err != nil {
			return nil, err
		}
	}
	replaceViolations(t, p.CertificateID, p.Violations)
	return len(p.Violations), nil
}

// replaceViolations replaces the violations of certificate certID with vs,
// whose ids the caller has checked. A violation of a rule the certificate
// already broke keeps its created_at; the others are new, stamped with the
// command's time and returned. Nothing is written, and no event, when the
// set is unchanged; otherwise one policy_evaluated event records the change.
func replaceViolations(t *txn, certID string, vs []PolicyViolation) (added []PolicyViolation) {
	viol, byCert, byRule := t.bucket(bucketViolations), t.bucket(bucketViolCert), t.bucket(bucketViolRule)
	pfx := prefix(certID)
	var oldKeys [][]byte
	var old []PolicyViolation
	c := byCert.Cursor()
	for k, _ := c.Seek(pfx); k != nil && bytes.HasPrefix(k, pfx); k, _ = c.Next() {
		oldKeys = append(oldKeys, k)
		var v PolicyViolation
		if found, err := getJSON(viol, k[len(pfx):], &v); err == nil && found {
			old = append(old, v)
		}
	}
	since := map[string]time.Time{}
	for _, v := range old {
		if at, ok := since[v.RuleID]; !ok || v.CreatedAt.Before(at) {
			since[v.RuleID] = v.CreatedAt
		}
	}
	next := make([]PolicyViolation, len(vs))
	for i, v := range vs {
		if at, ok := since[v.RuleID]; ok {
			v.CreatedAt = at
		} else {
			v.CreatedAt = t.now()
			added = append(added, v)
		}
		next[i] = v
	}
	if len(old) == len(oldKeys) && sameViolations(old, next) {
		return nil
	}
	for _, k := range oldKeys {
		id := k[len(pfx):]
		var v PolicyViolation
		if _, err := getJSON(viol, id, &v); err == nil {
			must(byRule.Delete(compound(v.RuleID, v.ID)))
			t.moveRefs([]reference{{bucket: bucketPolicyRules, id: v.RuleID}}, nil)
		}
		must(viol.Delete(id))
		must(byCert.Delete(k))
		t.addCount(-1, string(bucketViolations))
	}
	ids := make([]string, 0, len(next))
	for i := range next {
		v := &next[i]
		putJSON(viol, []byte(v.ID), v)
		must(byCert.Put(compound(v.CertificateID, v.ID), nil))
		must(byRule.Put(compound(v.RuleID, v.ID), nil))
		t.moveRefs(nil, []reference{{bucket: bucketPolicyRules, id: v.RuleID}})
		t.addCount(1, string(bucketViolations))
		ids = append(ids, v.ID)
	}
	t.audit("policy_evaluated", "certificate", certID, map[string]any{"violations": ids, "cleared": len(oldKeys)})
	return added
}

// sameViolations reports whether a (in id order, as stored) and b hold the
// same violations.
func sameViolations(a, b []PolicyViolation) bool {
	if len(a) != len(b) {
		return false
	}
	byID := make(map[string]PolicyViolation, len(a))
	for _, v := range a {
		byID[v.ID] = v
	}
	for _, v := range b {
		o, ok := byID[v.ID]
		if !ok || o.CertificateID != v.CertificateID || o.RuleID != v.RuleID || o.Message != v.Message ||
			o.Severity != v.Severity || !o.CreatedAt.Equal(v.CreatedAt) {
			return false
		}
		delete(byID, v.ID)
	}
	return len(byID) == 0
}

// ViolationFilter selects violations; empty fields match everything.
type ViolationFilter struct {
	CertificateID string
	RuleID        string
}

// Violations lists policy violations by certificate, by rule, or all.
func (f *FSM) Violations(flt ViolationFilter, p Page) (List[PolicyViolation], error) {
	var out List[PolicyViolation]
	err := f.view(func(tx *bolt.Tx) (err error) {
		switch {
		case flt.CertificateID != "":
			out, err = scanIndex[PolicyViolation](tx, bucketViolCert, prefix(flt.CertificateID), 0, bucketViolations, p,
				func(v *PolicyViolation) bool { return flt.RuleID == "" || v.RuleID == flt.RuleID })
		case flt.RuleID != "":
			out, err = scanIndex[PolicyViolation](tx, bucketViolRule, prefix(flt.RuleID), 0, bucketViolations, p, nil)
		default:
			out, err = scanBucket[PolicyViolation](tx, bucketViolations, p, nil)
		}
		return err
	})
	return out, err
}
