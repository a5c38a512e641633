package fsm

import (
	"time"

	bolt "go.etcd.io/bbolt"
)

func (r *Team) recordID() string                 { return r.ID }
func (r *Team) uniqueName() string               { return r.Name }
func (r *Team) references() []reference          { return nil }
func (r *Team) stamp(created, updated time.Time) { r.CreatedAt, r.UpdatedAt = created, updated }
func (r *Team) createdAt() time.Time             { return r.CreatedAt }
func (r *Team) auditDetails() any                { return map[string]string{"name": r.Name} }

// checkText refuses, in the team's name and description, what CheckText refuses.
func (r *Team) checkText() error {
	if err := ValidNameChars("name", r.Name); err != nil {
		return err
	}
	return ValidProseChars("description", r.Description)
}

func (r *Team) validate() error {
	if err := ValidID("id", r.ID); err != nil {
		return err
	}
	if err := validName("name", r.Name); err != nil {
		return err
	}
	return ValidText("description", r.Description, MaxTextLength, false)
}

// CreateTeam adds a team; its id and name must be new.
type CreateTeam struct {
	Team Team `json:"team"`
}

func (CreateTeam) CommandType() CommandType     { return CommandCreateTeam }
func (p *CreateTeam) Validate() error           { return p.Team.validate() }
func (p *CreateTeam) checkText() error          { return p.Team.checkText() }
func (p *CreateTeam) apply(t *txn) (any, error) { return createRecord(t, teamsTable, &p.Team) }

// UpdateTeam replaces a team's fields; created_at is kept.
type UpdateTeam struct {
	Team Team `json:"team"`
}

func (UpdateTeam) CommandType() CommandType     { return CommandUpdateTeam }
func (p *UpdateTeam) Validate() error           { return p.Team.validate() }
func (p *UpdateTeam) checkText() error          { return p.Team.checkText() }
func (p *UpdateTeam) apply(t *txn) (any, error) { return updateRecord(t, teamsTable, &p.Team) }

// DeleteTeam removes a team that no owner or certificate references.
type DeleteTeam struct {
	ID string `json:"id"`
}

func (DeleteTeam) CommandType() CommandType     { return CommandDeleteTeam }
func (p *DeleteTeam) Validate() error           { return ValidID("id", p.ID) }
func (p *DeleteTeam) apply(t *txn) (any, error) { return deleteRecord[Team](t, teamsTable, p.ID) }

// Team returns the team with id.
func (f *FSM) Team(id string) (*Team, error) { return get[Team](f, teamsTable, id) }

// Teams lists teams in id order.
func (f *FSM) Teams(p Page) (List[Team], error) {
	var out List[Team]
	err := f.view(func(tx *bolt.Tx) (err error) {
		out, err = scanBucket[Team](tx, bucketTeams, p, nil)
		return err
	})
	return out, err
}
