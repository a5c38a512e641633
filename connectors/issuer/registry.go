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

// Stored is an issuer as the caller keeps it: what a Constructor builds
// from and a MaterialMaker makes material for.
type Stored struct {
	// ID is the issuer's id.
	ID string
	// Config is the issuer's config with its secret fields (Connector.Secrets)
	// in the clear; it is never stored, logged or answered so.
	Config json.RawMessage
	// Material is what the type's MaterialMaker made for this issuer, as it
	// made it; nil when none is stored yet or the type has no MaterialMaker.
	Material json.RawMessage
	// CRLURL is where the cluster serves this issuer's CRL, when the issuer
	// is a CRLSigner (<base>/.well-known/pki/crl/<id>): a connector that
	// writes distribution points into its certificates uses it when its
	// config names none. Empty when the node knows no address.
	CRLURL string
}

// Constructor builds an issuer from its stored record. It is called for
// every Build; it should be cheap and must not change shared state. A type
// with a MaterialMaker fails with an error matching ErrNoMaterial when
// s.Material is nil.
type Constructor func(ctx context.Context, s Stored) (Issuer, error)

// ConfigValidator checks a config for a type without building an issuer,
// for the API to refuse a bad config before it is stored.
type ConfigValidator func(ctx context.Context, config json.RawMessage) error

// Connector describes one issuer type to a Registry: what builds its
// issuers, what checks its config, which of its config fields are secret,
// and its optional capabilities. A connector package exports a function
// that returns its Connector (localca.Connector); cmd registers each once.
type Connector struct {
	// Type is the issuer type name, e.g. "GenericCA", compared without
	// regard to case.
	Type string
	// New builds an issuer of this type. Nil declares a type whose
	// connector this build does not have yet: its configs are stored, their
	// secrets sealed as Secrets says, but Build fails with ErrUnknownType.
	New Constructor
	// ValidateConfig checks a config before it is stored; nil accepts any,
	// its errors then surfacing at Build.
	ValidateConfig ConfigValidator
	// Secrets declares the config's secret fields; the zero value none.
	Secrets Secrets
	// Material, when not nil, makes what an issuer of this type needs
	// before New can build it (the Local CA's root and intermediate).
	Material MaterialMaker
}

// Registry holds the Connector of each issuer type, by type name compared
// without regard to case. cmd fills one at start-up and hands it to
// whatever builds issuers or checks their configs; there is no global
// registry and no registration in init(). A Registry is safe for concurrent
// use; its zero value is not usable, call NewRegistry.
type Registry struct {
	mu    sync.RWMutex
	types map[string]Connector // by strings.ToLower(Type)
}

// NewRegistry returns a Registry of connectors, registered in order (see
// Register).
func NewRegistry(connectors ...Connector) (*Registry, error) {
	r := &Registry{types: make(map[string]Connector)}
	for _, c := range connectors {
		if err := r.Register(c); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// Register adds connector c. Registering a type twice (in any letter case)
// is an error, as is a connector without a type name.
func (r *Registry) Register(c Connector) error {
	if strings.TrimSpace(c.Type) == "" {
		return errors.New("issuer: register: empty type name")
	}
	key := strings.ToLower(c.Type)
	r.mu.Lock()
	defer r.mu.Unlock()
	if prev, ok := r.types[key]; ok {
		return fmt.Errorf("issuer: register %q: type already registered as %q", c.Type, prev.Type)
	}
	r.types[key] = c
	return nil
}

// Build builds the issuer s of type typ. A type without a connector in this
// build is an error matching ErrUnknownType that lists the known ones; a
// type whose issuer has no material yet, one matching ErrNoMaterial. Build
// makes a new issuer every time: callers that build often may cache the
// result, keyed by the issuer's id and config.
func (r *Registry) Build(ctx context.Context, typ string, s Stored) (Issuer, error) {
	if s.ID == "" {
		return nil, requestErrorf("id", "an issuer id is required")
	}
	c, err := r.lookup(s.ID, typ, true)
	if err != nil {
		return nil, err
	}
	iss, err := c.New(ctx, s)
	if err != nil {
		return nil, fmt.Errorf("issuer: build %s issuer %q: %w", c.Type, s.ID, err)
	}
	return iss, nil
}

// MaterialMaker returns the MaterialMaker of type typ; false for a type
// without one or unknown.
func (r *Registry) MaterialMaker(typ string) (MaterialMaker, bool) {
	r.mu.RLock()
	c, ok := r.types[strings.ToLower(typ)]
	r.mu.RUnlock()
	if !ok || c.Material == nil {
		return nil, false
	}
	return c.Material, true
}

// ValidateConfig checks config for type typ with the type's validator; an
// unknown type is an error matching ErrUnknownType.
func (r *Registry) ValidateConfig(ctx context.Context, typ string, config json.RawMessage) error {
	c, err := r.lookup("", typ, false)
	if err != nil {
		return err
	}
	if c.ValidateConfig == nil {
		return nil
	}
	return c.ValidateConfig(ctx, config)
}

// SecretFields returns the secret fields of type typ's config, and those
// that say where the secrets are sent, as its connector declares them;
// none for a type without secrets or unknown. The caller must not modify
// them.
func (r *Registry) SecretFields(typ string) (secret, destination []string) {
	r.mu.RLock()
	c := r.types[strings.ToLower(typ)]
	r.mu.RUnlock()
	return c.Secrets.Secret, c.Secrets.Destination
}

// Types returns the names of the types this build can build, as
// registered, sorted.
func (r *Registry) Types() []string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	names := make([]string, 0, len(r.types))
	for _, c := range r.types {
		if c.New != nil {
			names = append(names, c.Type)
		}
	}
	slices.Sort(names)
	return names
}

// lookup returns the connector of typ; with build, only one that builds.
func (r *Registry) lookup(id, typ string, build bool) (Connector, error) {
	r.mu.RLock()
	c, ok := r.types[strings.ToLower(typ)]
	r.mu.RUnlock()
	if ok && (!build || c.New != nil) {
		return c, nil
	}
	known := strings.Join(r.Types(), ", ")
	if known == "" {
		known = "none"
	}
	if id != "" {
		return Connector{}, fmt.Errorf("%w %q for issuer %q (this node knows: %s)", ErrUnknownType, typ, id, known)
	}
	return Connector{}, fmt.Errorf("%w %q (this node knows: %s)", ErrUnknownType, typ, known)
}
