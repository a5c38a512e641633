package byname

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestSet_CaseInsensitiveNamesKeptAsRegistered(t *testing.T) {
	s := Set[any]{Package: "target", Noun: "type"}
	require.NoError(t, s.Add("NGINX", 1))
	require.NoError(t, s.Add("Apache", 2))
	v, ok := s.Get("nginx")
	assert.True(t, ok)
	assert.Equal(t, 1, v)
	_, ok = s.Get("IIS")
	assert.False(t, ok)
	assert.Equal(t, []string{"Apache", "NGINX"}, s.Names())

	assert.EqualError(t, s.Add("nginx", 3), `target: register "nginx": type already registered as "NGINX"`)
	assert.EqualError(t, s.Add(" ", 3), "target: register: empty type name")
	assert.EqualError(t, s.Add("F5", nil), `target: register "F5": nil target`)
}
