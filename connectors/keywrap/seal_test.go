package keywrap

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func testKEK(t *testing.T, fill byte) []byte {
	t.Helper()
	return bytes.Repeat([]byte{fill}, KEKSize)
}

func TestSeal_RoundTrip(t *testing.T) {
	kek := testKEK(t, 7)
	plaintext := []byte("-----BEGIN PRIVATE KEY-----\nsecret\n-----END PRIVATE KEY-----\n")
	ad := []byte("certctl/localca/iss-local/intermediate")

	sealed, err := Seal(kek, plaintext, ad)
	require.NoError(t, err)
	assert.Equal(t, version1, sealed[0])
	assert.Len(t, sealed, len(plaintext)+overhead)
	assert.NotContains(t, string(sealed), "secret")

	got, err := Open(kek, sealed, ad)
	require.NoError(t, err)
	assert.Equal(t, plaintext, got)
}

func TestSeal_FreshNonceEachTime(t *testing.T) {
	kek := testKEK(t, 7)
	a, err := Seal(kek, []byte("same"), nil)
	require.NoError(t, err)
	b, err := Seal(kek, []byte("same"), nil)
	require.NoError(t, err)
	assert.NotEqual(t, a[1:13], b[1:13], "nonces must differ")
	assert.NotEqual(t, a, b)
}

func TestOpen_WrongKEKFails(t *testing.T) {
	sealed, err := Seal(testKEK(t, 7), []byte("key bytes"), []byte("purpose"))
	require.NoError(t, err)

	_, err = Open(testKEK(t, 8), sealed, []byte("purpose"))
	assert.ErrorIs(t, err, ErrOpen)
}

func TestOpen_WrongPurposeFails(t *testing.T) {
	kek := testKEK(t, 7)
	sealed, err := Seal(kek, []byte("key bytes"), []byte("certctl/localca/iss-a/intermediate"))
	require.NoError(t, err)

	for _, ad := range []string{"certctl/localca/iss-b/intermediate", "certctl/localca/iss-a/root", ""} {
		_, err = Open(kek, sealed, []byte(ad))
		assert.ErrorIs(t, err, ErrOpen, "aad %q", ad)
	}
}

func TestOpen_TamperedFails(t *testing.T) {
	kek := testKEK(t, 7)
	ad := []byte("purpose")
	sealed, err := Seal(kek, []byte("0123456789abcdef"), ad)
	require.NoError(t, err)

	// Flip one bit in every byte position in turn: version, nonce,
	// ciphertext and tag must all be covered.
	for i := range sealed {
		tampered := bytes.Clone(sealed)
		tampered[i] ^= 0x01
		_, err := Open(kek, tampered, ad)
		require.Error(t, err, "byte %d", i)
		if i == 0 {
			assert.ErrorIs(t, err, ErrMalformed, "byte %d", i)
		} else {
			assert.ErrorIs(t, err, ErrOpen, "byte %d", i)
		}
	}

	// Truncated and extended values fail as well.
	_, err = Open(kek, sealed[:len(sealed)-1], ad)
	assert.ErrorIs(t, err, ErrOpen)
	_, err = Open(kek, append(bytes.Clone(sealed), 0), ad)
	assert.ErrorIs(t, err, ErrOpen)
	_, err = Open(kek, sealed[:overhead-1], ad)
	assert.ErrorIs(t, err, ErrMalformed)
}

func TestSeal_RefusesBadKEKSize(t *testing.T) {
	for _, n := range []int{0, 16, 24, 31, 33, 64} {
		_, err := Seal(make([]byte, n), []byte("x"), nil)
		assert.ErrorIs(t, err, ErrInvalidKEK, "size %d", n)
		_, err = Open(make([]byte, n), make([]byte, overhead+1), nil)
		assert.ErrorIs(t, err, ErrInvalidKEK, "size %d", n)
	}
}

func TestKeyID(t *testing.T) {
	a, b := KeyID(testKEK(t, 1)), KeyID(testKEK(t, 2))
	assert.Len(t, a, 16)
	assert.NotEqual(t, a, b)
	assert.Equal(t, a, KeyID(testKEK(t, 1)))
}

func TestBox_SealOpen(t *testing.T) {
	kek := bytes.Repeat([]byte{7}, KEKSize)
	b, err := NewBox(kek)
	require.NoError(t, err)
	clear(kek) // the Box keeps its own copy
	sealed, err := b.Seal([]byte("s3cret!"), []byte("certctl/target-secret/tgt-1/password"))
	require.NoError(t, err)
	got, err := b.Open(sealed, []byte("certctl/target-secret/tgt-1/password"))
	require.NoError(t, err)
	assert.Equal(t, "s3cret!", string(got))
	_, err = b.Open(sealed, []byte("certctl/target-secret/tgt-2/password"))
	assert.ErrorIs(t, err, ErrOpen, "bound to its target and field")

	_, err = NewBox(make([]byte, 16))
	assert.ErrorIs(t, err, ErrInvalidKEK)
}
