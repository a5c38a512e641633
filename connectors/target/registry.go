package target

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
)

// Registry holds the connector of each target type, by type name (compared
// case-insensitively, as the API accepts them). The agent fills one at
// start-up with its local settings; there is no registration in init().
type Registry struct {
	mu      sync.RWMutex
	targets map[string]entry
}

type entry struct {
	typ string
	t   Target
}

// NewRegistry returns an empty Registry.
func NewRegistry() *Registry { return &Registry{targets: make(map[string]entry)} }

// Register makes t the connector of targets of type typ (e.g. "NGINX").
func (r *Registry) Register(typ string, t Target) error {
	if strings.TrimSpace(typ) == "" {
		return errors.New("target: register: empty type name")
	}
	if t == nil {
		return fmt.Errorf("target: register %q: nil target", typ)
	}
	key := strings.ToLower(typ)
	r.mu.Lock()
	defer r.mu.Unlock()
	if prev, ok := r.targets[key]; ok {
		return fmt.Errorf("target: register %q: type already registered as %q", typ, prev.typ)
	}
	r.targets[key] = entry{typ: typ, t: t}
	return nil
}

// Get returns the connector of type typ, or an error matching
// ErrUnknownType that lists the types this agent knows.
func (r *Registry) Get(typ string) (Target, error) {
	r.mu.RLock()
	e, ok := r.targets[strings.ToLower(typ)]
	r.mu.RUnlock()
	if !ok {
		return nil, fmt.Errorf("%w %q: this agent deploys to %s", ErrUnknownType, typ, strings.Join(r.Types(), ", "))
	}
	return e.t, nil
}

// Types returns the registered type names, sorted.
func (r *Registry) Types() []string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	types := make([]string, 0, len(r.targets))
	for _, e := range r.targets {
		types = append(types, e.typ)
	}
	slices.Sort(types)
	return types
}
