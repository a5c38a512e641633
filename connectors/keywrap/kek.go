package keywrap

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
)

// KEKSize is the length of a key-encryption key in bytes (AES-256).
const KEKSize = 32

// maxKEKFile bounds what LoadKEK reads: the longest valid form (base64 with
// white space around it) is far below it.
const maxKEKFile = 4096

// ErrInvalidKEK reports a key-encryption key of the wrong size or form.
var ErrInvalidKEK = errors.New("keywrap: invalid key-encryption key")

// ErrNoKEK reports a node without a key-encryption key asked for something
// that exists only sealed under one (the Local CA's keys, server-side keys,
// sealed config secrets).
var ErrNoKEK = errors.New("keywrap: no key-encryption key on this node: start certctl server with --kek-file (config kek_file, env CERTCTL_KEK_FILE), the same file on every node")

// ErrKEKFileMode reports a KEK file with any permission for group or others.
var ErrKEKFileMode = errors.New("keywrap: KEK file is accessible to group or others")

// LoadKEK reads a key-encryption key from path. The file holds 32 raw bytes,
// 64 hex characters or the base64 of 32 bytes (standard or URL alphabet,
// padded or not); white space around the text forms is ignored. LoadKEK
// refuses a file whose mode lets group or others read, write or execute it
// (mode & 0o077 != 0), a file that is not a regular file, and an all-zero key.
// The caller owns the returned slice.
func LoadKEK(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("keywrap: read KEK: %w", err)
	}
	defer f.Close()

	// Check the mode of the file actually opened, not of whatever the path
	// names a moment later.
	info, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("keywrap: read KEK: %w", err)
	}
	if !info.Mode().IsRegular() {
		return nil, fmt.Errorf("%w: %s is not a regular file", ErrInvalidKEK, path)
	}
	if perm := info.Mode().Perm(); perm&0o077 != 0 {
		return nil, fmt.Errorf("%w: %s has mode %#o; make it readable by its owner only (chmod 600 %s)",
			ErrKEKFileMode, path, perm, path)
	}

	data, err := io.ReadAll(io.LimitReader(f, maxKEKFile+1))
	if err != nil {
		return nil, fmt.Errorf("keywrap: read KEK: %w", err)
	}
	defer clear(data)
	if len(data) > maxKEKFile {
		return nil, fmt.Errorf("%w: %s is larger than %d bytes", ErrInvalidKEK, path, maxKEKFile)
	}
	kek, err := ParseKEK(data)
	if err != nil {
		return nil, fmt.Errorf("%w (file %s)", err, path)
	}
	return kek, nil
}

// ParseKEK decodes a key-encryption key given as 32 raw bytes, 64 hex
// characters or base64, as LoadKEK does, into a new 32-byte slice. Thirty-two
// bytes that are all printable ASCII are read as text, not as a raw key, so a
// truncated hex key or a password is refused rather than used.
func ParseKEK(data []byte) ([]byte, error) {
	var kek []byte
	switch text := bytes.TrimSpace(data); {
	case len(data) == KEKSize && !isText(data):
		// 32 random bytes are all printable with odds near 1e-14: 32
		// printable bytes are text (half a hex key, a password), not a key.
		kek = bytes.Clone(data)
	case len(text) == 2*KEKSize && isHex(text):
		kek = make([]byte, KEKSize)
		if _, err := hex.Decode(kek, text); err != nil {
			return nil, fmt.Errorf("%w: %v", ErrInvalidKEK, err)
		}
	default:
		kek = decodeBase64(text)
		if kek == nil {
			return nil, fmt.Errorf("%w: want 32 raw bytes, 64 hex characters or base64 of 32 bytes, got %d bytes",
				ErrInvalidKEK, len(data))
		}
	}
	if isZero(kek) {
		return nil, fmt.Errorf("%w: the key is all zeros", ErrInvalidKEK)
	}
	return kek, nil
}

// NewKEK draws a fresh key-encryption key from r (crypto/rand when nil), for
// an installer that creates the KEK file.
func NewKEK(r io.Reader) ([]byte, error) {
	if r == nil {
		r = rand.Reader
	}
	kek := make([]byte, KEKSize)
	if _, err := io.ReadFull(r, kek); err != nil {
		return nil, fmt.Errorf("keywrap: new KEK: %w", err)
	}
	return kek, nil
}

// KeyID names a key-encryption key without revealing it: 16 hex characters
// of a domain-separated SHA-256 of the key. Values sealed under one KEK carry
// its KeyID so that a node holding another KEK can say so plainly.
func KeyID(kek []byte) string {
	h := sha256.New()
	h.Write([]byte("certctl keywrap key id v1\x00"))
	h.Write(kek)
	return hex.EncodeToString(h.Sum(nil)[:8])
}

func isHex(b []byte) bool {
	for _, c := range b {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}

// decodeBase64 returns the 32 bytes that text encodes in any base64 alphabet
// and padding, or nil.
func decodeBase64(text []byte) []byte {
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		out := make([]byte, enc.DecodedLen(len(text)))
		n, err := enc.Decode(out, text)
		if err == nil && n == KEKSize {
			return out[:n]
		}
		clear(out)
	}
	return nil
}

func isText(b []byte) bool {
	for _, c := range b {
		if c < 0x20 || c > 0x7e {
			return false
		}
	}
	return true
}

func isZero(b []byte) bool {
	var acc byte
	for _, c := range b {
		acc |= c
	}
	return acc == 0
}
