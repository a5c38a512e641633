package fsm

import (
	"time"

	bolt "go.etcd.io/bbolt"
)

func (r *Issuer) recordID() string                 { return r.ID }
func (r *Issuer) uniqueName() string               { return r.Name }
func (r *Issuer) references() []reference          { return nil }
func (r *Issuer) stamp(created, updated time.Time) { r.CreatedAt, r.UpdatedAt = created, updated }
func (r *Issuer) createdAt() time.Time             { return r.CreatedAt }

// auditDetails leaves the config out: it may hold credentials.
func (r *Issuer) auditDetails() any {
	return map[string]any{"name": r.Name, "type": r.Type, "enabled": r.Enabled}
}

// checkText refuses, in the issuer's name, what CheckText refuses.
func (r *Issuer) checkText() error {
	return ValidNameChars("name", r.Name)
}

func (r *Issuer) validate() error {
	if err := ValidID("id", r.ID); err != nil {
		return err
	}
	if err := validName("name", r.Name); err != nil {
		return err
	}
	typ, err := validEnum("type", r.Type, IssuerTypes, true)
	if err != nil {
		return err
	}
	r.Type = typ
	return validObject("config", r.Config)
}

// CreateIssuer adds an issuer.
type CreateIssuer struct {
	Issuer Issuer `json:"issuer"`
}

func (CreateIssuer) CommandType() CommandType     { return CommandCreateIssuer }
func (p *CreateIssuer) Validate() error           { return p.Issuer.validate() }
func (p *CreateIssuer) checkText() error          { return p.Issuer.checkText() }
func (p *CreateIssuer) apply(t *txn) (any, error) { return createRecord(t, issuersTable, &p.Issuer) }

// UpdateIssuer replaces an issuer's fields. ClearedSecrets names the
// secret fields of its config the update cleared because where they go
// (the CA's address, the roots that authenticate it) or the issuer's type
// changed without them being given again: audited as
// issuer_secrets_cleared.
type UpdateIssuer struct {
	Issuer         Issuer   `json:"issuer"`
	ClearedSecrets []string `json:"cleared_secrets,omitempty"`
}

func (UpdateIssuer) CommandType() CommandType { return CommandUpdateIssuer }
func (p *UpdateIssuer) Validate() error {
	if err := p.Issuer.validate(); err != nil {
		return err
	}
	return validClearedSecrets(p.ClearedSecrets, p.Issuer.Config)
}
func (p *UpdateIssuer) checkText() error { return p.Issuer.checkText() }
func (p *UpdateIssuer) apply(t *txn) (any, error) {
	v, err := updateRecord(t, issuersTable, &p.Issuer)
	if err == nil && len(p.ClearedSecrets) > 0 {
		t.audit("issuer_secrets_cleared", "issuer", p.Issuer.ID, map[string]any{"fields": p.ClearedSecrets})
	}
	return v, err
}

// DeleteIssuer removes an issuer no certificate uses.
type DeleteIssuer struct {
	ID string `json:"id"`
}

func (DeleteIssuer) CommandType() CommandType     { return CommandDeleteIssuer }
func (p *DeleteIssuer) Validate() error           { return ValidID("id", p.ID) }
func (p *DeleteIssuer) apply(t *txn) (any, error) { return deleteRecord[Issuer](t, issuersTable, p.ID) }

// Issuer returns the issuer with id.
func (f *FSM) Issuer(id string) (*Issuer, error) { return get[Issuer](f, issuersTable, id) }

// Issuers lists issuers in id order.
func (f *FSM) Issuers(p Page) (List[Issuer], error) {
	var out List[Issuer]
	err := f.view(func(tx *bolt.Tx) (err error) {
		out, err = scanBucket[Issuer](tx, bucketIssuers, p, nil)
		return err
	})
	return out, err
}
