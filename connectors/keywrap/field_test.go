package keywrap

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestField_BoundToRecordFieldAndAgent: a sealed field opens only with the
// kind, record, field and agent it was sealed for.
func TestField_BoundToRecordFieldAndAgent(t *testing.T) {
	kek := testKEK(t, 9)
	sealed, err := Seal(kek, []byte("s3cret"), FieldAAD("target", "tgt-1", "password", "ag-a"))
	require.NoError(t, err)
	stored := FormatField(sealed)
	got, ok, err := ParseField(stored)
	require.True(t, ok)
	require.NoError(t, err)
	plain, err := Open(kek, got, FieldAAD("target", "tgt-1", "password", "ag-a"))
	require.NoError(t, err)
	assert.Equal(t, "s3cret", string(plain))

	for name, ad := range map[string][]byte{
		"another agent":  FieldAAD("target", "tgt-1", "password", "ag-b"),
		"no agent":       FieldAAD("target", "tgt-1", "password", ""),
		"another target": FieldAAD("target", "tgt-2", "password", "ag-a"),
		"another field":  FieldAAD("target", "tgt-1", "winrm_password", "ag-a"),
		"an issuer":      FieldAAD("issuer", "tgt-1", "password", "ag-a"),
		"parts shifted":  FieldAAD("target", "tgt-1", "password/5:ag-a", ""),
	} {
		_, err := Open(kek, got, ad)
		assert.ErrorIs(t, err, ErrOpen, name)
	}

	_, ok, err = ParseField("sealed:v1:AAAA")
	assert.False(t, ok)
	assert.NoError(t, err)
	_, ok, err = ParseField(FieldPrefix + "not base64!")
	assert.True(t, ok)
	assert.ErrorIs(t, err, ErrMalformed)
}
