package issuer

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseNames(t *testing.T) {
	n, err := ParseNames("API.Example.com", []string{
		"api.example.com", "*.api.example.com", "10.0.0.1", "::ffff:10.0.0.1", "2001:DB8::1",
		"Ops@Example.COM", "Ops@example.com", "ops@example.com", "spiffe://example.com/sa/api", "xn--bcher-kva.example",
	})
	require.NoError(t, err)
	assert.Equal(t, []string{"api.example.com", "*.api.example.com", "xn--bcher-kva.example"}, n.DNSNames)
	require.Len(t, n.IPAddresses, 2)
	assert.Len(t, n.IPAddresses[0], 4, "IPv4 in 4-byte form")
	assert.Equal(t, "2001:db8::1", n.IPAddresses[1].String())
	// Domains compare without case, local parts exactly.
	assert.Equal(t, []string{"Ops@example.com", "ops@example.com"}, n.EmailAddresses)
	require.Len(t, n.URIs, 1)
	assert.Equal(t, 8, n.Len())
}

func TestParseNames_CommonName(t *testing.T) {
	n, err := ParseNames("Payments Service", []string{"pay.example.com"})
	require.NoError(t, err)
	assert.Equal(t, []string{"pay.example.com"}, n.DNSNames)

	n, err = ParseNames("192.0.2.1", nil)
	require.NoError(t, err)
	assert.Empty(t, n.DNSNames)
	assert.Len(t, n.IPAddresses, 1)
}

func TestParseNames_Refuses(t *testing.T) {
	tests := []struct {
		cn    string
		sans  []string
		field string
	}{
		{"", nil, "common_name"},
		{strings.Repeat("a", 65), nil, "common_name"},
		{" a.example.com", nil, "common_name"},
		{"a", []string{""}, "sans"},
		{"a", []string{"under_score.example.com"}, "sans"},
		{"a", []string{"-lead.example.com"}, "sans"},
		{"a", []string{"a..example.com"}, "sans"},
		{"a", []string{"*.*.example.com"}, "sans"},
		{"a", []string{"*"}, "sans"},
		{"a", []string{"bücher.example"}, "sans"},
		{"a", []string{strings.Repeat("a", 64) + ".example.com"}, "sans"},
		{"a", []string{"@example.com"}, "sans"},
		{"a", []string{"a b@example.com"}, "sans"},
		{"a", []string{"ops@*.example.com"}, "sans"},
		{"a", []string{"://nohost"}, "sans"},
	}
	for _, tt := range tests {
		_, err := ParseNames(tt.cn, tt.sans)
		var re *RequestError
		require.ErrorAs(t, err, &re, "%q %q", tt.cn, tt.sans)
		assert.Equal(t, tt.field, re.Field, "%q %q", tt.cn, tt.sans)
	}
}
