package main

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/certctl/certctl/connectors/target/f5"
	"github.com/certctl/certctl/fsm"
)

// TestSecrets_DeclaredTypesAreKnown: every type the server's declarations
// name is a target or issuer type the state machine accepts (a misspelt
// type would leave its secrets in the clear), and the F5 password is one.
func TestSecrets_DeclaredTypesAreKnown(t *testing.T) {
	for _, typ := range targetSecrets().Types() {
		_, ok := fsm.TargetTypes.Canonical(typ)
		assert.True(t, ok, "target type %q", typ)
	}
	for _, typ := range issuerSecrets().Types() {
		_, ok := fsm.IssuerTypes.Canonical(typ)
		assert.True(t, ok, "issuer type %q", typ)
	}
	assert.Len(t, targetSecrets().Types(), 2)
	assert.Len(t, issuerSecrets().Types(), 3)
	secret, _ := targetSecrets().SecretFields("F5")
	assert.Equal(t, f5.Secrets().Secret, secret)
}
