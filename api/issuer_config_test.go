package api_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/certctl/certctl/api"
)

// An issuer's config goes through its connector's validator before it is
// stored, on create and on update.
func TestAPI_IssuerConfigCheckedByItsConnector(t *testing.T) {
	var seen []string
	e := newEnv(t, api.Config{Dev: true, ValidateIssuerConfig: func(_ context.Context, typ string, config json.RawMessage) error {
		seen = append(seen, typ)
		if strings.Contains(string(config), "validity_day\"") {
			return errors.New("validity_day: unknown field")
		}
		return nil
	}})
	bad := e.as(t, "", "POST", "/api/v1/issuers", map[string]any{"id": "iss-a", "name": "a", "type": "GenericCA", "config": map[string]any{"validity_day": 30}})
	requireError(t, bad, 400, "config")
	assert.Contains(t, str(bad, "message"), "validity_day")
	e.must(t, 201, "POST", "/api/v1/issuers", map[string]any{"id": "iss-a", "name": "a", "type": "GenericCA", "config": map[string]any{"validity_days": 30}})
	requireError(t, e.as(t, "", "PUT", "/api/v1/issuers/iss-a", map[string]any{"name": "a", "type": "GenericCA", "config": map[string]any{"validity_day": 1}}), 400, "config")
	assert.Equal(t, []string{"GenericCA", "GenericCA", "GenericCA"}, seen)
}
