package f5

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

// TestSecrets_NameConfigFields: every field Secrets declares is a field of
// Config, so the server seals and redacts what the connector reads.
func TestSecrets_NameConfigFields(t *testing.T) {
	s := Secrets()
	assert.NotEmpty(t, s.Secret)
	for _, f := range append(append([]string{}, s.Secret...), s.Destination...) {
		assert.Contains(t, fieldNames, f)
	}
}
