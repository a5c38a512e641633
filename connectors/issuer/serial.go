package issuer

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"math/big"
	"strings"
)

// SerialBits is the size of the serial numbers NewSerial draws.
const SerialBits = 128

// maxSerialBits keeps a positive serial within RFC 5280's 20 octets once
// DER-encoded (a set top bit costs a leading zero octet).
const maxSerialBits = 20*8 - 1

// serialLimit is 2^SerialBits; serials are drawn below it.
var serialLimit = new(big.Int).Lsh(big.NewInt(1), SerialBits)

// NewSerial draws a positive random serial number of up to SerialBits bits
// from r (crypto/rand when nil). The lifecycle engine calls it before
// proposing an issuance, so that the serial is fixed in the raft log.
func NewSerial(r io.Reader) (*big.Int, error) {
	if r == nil {
		r = rand.Reader
	}
	for {
		s, err := rand.Int(r, serialLimit)
		if err != nil {
			return nil, fmt.Errorf("issuer: draw serial: %w", err)
		}
		if s.Sign() > 0 {
			return s, nil
		}
	}
}

// CheckSerial reports whether s can be a certificate serial number: set,
// positive and at most 20 octets DER-encoded (RFC 5280, 4.1.2.2).
func CheckSerial(s *big.Int) error {
	switch {
	case s == nil:
		return requestErrorf("serial", "no serial number")
	case s.Sign() <= 0:
		return requestErrorf("serial", "serial number must be positive")
	case s.BitLen() > maxSerialBits:
		return requestErrorf("serial", "serial number of %d bits exceeds RFC 5280's 20 octets", s.BitLen())
	}
	return nil
}

// FormatSerial spells a serial the way certctl stores it: lowercase hex of
// its big-endian bytes, an even number of digits, no separators.
func FormatSerial(s *big.Int) string {
	return hex.EncodeToString(s.Bytes())
}

// ParseSerial reads a serial in hex, in either letter case, with or without
// colons (as OpenSSL prints them) or a "0x" prefix, and checks it with
// CheckSerial.
func ParseSerial(text string) (*big.Int, error) {
	digits := strings.ReplaceAll(strings.TrimSpace(text), ":", "")
	digits = strings.TrimPrefix(strings.TrimPrefix(digits, "0x"), "0X")
	s, ok := new(big.Int).SetString(digits, 16)
	if !ok || digits == "" || digits[0] == '-' || digits[0] == '+' {
		return nil, requestErrorf("serial", "%q is not a hex serial number", text)
	}
	if err := CheckSerial(s); err != nil {
		return nil, err
	}
	return s, nil
}
