package secretspec

import (
	"slices"
	"strings"
)

// Spec declares the secrets of one connector type's config, by JSON field
// name. Secret fields are stored only sealed under the cluster's
// key-encryption key and shown to people as a placeholder. Destination
// fields say where those secrets are sent (a management host, its port, the
// roots that authenticate it): a config whose destination changes without
// its secrets being given again loses them, so that a secret is never
// carried somewhere its owner did not send it. The zero Spec declares no
// secret.
type Spec struct {
	Secret      []string
	Destination []string
}

// Table holds the Spec of each connector type, by type name compared
// without regard to case. It is built once (NewTable) and read-only after:
// safe for concurrent use. A nil *Table declares no secret for any type.
type Table struct {
	specs map[string]Spec // by strings.ToLower(type)
}

// NewTable returns a Table of specs, by type name. Two names equal but for
// case are the same type: their fields are merged.
func NewTable(specs map[string]Spec) *Table {
	t := &Table{specs: make(map[string]Spec, len(specs))}
	for typ, s := range specs {
		key := strings.ToLower(typ)
		prev := t.specs[key]
		t.specs[key] = Spec{Secret: merge(prev.Secret, s.Secret), Destination: merge(prev.Destination, s.Destination)}
	}
	return t
}

// SecretFields returns the secret and destination fields of type typ (any
// case); none for a type without secrets. The caller must not modify them.
func (t *Table) SecretFields(typ string) (secret, destination []string) {
	if t == nil {
		return nil, nil
	}
	s := t.specs[strings.ToLower(typ)]
	return s.Secret, s.Destination
}

// Types returns the lower-case names of the types that declare a secret,
// sorted.
func (t *Table) Types() []string {
	if t == nil {
		return nil
	}
	var out []string
	for typ, s := range t.specs {
		if len(s.Secret) > 0 {
			out = append(out, typ)
		}
	}
	slices.Sort(out)
	return out
}

func merge(a, b []string) []string {
	out := slices.Clone(a)
	for _, f := range b {
		if !slices.Contains(out, f) {
			out = append(out, f)
		}
	}
	return out
}
