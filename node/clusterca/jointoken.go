package clusterca

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// A join token is what an operator hands a new node:
//
//	cjt1.<token id>.<secret>.<cluster CA fingerprint>
//
// The secret (32 random bytes) buys one use of the token, checked by the
// cluster against the hash it stores. The fingerprint (SHA-256 of the cluster
// CA's DER) lets the new node check the node it joins through before it sends
// anything: the first contact cannot be intercepted (kubeadm's discovery
// hash, carried in the token itself).
const joinTokenPrefix = "cjt1"

// secretBytes is the size of a join token's secret.
const secretBytes = 32

// JoinToken is a parsed join token.
type JoinToken struct {
	ID            string
	Secret        string
	CAFingerprint string
}

// NewJoinToken makes a token with a fresh id and secret for the CA with that
// fingerprint.
func NewJoinToken(caFingerprint string) (JoinToken, error) {
	var id [6]byte
	var secret [secretBytes]byte
	if _, err := rand.Read(id[:]); err != nil {
		return JoinToken{}, err
	}
	if _, err := rand.Read(secret[:]); err != nil {
		return JoinToken{}, err
	}
	return JoinToken{
		ID:            "jt-" + hex.EncodeToString(id[:]),
		Secret:        base64.RawURLEncoding.EncodeToString(secret[:]),
		CAFingerprint: caFingerprint,
	}, nil
}

// String is the token as an operator passes it.
func (t JoinToken) String() string {
	return strings.Join([]string{joinTokenPrefix, t.ID, t.Secret, t.CAFingerprint}, ".")
}

// SecretHash is what the cluster stores of the secret: its SHA-256, hex.
func (t JoinToken) SecretHash() string {
	sum := sha256.Sum256([]byte(t.Secret))
	return hex.EncodeToString(sum[:])
}

// ErrMalformedJoinToken is the error of ParseJoinToken.
var ErrMalformedJoinToken = errors.New("clusterca: not a join token (expected cjt1.<id>.<secret>.<CA fingerprint>, as printed by the first node or by certctl operator join-token create)")

// ParseJoinToken reads a token in the form String writes, refusing secrets
// shorter than 32 bytes.
func ParseJoinToken(s string) (JoinToken, error) {
	parts := strings.Split(strings.TrimSpace(s), ".")
	if len(parts) != 4 || parts[0] != joinTokenPrefix {
		return JoinToken{}, ErrMalformedJoinToken
	}
	t := JoinToken{ID: parts[1], Secret: parts[2], CAFingerprint: strings.ToLower(parts[3])}
	if !strings.HasPrefix(t.ID, "jt-") || len(t.ID) > 64 {
		return JoinToken{}, fmt.Errorf("%w: bad token id", ErrMalformedJoinToken)
	}
	if b, err := base64.RawURLEncoding.DecodeString(t.Secret); err != nil || len(b) < secretBytes {
		return JoinToken{}, fmt.Errorf("%w: the secret must be at least %d random bytes", ErrMalformedJoinToken, secretBytes)
	}
	if b, err := hex.DecodeString(t.CAFingerprint); err != nil || len(b) != sha256.Size {
		return JoinToken{}, fmt.Errorf("%w: the CA fingerprint must be a hex SHA-256", ErrMalformedJoinToken)
	}
	return t, nil
}
