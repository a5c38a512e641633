package issuance

import (
	"encoding/json"
	"fmt"

	"github.com/certctl/certctl/connectors/keywrap"
	"github.com/certctl/certctl/fsm"
)

// openIssuerConfig returns rec's config with its sealed fields (the API
// seals the secret fields its connector declares: an ACME EAB key, a Vault
// token) opened with the KEK, for the connector alone: never stored, logged
// or answered. A config without sealed fields is returned as it is. A field
// that does not open (no KEK here, another cluster's KEK, a value copied
// from another issuer or field) is an error naming the issuer and field.
func (s *Service) openIssuerConfig(rec *fsm.Issuer) (json.RawMessage, error) {
	var m map[string]json.RawMessage
	if json.Unmarshal(rec.Config, &m) != nil {
		return rec.Config, nil // the connector says what is wrong with it
	}
	opened := false
	for k, raw := range m {
		var value string
		if json.Unmarshal(raw, &value) != nil {
			continue
		}
		sealed, ok, err := keywrap.ParseField(value)
		if !ok {
			continue
		}
		if err == nil && len(s.cfg.KEK) == 0 {
			err = fmt.Errorf("issuance: issuer %s: its %s is stored sealed: %w", rec.ID, k, ErrNoKEK)
		}
		if err != nil {
			return nil, err
		}
		// An issuer's secrets are for the servers, which run its connector:
		// bound to no agent.
		plain, err := keywrap.Open(s.cfg.KEK, sealed, keywrap.FieldAAD(keywrap.FieldKindIssuer, rec.ID, k, ""))
		if err != nil {
			return nil, fmt.Errorf("issuance: issuer %s: its %s does not open with this node's key-encryption key (is --kek-file the cluster's? give the secret again with PUT /api/v1/issuers/%s): %w",
				rec.ID, k, rec.ID, err)
		}
		m[k], _ = json.Marshal(string(plain)) // a string always encodes
		clear(plain)
		opened = true
	}
	if !opened {
		return rec.Config, nil
	}
	return json.Marshal(m)
}
