package issuer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
)

// Constructor builds the issuer with id from its stored config. It is called
// for every Build; it should be cheap and must not change shared state.
type Constructor func(ctx context.Context, id string, config json.RawMessage) (Issuer, error)

// ConfigValidator checks a config for a type without building an issuer,
// for the API to refuse a bad config before it is stored.
type ConfigValidator func(ctx context.Context, config json.RawMessage) error

// Registry maps issuer type names (compared case-insensitively) to their
// constructors. cmd fills one at start-up and hands it to whatever builds
// issuers; there is no global registry and no registration in init(). A
// Registry is safe for concurrent use; its zero value is not usable, call
// NewRegistry.
type Registry struct {
	mu    sync.RWMutex
	types map[string]entry // by strings.ToLower(type)
}

type entry struct {
	name     string // as registered, e.g. "GenericCA"
	build    Constructor
	validate ConfigValidator
}

// NewRegistry returns an empty Registry.
func NewRegistry() *Registry {
	return &Registry{types: make(map[string]entry)}
}

// Register adds type typ. validate may be nil, in which case ValidateConfig
// accepts any config of that type and errors surface at Build. Registering
// a type twice (in any letter case) is an error.
func (r *Registry) Register(typ string, build Constructor, validate ConfigValidator) error {
	if strings.TrimSpace(typ) == "" {
		return errors.New("issuer: register: empty type name")
	}
	if build == nil {
		return fmt.Errorf("issuer: register %q: nil constructor", typ)
	}
	key := strings.ToLower(typ)
	r.mu.Lock()
	defer r.mu.Unlock()
	if prev, ok := r.types[key]; ok {
		return fmt.Errorf("issuer: register %q: type already registered as %q", typ, prev.name)
	}
	r.types[key] = entry{name: typ, build: build, validate: validate}
	return nil
}

// Build builds issuer id of type typ from config. An unknown type is an
// error matching ErrUnknownType that lists the known ones. Build makes a new
// issuer every time: callers that build often may cache the result, keyed by
// the issuer's id and config.
func (r *Registry) Build(ctx context.Context, id, typ string, config json.RawMessage) (Issuer, error) {
	if id == "" {
		return nil, requestErrorf("id", "an issuer id is required")
	}
	e, err := r.lookup(id, typ)
	if err != nil {
		return nil, err
	}
	iss, err := e.build(ctx, id, config)
	if err != nil {
		return nil, fmt.Errorf("issuer: build %s issuer %q: %w", e.name, id, err)
	}
	return iss, nil
}

// ValidateConfig checks config for type typ with the type's validator.
func (r *Registry) ValidateConfig(ctx context.Context, typ string, config json.RawMessage) error {
	e, err := r.lookup("", typ)
	if err != nil {
		return err
	}
	if e.validate == nil {
		return nil
	}
	return e.validate(ctx, config)
}

// Types returns the registered type names as registered, sorted.
func (r *Registry) Types() []string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	names := make([]string, 0, len(r.types))
	for _, e := range r.types {
		names = append(names, e.name)
	}
	slices.Sort(names)
	return names
}

func (r *Registry) lookup(id, typ string) (entry, error) {
	r.mu.RLock()
	e, ok := r.types[strings.ToLower(typ)]
	r.mu.RUnlock()
	if ok {
		return e, nil
	}
	known := strings.Join(r.Types(), ", ")
	if known == "" {
		known = "none"
	}
	if id != "" {
		return entry{}, fmt.Errorf("%w %q for issuer %q (this node knows: %s)", ErrUnknownType, typ, id, known)
	}
	return entry{}, fmt.Errorf("%w %q (this node knows: %s)", ErrUnknownType, typ, known)
}
