package fsm

import (
	"time"

	bolt "go.etcd.io/bbolt"
)

func (r *PolicyRule) recordID() string                 { return r.ID }
func (r *PolicyRule) uniqueName() string               { return r.Name }
func (r *PolicyRule) references() []reference          { return nil }
func (r *PolicyRule) stamp(created, updated time.Time) { r.CreatedAt, r.UpdatedAt = created, updated }
func (r *PolicyRule) createdAt() time.Time             { return r.CreatedAt }
func (r *PolicyRule) auditDetails() any                { return r }

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

// CreatePolicyRule adds a policy rule.
type CreatePolicyRule struct {
	Rule PolicyRule `json:"rule"`
}

func (CreatePolicyRule) CommandType() CommandType { return CommandCreatePolicyRule }
func (p *CreatePolicyRule) Validate() error       { return p.Rule.validate() }
func (p *CreatePolicyRule) apply(t *txn) (any, error) {
	return createRecord(t, policyRulesTable, &p.Rule)
}

// UpdatePolicyRule replaces a policy rule's fields.
type UpdatePolicyRule struct {
	Rule PolicyRule `json:"rule"`
}

func (UpdatePolicyRule) CommandType() CommandType { return CommandUpdatePolicyRule }
func (p *UpdatePolicyRule) Validate() error       { return p.Rule.validate() }
func (p *UpdatePolicyRule) apply(t *txn) (any, error) {
	return updateRecord(t, policyRulesTable, &p.Rule)
}

// DeletePolicyRule removes a rule that has no recorded violations.
type DeletePolicyRule struct {
	ID string `json:"id"`
}

func (DeletePolicyRule) CommandType() CommandType { return CommandDeletePolicyRule }
func (p *DeletePolicyRule) Validate() error       { return ValidID("id", p.ID) }
func (p *DeletePolicyRule) apply(t *txn) (any, error) {
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
