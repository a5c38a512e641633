package fsm

import (
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/certctl/certctl/api/wire"
)

func (r *Target) recordID() string { return r.ID }

// uniqueName is the pair (agent_id, name): the original's unique constraint.
func (r *Target) uniqueName() string { return r.AgentID + "\x00" + r.Name }
func (r *Target) references() []reference {
	return []reference{{bucketAgents, "agent", "agent_id", r.AgentID}}
}
func (r *Target) stamp(created, updated time.Time) { r.CreatedAt, r.UpdatedAt = created, updated }
func (r *Target) createdAt() time.Time             { return r.CreatedAt }

// auditDetails leaves the config out: it may hold credentials.
func (r *Target) auditDetails() any {
	return map[string]any{"name": r.Name, "type": r.Type, "agent_id": r.AgentID, "enabled": r.Enabled}
}

// checkText refuses, in the target's name, what CheckText refuses.
func (r *Target) checkText() error {
	return ValidNameChars("name", r.Name)
}

func (r *Target) validate() error {
	if err := ValidID("id", r.ID); err != nil {
		return err
	}
	if err := validName("name", r.Name); err != nil {
		return err
	}
	typ, err := validEnum("type", r.Type, TargetTypes, true)
	if err != nil {
		return err
	}
	r.Type = typ
	if err := optionalID("agent_id", r.AgentID); err != nil {
		return err
	}
	return validObject("config", r.Config)
}

// CreateTarget adds a deployment target; its agent must exist.
type CreateTarget struct {
	Target Target `json:"target"`
}

func (CreateTarget) CommandType() CommandType     { return CommandCreateTarget }
func (p *CreateTarget) Validate() error           { return p.Target.validate() }
func (p *CreateTarget) checkText() error          { return p.Target.checkText() }
func (p *CreateTarget) apply(t *txn) (any, error) { return createRecord(t, targetsTable, &p.Target) }

// UpdateTarget replaces a target's fields. ClearedSecrets names the
// secret fields of its config the update cleared because the target's
// agent or where its secrets go changed without them being given again
// (the proposer knows the connectors' secret fields; the state machine does
// not): the change is audited as target_secrets_cleared.
type UpdateTarget struct {
	Target         Target   `json:"target"`
	ClearedSecrets []string `json:"cleared_secrets,omitempty"`
}

func (UpdateTarget) CommandType() CommandType { return CommandUpdateTarget }
func (p *UpdateTarget) Validate() error {
	if err := p.Target.validate(); err != nil {
		return err
	}
	return validClearedSecrets(p.ClearedSecrets, p.Target.Config)
}
func (p *UpdateTarget) checkText() error { return p.Target.checkText() }
func (p *UpdateTarget) apply(t *txn) (any, error) {
	v, err := updateRecord(t, targetsTable, &p.Target)
	if err == nil && len(p.ClearedSecrets) > 0 {
		t.audit("target_secrets_cleared", "target", p.Target.ID, map[string]any{"fields": p.ClearedSecrets, "agent_id": p.Target.AgentID})
	}
	return v, err
}

// DeleteTarget removes a target no certificate is mapped to.
type DeleteTarget struct {
	ID string `json:"id"`
}

func (DeleteTarget) CommandType() CommandType     { return CommandDeleteTarget }
func (p *DeleteTarget) Validate() error           { return ValidID("id", p.ID) }
func (p *DeleteTarget) apply(t *txn) (any, error) { return deleteRecord[Target](t, targetsTable, p.ID) }

// Target returns the target with id.
func (f *FSM) Target(id string) (*Target, error) { return get[Target](f, targetsTable, id) }

// TargetFilter selects targets; empty fields match everything.
type TargetFilter struct {
	AgentID string
	Type    wire.TargetType
}

// Targets lists targets in id order.
func (f *FSM) Targets(flt TargetFilter, p Page) (List[Target], error) {
	var match func(*Target) bool
	if flt.AgentID != "" || flt.Type != "" {
		match = func(r *Target) bool {
			return (flt.AgentID == "" || r.AgentID == flt.AgentID) && (flt.Type == "" || r.Type == flt.Type)
		}
	}
	var out List[Target]
	err := f.view(func(tx *bolt.Tx) (err error) {
		out, err = scanBucket(tx, bucketTargets, p, match)
		return err
	})
	return out, err
}
