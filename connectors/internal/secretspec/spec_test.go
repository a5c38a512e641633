package secretspec

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestTable_ByTypeWithoutRegardToCase(t *testing.T) {
	tab := NewTable(map[string]Spec{
		"F5":    {Secret: []string{"password"}, Destination: []string{"host"}},
		"f5":    {Secret: []string{"password"}, Destination: []string{"port"}},
		"NGINX": {},
	})
	secret, dest := tab.SecretFields("f5")
	assert.Equal(t, []string{"password"}, secret)
	assert.ElementsMatch(t, []string{"host", "port"}, dest, "two spellings of one type are merged")
	secret, dest = tab.SecretFields("nginx")
	assert.Empty(t, secret)
	assert.Empty(t, dest)
	secret, _ = tab.SecretFields("IIS")
	assert.Empty(t, secret, "an undeclared type has no secret")
	assert.Equal(t, []string{"f5"}, tab.Types())

	var none *Table
	secret, dest = none.SecretFields("F5")
	assert.Empty(t, secret)
	assert.Empty(t, dest)
}
