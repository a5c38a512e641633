package keywrap

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func writeKEKFile(t *testing.T, data []byte, mode os.FileMode) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "kek")
	require.NoError(t, os.WriteFile(path, data, 0o600))
	require.NoError(t, os.Chmod(path, mode)) // WriteFile's mode is subject to the umask
	return path
}

func TestParseKEK_Forms(t *testing.T) {
	key := make([]byte, KEKSize)
	for i := range key {
		key[i] = byte(i*7 + 1)
	}
	tests := []struct {
		name string
		data []byte
	}{
		{"raw", key},
		{"hex", []byte(hex.EncodeToString(key))},
		{"hex upper with newline", []byte(" " + hexUpper(key) + "\n")},
		{"base64 std", []byte(base64.StdEncoding.EncodeToString(key) + "\n")},
		{"base64 raw std", []byte(base64.RawStdEncoding.EncodeToString(key))},
		{"base64 url", []byte(base64.URLEncoding.EncodeToString(key))},
		{"base64 raw url", []byte(base64.RawURLEncoding.EncodeToString(key) + "\r\n")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseKEK(tt.data)
			require.NoError(t, err)
			assert.Equal(t, key, got)
		})
	}
}

func TestParseKEK_Refuses(t *testing.T) {
	tests := []struct {
		name string
		data []byte
	}{
		{"empty", nil},
		{"short raw", make([]byte, 31)},
		{"32 printable characters", []byte("correct horse battery staple 123")},
		{"long raw", bytes.Repeat([]byte{1}, 33)},
		{"short hex", []byte(hex.EncodeToString(make([]byte, 16)))},
		{"bad hex", []byte(string(bytes.Repeat([]byte("zz"), 32)))},
		{"base64 of 16 bytes", []byte(base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{1}, 16)))},
		{"all zeros raw", make([]byte, KEKSize)},
		{"all zeros hex", []byte(hex.EncodeToString(make([]byte, KEKSize)))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseKEK(tt.data)
			assert.ErrorIs(t, err, ErrInvalidKEK)
		})
	}
}

func TestLoadKEK_AcceptsOwnerOnlyModes(t *testing.T) {
	key := bytes.Repeat([]byte{0x42}, KEKSize)
	for _, mode := range []os.FileMode{0o600, 0o400} {
		path := writeKEKFile(t, []byte(hex.EncodeToString(key)+"\n"), mode)
		got, err := LoadKEK(path)
		require.NoError(t, err, "mode %#o", mode)
		assert.Equal(t, key, got)
	}
}

func TestLoadKEK_RefusesGroupOrOtherAccess(t *testing.T) {
	key := bytes.Repeat([]byte{0x42}, KEKSize)
	for _, mode := range []os.FileMode{0o644, 0o640, 0o604, 0o660, 0o610, 0o601} {
		path := writeKEKFile(t, key, mode)
		_, err := LoadKEK(path)
		require.ErrorIs(t, err, ErrKEKFileMode, "mode %#o", mode)
		assert.Contains(t, err.Error(), path)
		assert.Contains(t, err.Error(), "chmod 600")
	}
}

func TestLoadKEK_RefusesBadFiles(t *testing.T) {
	_, err := LoadKEK(filepath.Join(t.TempDir(), "missing"))
	assert.ErrorIs(t, err, os.ErrNotExist)

	dir := t.TempDir()
	require.NoError(t, os.Chmod(dir, 0o700))
	_, err = LoadKEK(dir)
	assert.ErrorIs(t, err, ErrInvalidKEK)

	_, err = LoadKEK(writeKEKFile(t, []byte("not a key\n"), 0o600))
	assert.ErrorIs(t, err, ErrInvalidKEK)

	_, err = LoadKEK(writeKEKFile(t, bytes.Repeat([]byte("a"), maxKEKFile+1), 0o600))
	assert.ErrorIs(t, err, ErrInvalidKEK)
}

func TestNewKEK(t *testing.T) {
	a, err := NewKEK(nil)
	require.NoError(t, err)
	b, err := NewKEK(nil)
	require.NoError(t, err)
	assert.Len(t, a, KEKSize)
	assert.NotEqual(t, a, b)

	_, err = NewKEK(bytes.NewReader(make([]byte, 5)))
	assert.Error(t, err)
}

func hexUpper(b []byte) string {
	return string(bytes.ToUpper([]byte(hex.EncodeToString(b))))
}
