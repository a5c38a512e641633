package keywrap

import (
	"crypto/aes"
	"crypto/cipher"
	"errors"
	"fmt"
)

// version1 is the first byte of every value sealed by this version.
const version1 byte = 0x01

// overhead is what Seal adds to a plaintext: version, nonce and tag.
const overhead = 1 + 12 + 16

// ErrOpen reports a sealed value that does not open: a different KEK, a
// different additional data, or bytes altered since sealing. GCM cannot tell
// these apart and Open does not guess.
var ErrOpen = errors.New("keywrap: sealed value does not open (wrong key-encryption key, wrong purpose, or altered data)")

// ErrMalformed reports a sealed value too short or of an unknown version.
var ErrMalformed = errors.New("keywrap: malformed sealed value")

// Seal encrypts plaintext with AES-256-GCM under kek, with a random nonce
// from crypto/rand, and binds it to additionalData, which Open must be given
// unchanged (for example "certctl/localca/<issuer_id>/intermediate"). The
// result is a new slice in the format of DESIGN.md; plaintext is not
// modified. Seal is safe for concurrent use.
func Seal(kek, plaintext, additionalData []byte) ([]byte, error) {
	aead, err := newAEAD(kek)
	if err != nil {
		return nil, err
	}
	out := make([]byte, 1, overhead+len(plaintext))
	out[0] = version1
	return aead.Seal(out, nil, plaintext, aad(version1, additionalData)), nil
}

// Open decrypts a value made by Seal under the same kek and additionalData.
// It returns ErrOpen when the value does not authenticate and ErrMalformed
// when it is not a sealed value at all. The caller owns the plaintext and
// should clear it when done.
func Open(kek, sealed, additionalData []byte) ([]byte, error) {
	aead, err := newAEAD(kek)
	if err != nil {
		return nil, err
	}
	if len(sealed) < overhead {
		return nil, fmt.Errorf("%w: %d bytes, want at least %d", ErrMalformed, len(sealed), overhead)
	}
	if sealed[0] != version1 {
		return nil, fmt.Errorf("%w: unknown version %#x", ErrMalformed, sealed[0])
	}
	plaintext, err := aead.Open(nil, nil, sealed[1:], aad(sealed[0], additionalData))
	if err != nil {
		return nil, ErrOpen
	}
	return plaintext, nil
}

func newAEAD(kek []byte) (cipher.AEAD, error) {
	if len(kek) != KEKSize {
		return nil, fmt.Errorf("%w: %d bytes, want %d", ErrInvalidKEK, len(kek), KEKSize)
	}
	block, err := aes.NewCipher(kek)
	if err != nil {
		return nil, fmt.Errorf("keywrap: %w", err)
	}
	// The nonce is drawn from crypto/rand and prepended by Seal.
	aead, err := cipher.NewGCMWithRandomNonce(block)
	if err != nil {
		return nil, fmt.Errorf("keywrap: %w", err)
	}
	return aead, nil
}

// aad authenticates the version byte along with the caller's data.
func aad(version byte, additionalData []byte) []byte {
	out := make([]byte, 0, 1+len(additionalData))
	out = append(out, version)
	return append(out, additionalData...)
}
