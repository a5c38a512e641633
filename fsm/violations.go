package fsm

import (
	"bytes"

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
	seen := map[string]bool{}
	for _, v := range p.Violations {
		// An id may be reused by the certificate whose violations it replaces.
		taken := t.exists(bucketViolations, v.ID) && !hasKey(t.bucket(bucketViolCert), compound(p.CertificateID, v.ID))
		if seen[v.ID] || taken {
			return nil, conflictf("policy_violation", v.ID, "policy violation %q already exists", v.ID)
		}
		seen[v.ID] = true
		if err := t.requireExists(bucketPolicyRules, "policy rule", "rule_id", v.RuleID); err != nil {
			return nil, err
		}
	}
	viol, byCert, byRule := t.bucket(bucketViolations), t.bucket(bucketViolCert), t.bucket(bucketViolRule)
	pfx := prefix(p.CertificateID)
	var old [][]byte
	c := byCert.Cursor()
	for k, _ := c.Seek(pfx); k != nil && bytes.HasPrefix(k, pfx); k, _ = c.Next() {
		old = append(old, k)
	}
	for _, k := range old {
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
	for _, v := range p.Violations {
		v.CreatedAt = t.now()
		putJSON(viol, []byte(v.ID), &v)
		must(byCert.Put(compound(v.CertificateID, v.ID), nil))
		must(byRule.Put(compound(v.RuleID, v.ID), nil))
		t.moveRefs(nil, []reference{{bucket: bucketPolicyRules, id: v.RuleID}})
		t.addCount(1, string(bucketViolations))
	}
	if len(old) > 0 || len(p.Violations) > 0 {
		ids := make([]string, 0, len(p.Violations))
		for _, v := range p.Violations {
			ids = append(ids, v.ID)
		}
		t.audit("policy_evaluated", "certificate", p.CertificateID, map[string]any{"violations": ids, "cleared": len(old)})
	}
	return len(p.Violations), nil
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
