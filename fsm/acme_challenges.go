package fsm

import (
	"bytes"
	"time"

	bolt "go.etcd.io/bbolt"
)

// ACMEChallenge is the answer to one ACME HTTP-01 challenge (RFC 8555
// §8.3): every node serves KeyAuthorization at
// /.well-known/acme-challenge/<Token> until ExpiresAt, so the CA's
// validation request may reach any of them. It is public by design (the
// token and the account key's thumbprint), never a secret.
type ACMEChallenge struct {
	Token            string    `json:"token"`
	KeyAuthorization string    `json:"key_authorization"`
	IssuerID         string    `json:"issuer_id"`
	ExpiresAt        time.Time `json:"expires_at"`
	// Responder "agent" (ACMEResponderAgent) has the agents of
	// CertificateID's targets serve the answer on their hosts; the order
	// waits until one of them confirms (ServedBy, ServedAt). Empty: the
	// nodes serve it. See acme_agent.go.
	Responder     string     `json:"responder,omitempty"`
	CertificateID string     `json:"certificate_id,omitempty"`
	ServedBy      string     `json:"served_by,omitempty"`
	ServedAt      *time.Time `json:"served_at,omitempty"`
}

// Bounds of an ACMEChallenge. RFC 8555 tokens carry at least 128 bits
// (22 base64url characters); CAs use 43.
const (
	maxACMETokenLength   = 128
	maxACMEKeyAuthLength = 256
	// MaxACMEChallengeLife bounds how long a challenge answer may be served.
	MaxACMEChallengeLife = 24 * time.Hour
)

// ValidACMEToken reports whether token is a plausible ACME token: 1 to 128
// base64url characters, so it is safe as a key and in a URL path.
func ValidACMEToken(token string) bool {
	if token == "" || len(token) > maxACMETokenLength {
		return false
	}
	for _, c := range []byte(token) {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// PutACMEChallenge publishes the answer to an HTTP-01 challenge of an
// issuer's order, before the challenge is accepted at the CA. Putting a
// token again replaces its answer. Answers that expired by the command's
// time are removed on the way, so the bucket holds only live orders' tokens.
type PutACMEChallenge struct {
	Challenge ACMEChallenge `json:"challenge"`
}

func (PutACMEChallenge) CommandType() CommandType { return CommandPutACMEChallenge }
func (p *PutACMEChallenge) Validate() error {
	c := &p.Challenge
	if !ValidACMEToken(c.Token) {
		return invalidf("token", "an ACME token is 1 to %d base64url characters", maxACMETokenLength)
	}
	if err := ValidID("issuer_id", c.IssuerID); err != nil {
		return err
	}
	if c.KeyAuthorization == "" || len(c.KeyAuthorization) > maxACMEKeyAuthLength ||
		!bytes.HasPrefix([]byte(c.KeyAuthorization), []byte(c.Token+".")) {
		return invalidf("key_authorization", "a key authorization is the token, a dot and the account key's thumbprint, at most %d characters", maxACMEKeyAuthLength)
	}
	if err := ValidText("key_authorization", c.KeyAuthorization, maxACMEKeyAuthLength, true); err != nil {
		return err
	}
	if c.ExpiresAt.IsZero() {
		return invalidf("expires_at", "an ACME challenge answer needs an expiry")
	}
	return validateResponder(c)
}
func (p *PutACMEChallenge) apply(t *txn) (any, error) {
	if err := t.requireExists(bucketIssuers, "issuer", "issuer_id", p.Challenge.IssuerID); err != nil {
		return nil, err
	}
	if p.Challenge.Responder == ACMEResponderAgent {
		if err := t.requireExists(bucketCertificates, "certificate", "certificate_id", p.Challenge.CertificateID); err != nil {
			return nil, err
		}
	}
	p.Challenge.ServedBy, p.Challenge.ServedAt = "", nil
	now := t.now()
	if !p.Challenge.ExpiresAt.After(now) || p.Challenge.ExpiresAt.Sub(now) > MaxACMEChallengeLife {
		return nil, invalidf("expires_at", "an ACME challenge answer must expire within %s of now", MaxACMEChallengeLife)
	}
	b := t.bucket(bucketACMEChallenges)
	var expired [][]byte
	c := b.Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		var old ACMEChallenge
		if unmarshalStored(v, &old) == nil && !old.ExpiresAt.After(now) {
			expired = append(expired, bytes.Clone(k))
		}
	}
	for _, k := range expired {
		must(b.Delete(k))
	}
	putJSON(b, []byte(p.Challenge.Token), p.Challenge)
	t.audit("acme_challenge_published", "issuer", p.Challenge.IssuerID, map[string]any{
		"token": p.Challenge.Token, "expires_at": p.Challenge.ExpiresAt})
	return nil, nil
}

// DeleteACMEChallenge takes the answer to an HTTP-01 challenge down once
// its order is done. Deleting a token that is not there is a no-op, so a
// retried delete succeeds.
type DeleteACMEChallenge struct {
	Token string `json:"token"`
}

func (DeleteACMEChallenge) CommandType() CommandType { return CommandDeleteACMEChallenge }
func (p *DeleteACMEChallenge) Validate() error {
	if !ValidACMEToken(p.Token) {
		return invalidf("token", "an ACME token is 1 to %d base64url characters", maxACMETokenLength)
	}
	return nil
}
func (p *DeleteACMEChallenge) apply(t *txn) (any, error) {
	b := t.bucket(bucketACMEChallenges)
	raw := b.Get([]byte(p.Token))
	if raw == nil {
		return nil, nil
	}
	var old ACMEChallenge
	_ = unmarshalStored(raw, &old)
	must(b.Delete([]byte(p.Token)))
	t.audit("acme_challenge_removed", "issuer", old.IssuerID, map[string]any{"token": p.Token})
	return nil, nil
}

// ACMEChallengeAnswer returns the key authorization published for token if
// it is live at now; ok is false for an unknown, malformed or expired token.
func (f *FSM) ACMEChallengeAnswer(token string, now time.Time) (keyAuth string, ok bool) {
	if !ValidACMEToken(token) {
		return "", false
	}
	_ = f.view(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketACMEChallenges)
		if b == nil {
			return nil
		}
		var c ACMEChallenge
		if found, err := getJSON(b, []byte(token), &c); err != nil || !found {
			return nil
		}
		if c.ExpiresAt.After(now) {
			keyAuth, ok = c.KeyAuthorization, true
		}
		return nil
	})
	return keyAuth, ok
}
