package main

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/certctl/certctl/connectors/keywrap"
	"github.com/certctl/certctl/connectors/target/f5"
	"github.com/certctl/certctl/fsm"
)

// TestSecrets_DeclaredTypesAreKnown: every type the server's declarations
// name is a target or issuer type the state machine accepts (a misspelt
// type would leave its secrets in the clear), every issuer type the state
// accepts has a connector or a declaration, and the F5 password is one.
func TestSecrets_DeclaredTypesAreKnown(t *testing.T) {
	for _, typ := range targetSecrets().Types() {
		_, ok := fsm.TargetTypes.Canonical(typ)
		assert.True(t, ok, "target type %q", typ)
	}
	kek, err := keywrap.NewKEK(nil)
	require.NoError(t, err)
	issuers, err := issuerRegistry(kek, nil)
	require.NoError(t, err)
	for _, typ := range fsm.IssuerTypes {
		config := []byte(`{}`)
		if typ == "ACME" {
			config = []byte(`{"directory_url":"https://ca.example.net/directory"}`)
		}
		assert.NoError(t, issuers.ValidateConfig(t.Context(), string(typ), config), "issuer type %q is registered", typ)
	}
	assert.Equal(t, []string{"ACME", "GenericCA"}, issuers.Types(), "the connectors this build has")
	for _, typ := range []string{"ACME", "VaultPKI", "StepCA"} {
		secret, _ := issuers.SecretFields(typ)
		assert.NotEmpty(t, secret, "issuer type %q declares its secrets", typ)
	}
	assert.Len(t, targetSecrets().Types(), 2)
	secret, _ := targetSecrets().SecretFields("F5")
	assert.Equal(t, f5.Secrets().Secret, secret)
}
