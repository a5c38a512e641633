package issuer

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseReason(t *testing.T) {
	tests := []struct {
		name string
		want Reason
	}{
		{"", ReasonUnspecified},
		{"unspecified", ReasonUnspecified},
		{"keyCompromise", ReasonKeyCompromise},
		{"caCompromise", ReasonCACompromise},
		{"cACompromise", ReasonCACompromise},
		{"affiliationChanged", ReasonAffiliationChanged},
		{"superseded", ReasonSuperseded},
		{"cessationOfOperation", ReasonCessationOfOperation},
		{"certificateHold", ReasonCertificateHold},
		{"privilegeWithdrawn", ReasonPrivilegeWithdrawn},
		{"aACompromise", ReasonAACompromise},
		{"KeyCompromise", ReasonKeyCompromise},
	}
	for _, tt := range tests {
		got, err := ParseReason(tt.name)
		require.NoError(t, err, tt.name)
		assert.Equal(t, tt.want, got, tt.name)
		assert.True(t, got.Valid())
	}
	for _, name := range []string{"removeFromCRL", "compromised", "1", " superseded"} {
		_, err := ParseReason(name)
		var re *RequestError
		require.ErrorAs(t, err, &re, name)
		assert.Equal(t, "reason", re.Field)
	}
}

func TestReason_String(t *testing.T) {
	assert.Equal(t, "keyCompromise", ReasonKeyCompromise.String())
	assert.Equal(t, "caCompromise", ReasonCACompromise.String())
	assert.Equal(t, "Reason(8)", Reason(8).String())
	assert.False(t, Reason(7).Valid())
	assert.False(t, Reason(8).Valid())
	assert.Equal(t, []string{"unspecified", "keyCompromise", "caCompromise", "affiliationChanged", "superseded",
		"cessationOfOperation", "certificateHold", "privilegeWithdrawn", "aaCompromise"}, ReasonNames())
	for _, n := range ReasonNames() {
		r, err := ParseReason(n)
		require.NoError(t, err)
		assert.Equal(t, n, r.String())
	}
}
