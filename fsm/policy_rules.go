package fsm

import (
	"bytes"
	"time"

	bolt "go.etcd.io/bbolt"
)

func (r *PolicyRule) recordID() string                 { return r.ID }
func (r *PolicyRule) uniqueName() string               { return r.Name }
func (r *PolicyRule) references() []reference          { return nil }
func (r *PolicyRule) stamp(created, updated time.Time) { r.CreatedAt, r.UpdatedAt = created, updated }
func (r *PolicyRule) createdAt() time.Time             { return r.CreatedAt }
func (r *PolicyRule) auditDetails() any                { return r }

// checkText refuses, in the rule's name, what CheckText refuses.
func (r *PolicyRule) checkText() error {
	return ValidNameChars("name", r.Name)
}

func (r *PolicyRule) validate() error {
	if err := ValidID("id", r.ID); err != nil {
		return err
	}
	if err := validName("name", r.Name); err != nil {
		return err
	}
	typ, err := validEnum("type", r.Type, PolicyRuleTypes, true)
	if err != nil {
		return err
	}
	r.Type = typ
	sev, err := validEnum("severity", r.Severity, Severities, false)
	if err != nil {
		return err
	}
	r.Severity = sev
	return r.validateConfig()
}

// CreatePolicyRule adds a policy rule and has the rules evaluated again
// against every certificate not archived: what breaks the new rule is
// reported, never refused, since no certificate changed. With Sweep the
// evaluation is a sweep in batches the leader proposes (ReevaluatePolicies);
// without it, as every entry written before sweeps existed, it happens in
// this entry, so that replaying an old log gives the state it gave then.
type CreatePolicyRule struct {
	Rule  PolicyRule `json:"rule"`
	Sweep bool       `json:"sweep,omitempty"`
}

func (CreatePolicyRule) CommandType() CommandType { return CommandCreatePolicyRule }
func (p *CreatePolicyRule) Validate() error       { return p.Rule.validate() }
func (p *CreatePolicyRule) checkText() error      { return p.Rule.checkText() }
func (p *CreatePolicyRule) apply(t *txn) (any, error) {
	out, err := createRecord(t, policyRulesTable, &p.Rule)
	if err == nil {
		rulesChanged(t, p.Sweep)
	}
	return out, err
}

// UpdatePolicyRule replaces a policy rule's fields and, as CreatePolicyRule,
// has the rules evaluated again against every certificate (Sweep: in
// batches; without it, in this entry).
type UpdatePolicyRule struct {
	Rule  PolicyRule `json:"rule"`
	Sweep bool       `json:"sweep,omitempty"`
}

func (UpdatePolicyRule) CommandType() CommandType { return CommandUpdatePolicyRule }
func (p *UpdatePolicyRule) Validate() error       { return p.Rule.validate() }
func (p *UpdatePolicyRule) checkText() error      { return p.Rule.checkText() }
func (p *UpdatePolicyRule) apply(t *txn) (any, error) {
	out, err := updateRecord(t, policyRulesTable, &p.Rule)
	if err == nil {
		rulesChanged(t, p.Sweep)
	}
	return out, err
}

// DeletePolicyRule removes a rule and the violations it produced: with the
// rule gone they no longer hold, and the audit trail keeps both.
type DeletePolicyRule struct {
	ID string `json:"id"`
}

func (DeletePolicyRule) CommandType() CommandType { return CommandDeletePolicyRule }
func (p *DeletePolicyRule) Validate() error       { return ValidID("id", p.ID) }
func (p *DeletePolicyRule) apply(t *txn) (any, error) {
	if _, err := getRecord[PolicyRule](t.tx, policyRulesTable, p.ID); err != nil {
		return nil, err
	}
	var cleared []string
	viol, byCert, byRule := t.bucket(bucketViolations), t.bucket(bucketViolCert), t.bucket(bucketViolRule)
	pfx := prefix(p.ID)
	var keys [][]byte
	c := byRule.Cursor()
	for k, _ := c.Seek(pfx); k != nil && bytes.HasPrefix(k, pfx); k, _ = c.Next() {
		keys = append(keys, k)
	}
	for _, k := range keys {
		id := k[len(pfx):]
		var v PolicyViolation
		if found, err := getJSON(viol, id, &v); err == nil && found {
			must(byCert.Delete(compound(v.CertificateID, v.ID)))
			cleared = append(cleared, v.CertificateID)
		}
		must(viol.Delete(id))
		must(byRule.Delete(k))
		t.moveRefs([]reference{{bucket: bucketPolicyRules, id: p.ID}}, nil)
		t.addCount(-1, string(bucketViolations))
	}
	if len(cleared) > 0 {
		t.audit("policy_violations_cleared", "policy_rule", p.ID, map[string]any{"certificate_ids": cleared})
	}
	return deleteRecord[PolicyRule](t, policyRulesTable, p.ID)
}

// PolicyRule returns the policy rule with id.
func (f *FSM) PolicyRule(id string) (*PolicyRule, error) {
	return get[PolicyRule](f, policyRulesTable, id)
}

// PolicyRules lists policy rules in id order.
func (f *FSM) PolicyRules(p Page) (List[PolicyRule], error) {
	var out List[PolicyRule]
	err := f.view(func(tx *bolt.Tx) (err error) {
		out, err = scanBucket[PolicyRule](tx, bucketPolicyRules, p, nil)
		return err
	})
	return out, err
}
