package api_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/certctl/certctl/api"
	"github.com/certctl/certctl/connectors/issuer"
	"github.com/certctl/certctl/connectors/issuer/acme"
	"github.com/certctl/certctl/connectors/issuer/localca"
)

// An issuer's config goes through its connector's validator before it is
// stored, on create and on update.
func TestAPI_IssuerConfigCheckedByItsConnector(t *testing.T) {
	var seen []string
	e := newEnv(t, api.Config{Dev: true, IssuerTypes: validator(func(_ context.Context, typ string, config json.RawMessage) error {
		seen = append(seen, typ)
		if strings.Contains(string(config), "validity_day\"") {
			return errors.New("validity_day: unknown field")
		}
		return nil
	})})
	bad := e.as(t, "", "POST", "/api/v1/issuers", map[string]any{"id": "iss-a", "name": "a", "type": "GenericCA", "config": map[string]any{"validity_day": 30}})
	requireError(t, bad, 400, "config")
	assert.Contains(t, str(bad, "message"), "validity_day")
	e.must(t, 201, "POST", "/api/v1/issuers", map[string]any{"id": "iss-a", "name": "a", "type": "GenericCA", "config": map[string]any{"validity_days": 30}})
	requireError(t, e.as(t, "", "PUT", "/api/v1/issuers/iss-a", map[string]any{"name": "a", "type": "genericca", "config": map[string]any{"validity_day": 1}}), 400, "config")
	assert.Equal(t, []string{"GenericCA", "GenericCA", "GenericCA"}, seen, "asked by the canonical type name")
	requireError(t, e.as(t, "", "POST", "/api/v1/issuers", map[string]any{"id": "iss-b", "name": "b", "type": "Bogus", "config": map[string]any{}}), 400, "type")
	assert.Len(t, seen, 3, "an unknown type is the state's to refuse, naming the type")
}

// validator is an api.IssuerTypes that validates with fn and declares no
// secret.
type validator func(ctx context.Context, typ string, config json.RawMessage) error

func (v validator) ValidateConfig(ctx context.Context, typ string, config json.RawMessage) error {
	return v(ctx, typ, config)
}
func (validator) SecretFields(string) (secret, destination []string) { return nil, nil }

// TestAPI_IssuerConfigCheckedByTheRegistry: wired with cmd's registry, a
// Local CA config is checked by the Local CA's validator (a misspelt field
// is named), and a planned type's config is stored as given.
func TestAPI_IssuerConfigCheckedByTheRegistry(t *testing.T) {
	reg, err := issuer.NewRegistry(append([]issuer.Connector{localca.Connector(nil), acme.Connector(nil, nil, acme.Options{})}, issuer.Planned()...)...)
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, api.Config{Dev: true, IssuerTypes: reg})
	bad := e.as(t, "", "POST", "/api/v1/issuers", map[string]any{"id": "iss-a", "name": "a", "type": "GenericCA", "config": map[string]any{"validity_day": 30}})
	requireError(t, bad, 400, "config")
	assert.Contains(t, str(bad, "message"), "validity_day")
	e.must(t, 201, "POST", "/api/v1/issuers", map[string]any{"id": "iss-a", "name": "a", "type": "genericca", "config": map[string]any{"validity_days": 30}})
	e.must(t, 201, "POST", "/api/v1/issuers", map[string]any{"id": "iss-v", "name": "v", "type": "VaultPKI", "config": map[string]any{"addr": "https://vault.internal:8200", "mount": "pki"}})
}
