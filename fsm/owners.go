package fsm

import (
	"net/mail"
	"time"

	bolt "go.etcd.io/bbolt"
)

func (r *Owner) recordID() string { return r.ID }

// Owner names need not be unique: two people may share a name.
func (r *Owner) uniqueName() string { return "" }
func (r *Owner) references() []reference {
	return []reference{{bucketTeams, "team", "team_id", r.TeamID}}
}
func (r *Owner) stamp(created, updated time.Time) { r.CreatedAt, r.UpdatedAt = created, updated }
func (r *Owner) createdAt() time.Time             { return r.CreatedAt }
func (r *Owner) auditDetails() any {
	return map[string]string{"name": r.Name, "email": r.Email, "team_id": r.TeamID}
}

// checkText refuses, in the owner's name and e-mail, what CheckText refuses.
func (r *Owner) checkText() error {
	return nameFields("name", r.Name, "email", r.Email)
}

func (r *Owner) validate() error {
	if err := ValidID("id", r.ID); err != nil {
		return err
	}
	if err := validName("name", r.Name); err != nil {
		return err
	}
	if r.Email != "" {
		if err := ValidText("email", r.Email, MaxNameLength, true); err != nil {
			return err
		}
		if a, err := mail.ParseAddress(r.Email); err != nil || a.Address != r.Email {
			return invalidf("email", "email %q is not an address like name@example.com", r.Email)
		}
	}
	return optionalID("team_id", r.TeamID)
}

// CreateOwner adds an owner; its team must exist.
type CreateOwner struct {
	Owner Owner `json:"owner"`
}

func (CreateOwner) CommandType() CommandType     { return CommandCreateOwner }
func (p *CreateOwner) Validate() error           { return p.Owner.validate() }
func (p *CreateOwner) checkText() error          { return p.Owner.checkText() }
func (p *CreateOwner) apply(t *txn) (any, error) { return createRecord(t, ownersTable, &p.Owner) }

// UpdateOwner replaces an owner's fields.
type UpdateOwner struct {
	Owner Owner `json:"owner"`
}

func (UpdateOwner) CommandType() CommandType     { return CommandUpdateOwner }
func (p *UpdateOwner) Validate() error           { return p.Owner.validate() }
func (p *UpdateOwner) checkText() error          { return p.Owner.checkText() }
func (p *UpdateOwner) apply(t *txn) (any, error) { return updateRecord(t, ownersTable, &p.Owner) }

// DeleteOwner removes an owner no certificate references.
type DeleteOwner struct {
	ID string `json:"id"`
}

func (DeleteOwner) CommandType() CommandType     { return CommandDeleteOwner }
func (p *DeleteOwner) Validate() error           { return ValidID("id", p.ID) }
func (p *DeleteOwner) apply(t *txn) (any, error) { return deleteRecord[Owner](t, ownersTable, p.ID) }

// Owner returns the owner with id.
func (f *FSM) Owner(id string) (*Owner, error) { return get[Owner](f, ownersTable, id) }

// OwnerFilter selects owners; empty fields match everything.
type OwnerFilter struct {
	TeamID string
}

// Owners lists owners in id order.
func (f *FSM) Owners(flt OwnerFilter, p Page) (List[Owner], error) {
	var match func(*Owner) bool
	if flt.TeamID != "" {
		match = func(o *Owner) bool { return o.TeamID == flt.TeamID }
	}
	var out List[Owner]
	err := f.view(func(tx *bolt.Tx) (err error) {
		out, err = scanBucket(tx, bucketOwners, p, match)
		return err
	})
	return out, err
}
