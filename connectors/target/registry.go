package target

import (
	"fmt"
	"strings"

	"github.com/certctl/certctl/connectors/internal/byname"
)

// Registry holds the connector of each target type, by type name (compared
// case-insensitively, as the API accepts them). The agent fills one at
// start-up with its local settings; there is no registration in init().
type Registry struct {
	set byname.Set[Target]
}

// NewRegistry returns an empty Registry.
func NewRegistry() *Registry {
	return &Registry{set: byname.Set[Target]{Package: "target", Noun: "type"}}
}

// Register makes t the connector of targets of type typ (e.g. "NGINX").
func (r *Registry) Register(typ string, t Target) error { return r.set.Add(typ, t) }

// Get returns the connector of type typ, or an error matching
// ErrUnknownType that lists the types this agent knows.
func (r *Registry) Get(typ string) (Target, error) {
	t, ok := r.set.Get(typ)
	if !ok {
		return nil, fmt.Errorf("%w %q: this agent deploys to %s", ErrUnknownType, typ, strings.Join(r.Types(), ", "))
	}
	return t, nil
}

// Types returns the registered type names, sorted.
func (r *Registry) Types() []string { return r.set.Names() }
