package issuer

import (
	"bytes"
	"math/big"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestNewSerial(t *testing.T) {
	seen := map[string]bool{}
	for range 1000 {
		s, err := NewSerial(nil)
		require.NoError(t, err)
		assert.Positive(t, s.Sign())
		assert.LessOrEqual(t, s.BitLen(), SerialBits)
		require.NoError(t, CheckSerial(s))
		assert.False(t, seen[s.String()])
		seen[s.String()] = true
	}
	// From a caller's reader; a short reader is an error.
	s, err := NewSerial(bytes.NewReader(bytes.Repeat([]byte{0xab}, 64)))
	require.NoError(t, err)
	assert.Equal(t, "abababababababababababababababab", FormatSerial(s))
	_, err = NewSerial(bytes.NewReader([]byte{1, 2}))
	assert.Error(t, err)
}

func TestFormatParseSerial(t *testing.T) {
	s, ok := new(big.Int).SetString("0a1b2c3d4e5f60718293a4b5c6d7e8f9", 16)
	require.True(t, ok)
	assert.Equal(t, "0a1b2c3d4e5f60718293a4b5c6d7e8f9", FormatSerial(s))
	assert.Equal(t, "01", FormatSerial(big.NewInt(1)))

	for _, text := range []string{
		"0a1b2c3d4e5f60718293a4b5c6d7e8f9",
		"0A1B2C3D4E5F60718293A4B5C6D7E8F9",
		"a1b2c3d4e5f60718293a4b5c6d7e8f9",
		"0a:1b:2c:3d:4e:5f:60:71:82:93:a4:b5:c6:d7:e8:f9",
		"0x0a1b2c3d4e5f60718293a4b5c6d7e8f9",
		" 0a1b2c3d4e5f60718293a4b5c6d7e8f9\n",
	} {
		got, err := ParseSerial(text)
		require.NoError(t, err, text)
		assert.Equal(t, 0, s.Cmp(got), text)
	}
}

func TestParseSerial_Refuses(t *testing.T) {
	for _, text := range []string{"", "0", "00", "-1f", "+1f", "xyz", "12 34", "0x", new(big.Int).Lsh(big.NewInt(1), 159).Text(16)} {
		_, err := ParseSerial(text)
		var re *RequestError
		require.ErrorAs(t, err, &re, "%q", text)
		assert.Equal(t, "serial", re.Field)
	}
	// 159 bits is the most that fits 20 octets.
	_, err := ParseSerial(new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 159), big.NewInt(1)).Text(16))
	assert.NoError(t, err)
}
