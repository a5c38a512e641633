package localca

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/certctl/certctl/connectors/issuer"
	"github.com/certctl/certctl/connectors/keywrap"
)

// Connector returns the Local CA's issuer.Connector, to register in cmd's
// issuer.Registry. Each build parses the config (a config naming no
// crl_url or public_url takes the Stored.CRLURL the caller serves), decodes the stored
// CAMaterial and opens it with kek (a copy is kept); without material it
// fails with ErrNoMaterial, which the caller answers by making the CA with
// the connector's MaterialMaker (NewCAFor, keys sealed under kek), storing
// it through Raft and building again. An empty kek fails both with an error
// matching keywrap.ErrNoKEK.
func Connector(kek []byte, opts ...Option) issuer.Connector {
	kek = bytes.Clone(kek)
	return issuer.Connector{
		Type:           Type,
		ValidateConfig: ValidateConfig,
		Material:       maker{kek: kek},
		New: func(ctx context.Context, s issuer.Stored) (issuer.Issuer, error) {
			if len(kek) == 0 {
				return nil, errNoKEK
			}
			cfg, err := ParseConfig(s.Config)
			if err != nil {
				return nil, err
			}
			cfg.ID = s.ID
			if cfg.CRLURL == "" && cfg.PublicURL == "" {
				cfg.CRLURL = s.CRLURL
			}
			var m *CAMaterial
			if len(s.Material) > 0 {
				m = new(CAMaterial)
				if err := json.Unmarshal(s.Material, m); err != nil {
					return nil, fmt.Errorf("localca: the stored CA material of issuer %q is unreadable: %w", s.ID, err)
				}
			}
			return New(cfg, m, kek, opts...)
		},
	}
}

// errNoKEK is why a node without a KEK builds no Local CA.
var errNoKEK = fmt.Errorf("localca: the Local CA's keys exist only sealed: %w", keywrap.ErrNoKEK)

// maker makes a Local CA's material: its issuer.MaterialMaker.
type maker struct{ kek []byte }

var _ issuer.MaterialMaker = maker{}

// MakeMaterial makes the CA of issuer s (NewCAFor, from its config's
// ca_common_name, key_type and name constraints), its keys sealed under
// the connector's KEK.
func (m maker) MakeMaterial(_ context.Context, s issuer.Stored, now time.Time, rand io.Reader) (*issuer.Material, error) {
	if len(m.kek) == 0 {
		return nil, errNoKEK
	}
	cfg, err := ParseConfig(s.Config)
	if err != nil {
		return nil, err
	}
	cfg.ID = s.ID
	ca, err := NewCAFor(cfg, m.kek, now, rand)
	if err != nil {
		return nil, err
	}
	data, err := json.Marshal(ca)
	if err != nil {
		return nil, err
	}
	return &issuer.Material{Data: data, KEKID: ca.KEKID, Summary: ca.KeyType + " root and intermediate"}, nil
}
