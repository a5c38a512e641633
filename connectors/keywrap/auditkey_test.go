package keywrap

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// hkdfByHand is RFC 5869 for one block of output, written out with HMAC:
// extract with an all-zero salt (none given), expand with info and 0x01.
func hkdfByHand(secret []byte, info string) []byte {
	ext := hmac.New(sha256.New, make([]byte, sha256.Size))
	ext.Write(secret)
	exp := hmac.New(sha256.New, ext.Sum(nil))
	exp.Write([]byte(info))
	exp.Write([]byte{1})
	return exp.Sum(nil)
}

func TestAuditKey_IsHKDFOfTheKEK(t *testing.T) {
	kek := bytes.Repeat([]byte{0x42}, KEKSize)
	key, err := AuditKey(kek)
	require.NoError(t, err)
	assert.Len(t, key, AuditKeySize)
	assert.Equal(t, hkdfByHand(kek, "certctl audit chain v1"), key)
	assert.NotEqual(t, kek, key, "the KEK itself is never the audit key")

	again, err := AuditKey(bytes.Clone(kek))
	require.NoError(t, err)
	assert.Equal(t, key, again, "every node with the same KEK derives the same key")
	other, err := AuditKey(bytes.Repeat([]byte{0x43}, KEKSize))
	require.NoError(t, err)
	assert.NotEqual(t, key, other)
}

func TestAuditKey_RefusesAKeyOfTheWrongSize(t *testing.T) {
	for _, n := range []int{0, 16, KEKSize + 1} {
		_, err := AuditKey(make([]byte, n))
		assert.ErrorIs(t, err, ErrInvalidKEK, "%d bytes", n)
	}
}
