package localca

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"

	"github.com/certctl/certctl/connectors/issuer"
)

// MaterialFunc returns the stored CA material of issuer issuerID, or nil
// when its CA has not been made yet. It is how the registry reaches the
// replicated state without this package knowing it.
type MaterialFunc func(ctx context.Context, issuerID string) (*CAMaterial, error)

// Constructor returns the issuer.Constructor of Type, to register with
// issuer.Registry.Register(Type, Constructor(...), ValidateConfig). Each
// build parses the config, fetches the material and opens it with kek (a
// copy is kept); a missing material is ErrNoMaterial, which the caller
// answers by making the CA (NewCA), storing it through Raft and building
// again.
func Constructor(material MaterialFunc, kek []byte, opts ...Option) issuer.Constructor {
	kek = bytes.Clone(kek)
	return func(ctx context.Context, id string, config json.RawMessage) (issuer.Issuer, error) {
		cfg, err := ParseConfig(config)
		if err != nil {
			return nil, err
		}
		cfg.ID = id
		m, err := material(ctx, id)
		if err != nil {
			return nil, fmt.Errorf("localca: CA material of issuer %q: %w", id, err)
		}
		return New(cfg, m, kek, opts...)
	}
}
