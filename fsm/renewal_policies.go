package fsm

import (
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/certctl/certctl/api/wire"
)

func (r *RenewalPolicy) recordID() string        { return r.ID }
func (r *RenewalPolicy) uniqueName() string      { return r.Name }
func (r *RenewalPolicy) references() []reference { return nil }
func (r *RenewalPolicy) stamp(created, updated time.Time) {
	r.CreatedAt, r.UpdatedAt = created, updated
}
func (r *RenewalPolicy) createdAt() time.Time { return r.CreatedAt }
func (r *RenewalPolicy) auditDetails() any    { return r }

// checkText refuses, in the policy's name and recipients, what CheckText refuses.
func (r *RenewalPolicy) checkText() error {
	if err := ValidNameChars("name", r.Name); err != nil {
		return err
	}
	for _, route := range r.Notify {
		for _, rcpt := range route.Recipients {
			if err := ValidNameChars("notify.recipients", rcpt); err != nil {
				return err
			}
		}
	}
	return nil
}

func (r *RenewalPolicy) validate() error {
	if err := ValidID("id", r.ID); err != nil {
		return err
	}
	if err := validName("name", r.Name); err != nil {
		return err
	}
	if r.RenewalWindowDays != nil && (*r.RenewalWindowDays < 1 || *r.RenewalWindowDays > 3650) {
		return invalidf("renewal_window_days", "renewal_window_days must be between 1 and 3650, or unset to renew with a third of the lifetime left")
	}
	if r.MaxRetries < 0 || r.MaxRetries > 100 {
		return invalidf("max_retries", "max_retries must be between 0 and 100")
	}
	if r.RetryIntervalMinutes < 0 || r.RetryIntervalMinutes > 7*24*60 {
		return invalidf("retry_interval_minutes", "retry_interval_minutes must be between 0 and 10080 (a week)")
	}
	if len(r.AlertThresholdsDays) > 32 {
		return invalidf("alert_thresholds_days", "at most 32 alert thresholds are allowed")
	}
	for _, d := range r.AlertThresholdsDays {
		if d < 0 || d > 3650 {
			return invalidf("alert_thresholds_days", "alert threshold %d must be between 0 and 3650 days", d)
		}
	}
	if len(r.Notify) > 16 {
		return invalidf("notify", "at most 16 notification routes are allowed")
	}
	for i := range r.Notify {
		route := &r.Notify[i]
		ch, err := validEnum("notify.channel", route.Channel, Channels, true)
		if err != nil {
			return err
		}
		route.Channel = ch
		if len(route.Recipients) > 32 {
			return invalidf("notify.recipients", "at most 32 recipients per route are allowed")
		}
		for _, rcpt := range route.Recipients {
			if err := ValidText("notify.recipients", rcpt, MaxNameLength, true); err != nil {
				return err
			}
		}
		for j, typ := range route.Types {
			canon, err := validEnum("notify.types", typ, NotificationTypes, true)
			if err != nil {
				return err
			}
			route.Types[j] = canon
		}
	}
	return nil
}

// Routes returns where a notification of type typ about a certificate under
// this policy goes: the routes that list typ (or list no types), else none
// (the caller falls back to the owner's e-mail).
func (r *RenewalPolicy) Routes(typ wire.NotificationType) []NotifyRoute {
	var out []NotifyRoute
	for _, route := range r.Notify {
		if len(route.Types) == 0 || slices.Contains(route.Types, typ) {
			out = append(out, route)
		}
	}
	return out
}

// CreateRenewalPolicy adds a renewal policy.
type CreateRenewalPolicy struct {
	Policy RenewalPolicy `json:"policy"`
}

func (CreateRenewalPolicy) CommandType() CommandType { return CommandCreateRenewalPolicy }
func (p *CreateRenewalPolicy) Validate() error       { return p.Policy.validate() }
func (p *CreateRenewalPolicy) checkText() error      { return p.Policy.checkText() }
func (p *CreateRenewalPolicy) apply(t *txn) (any, error) {
	return createRecord(t, renewalPoliciesTable, &p.Policy)
}

// UpdateRenewalPolicy replaces a renewal policy's fields.
type UpdateRenewalPolicy struct {
	Policy RenewalPolicy `json:"policy"`
}

func (UpdateRenewalPolicy) CommandType() CommandType { return CommandUpdateRenewalPolicy }
func (p *UpdateRenewalPolicy) Validate() error       { return p.Policy.validate() }
func (p *UpdateRenewalPolicy) checkText() error      { return p.Policy.checkText() }
func (p *UpdateRenewalPolicy) apply(t *txn) (any, error) {
	return updateRecord(t, renewalPoliciesTable, &p.Policy)
}

// DeleteRenewalPolicy removes a renewal policy no certificate uses.
type DeleteRenewalPolicy struct {
	ID string `json:"id"`
}

func (DeleteRenewalPolicy) CommandType() CommandType { return CommandDeleteRenewalPolicy }
func (p *DeleteRenewalPolicy) Validate() error       { return ValidID("id", p.ID) }
func (p *DeleteRenewalPolicy) apply(t *txn) (any, error) {
	return deleteRecord[RenewalPolicy](t, renewalPoliciesTable, p.ID)
}

// RenewalPolicy returns the renewal policy with id.
func (f *FSM) RenewalPolicy(id string) (*RenewalPolicy, error) {
	return get[RenewalPolicy](f, renewalPoliciesTable, id)
}

// RenewalPolicies lists renewal policies in id order.
func (f *FSM) RenewalPolicies(p Page) (List[RenewalPolicy], error) {
	var out List[RenewalPolicy]
	err := f.view(func(tx *bolt.Tx) (err error) {
		out, err = scanBucket[RenewalPolicy](tx, bucketRenewalPolicies, p, nil)
		return err
	})
	return out, err
}
