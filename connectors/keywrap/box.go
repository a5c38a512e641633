package keywrap

import (
	"bytes"
	"fmt"
)

// Box seals and opens values under one key-encryption key. It lets a caller
// hand the capability to seal and open (to the API, for the passwords of
// target configs) without handing over the key itself. A Box is safe for
// concurrent use; its zero value is unusable.
type Box struct {
	kek []byte
}

// NewBox returns a Box holding a copy of kek: the caller may clear its own.
func NewBox(kek []byte) (*Box, error) {
	if len(kek) != KEKSize {
		return nil, fmt.Errorf("%w: %d bytes, want %d", ErrInvalidKEK, len(kek), KEKSize)
	}
	return &Box{kek: bytes.Clone(kek)}, nil
}

// Seal is Seal under the Box's key.
func (b *Box) Seal(plaintext, additionalData []byte) ([]byte, error) {
	return Seal(b.kek, plaintext, additionalData)
}

// Open is Open under the Box's key; the caller clears the plaintext.
func (b *Box) Open(sealed, additionalData []byte) ([]byte, error) {
	return Open(b.kek, sealed, additionalData)
}

// KeyID is KeyID of the Box's key.
func (b *Box) KeyID() string { return KeyID(b.kek) }
