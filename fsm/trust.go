package fsm

import (
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"slices"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
)

// The cluster's own trust: the CA that signs node certificates, the join
// tokens that buy a node certificate, and the node certificates revoked when
// their node left. None of it concerns the certificates the site manages.

// maxNodeCerts bounds Member.CertSerials: a node renews its certificate long
// before it expires, so older serials have expired by then.
const maxNodeCerts = 4

// Join token limits.
const (
	MaxJoinTokenUses = 100
	MaxJoinTokenTTL  = 7 * 24 * time.Hour
)

// ClusterCA is the certificate authority of the cluster's nodes: its
// certificate, and its key sealed under the key-encryption key (never in
// plaintext).
type ClusterCA struct {
	CertPEM     string `json:"cert_pem"`
	SealedKey   string `json:"sealed_key"`
	Fingerprint string `json:"fingerprint"` // SHA-256 of the certificate's DER, hex
	KEKID       string `json:"kek_id,omitempty"`
}

// SetClusterCA stores the cluster CA. It is written once: the same CA again
// is a no-op, another one a conflict, so the nodes' certificates never lose
// their root.
type SetClusterCA struct {
	CA ClusterCA `json:"ca"`
}

func (SetClusterCA) CommandType() CommandType { return CommandSetClusterCA }
func (p *SetClusterCA) Validate() error {
	if !strings.Contains(p.CA.CertPEM, "BEGIN CERTIFICATE") {
		return invalidf("cert_pem", "cert_pem must hold a PEM certificate")
	}
	if strings.Contains(p.CA.CertPEM, "PRIVATE KEY") || strings.Contains(p.CA.SealedKey, "PRIVATE KEY") {
		return invalidf("sealed_key", "the cluster CA's key is stored only sealed under the key-encryption key")
	}
	if p.CA.SealedKey == "" {
		return invalidf("sealed_key", "sealed_key is required")
	}
	if b, err := hex.DecodeString(p.CA.Fingerprint); err != nil || len(b) != 32 {
		return invalidf("fingerprint", "fingerprint must be a hex SHA-256")
	}
	return nil
}
func (p *SetClusterCA) apply(t *txn) (any, error) {
	meta := t.bucket(bucketMeta)
	if cur := meta.Get(metaClusterCA); cur != nil {
		var old ClusterCA
		if err := json.Unmarshal(cur, &old); err != nil {
			return nil, &Error{Code: CodeInternal, Resource: "cluster_ca", Message: "stored cluster CA is unreadable: " + err.Error()}
		}
		if old.Fingerprint == p.CA.Fingerprint {
			return old, nil
		}
		return nil, conflictf("cluster_ca", old.Fingerprint, "the cluster already has a CA (SHA-256 %s); it is never replaced", old.Fingerprint)
	}
	putJSON(meta, metaClusterCA, &p.CA)
	t.audit("cluster_ca_created", "cluster", "", map[string]string{"fingerprint": p.CA.Fingerprint, "kek_id": p.CA.KEKID})
	return p.CA, nil
}

// ClusterCA returns the cluster CA, or ErrNotFound before the first leader
// stored it.
func (f *FSM) ClusterCA() (ClusterCA, error) {
	var ca ClusterCA
	err := f.view(func(tx *bolt.Tx) error {
		found, err := getJSON(tx.Bucket(bucketMeta), metaClusterCA, &ca)
		if err == nil && !found {
			err = notFound("cluster CA", "")
		}
		return err
	})
	return ca, err
}

// JoinToken lets a new node join the cluster: it buys a node certificate,
// Uses times, until ExpiresAt. Only the SHA-256 of its secret is stored.
type JoinToken struct {
	ID        string     `json:"id"`
	Hash      string     `json:"hash"`
	CreatedAt time.Time  `json:"created_at"`
	CreatedBy string     `json:"created_by"`
	ExpiresAt time.Time  `json:"expires_at"`
	Uses      int        `json:"uses"`
	UsesLeft  int        `json:"uses_left"`
	UsedBy    []string   `json:"used_by,omitempty"` // node ids, in order
	RevokedAt *time.Time `json:"revoked_at,omitempty"`
}

// CreateJoinToken adds a join token valid from the command's time for TTL.
type CreateJoinToken struct {
	ID   string        `json:"id"`
	Hash string        `json:"hash"`
	TTL  time.Duration `json:"ttl"`
	Uses int           `json:"uses"`
}

func (CreateJoinToken) CommandType() CommandType { return CommandCreateJoinToken }
func (p *CreateJoinToken) Validate() error {
	if err := ValidID("id", p.ID); err != nil {
		return err
	}
	if b, err := hex.DecodeString(p.Hash); err != nil || len(b) != 32 {
		return invalidf("hash", "hash must be a hex SHA-256")
	}
	if p.TTL < time.Minute || p.TTL > MaxJoinTokenTTL {
		return invalidf("ttl", "ttl %s must be between 1m and %s", p.TTL, MaxJoinTokenTTL)
	}
	if p.Uses < 1 || p.Uses > MaxJoinTokenUses {
		return invalidf("uses", "uses %d must be between 1 and %d", p.Uses, MaxJoinTokenUses)
	}
	return nil
}
func (p *CreateJoinToken) apply(t *txn) (any, error) {
	b := t.bucket(bucketJoinTokens)
	if b.Get([]byte(p.ID)) != nil {
		return nil, conflictf("join_token", p.ID, "join token %q already exists", p.ID)
	}
	tok := JoinToken{ID: p.ID, Hash: p.Hash, CreatedAt: t.now(), CreatedBy: t.cmd.Actor,
		ExpiresAt: t.now().Add(p.TTL), Uses: p.Uses, UsesLeft: p.Uses}
	putJSON(b, []byte(tok.ID), &tok)
	t.audit("join_token_created", "join_token", tok.ID, map[string]any{"expires_at": tok.ExpiresAt, "uses": tok.Uses})
	return tok, nil
}

// RevokeJoinToken ends a join token before its time.
type RevokeJoinToken struct {
	ID string `json:"id"`
}

func (RevokeJoinToken) CommandType() CommandType { return CommandRevokeJoinToken }
func (p *RevokeJoinToken) Validate() error       { return ValidID("id", p.ID) }
func (p *RevokeJoinToken) apply(t *txn) (any, error) {
	b := t.bucket(bucketJoinTokens)
	var tok JoinToken
	found, err := getJSON(b, []byte(p.ID), &tok)
	if err != nil {
		return nil, err
	}
	if !found {
		return nil, notFound("join token", p.ID)
	}
	if tok.RevokedAt != nil {
		return tok, nil
	}
	now := t.now()
	tok.RevokedAt = &now
	putJSON(b, []byte(tok.ID), &tok)
	t.audit("join_token_revoked", "join_token", tok.ID, nil)
	return tok, nil
}

// ConsumeJoinToken admits a node: it spends one use of a join token and, in
// the same transaction, records the node as a member with the certificate it
// was given. It is where a token is checked: the replicated state decides, so
// two nodes presenting a one-use token at once cannot both join, and no node
// records another node's membership without a token.
type ConsumeJoinToken struct {
	ID           string    `json:"id"`
	Hash         string    `json:"hash"`
	Member       Member    `json:"member"`
	CertSerial   string    `json:"cert_serial"`
	CertNotAfter time.Time `json:"cert_not_after"`
}

func (ConsumeJoinToken) CommandType() CommandType { return CommandConsumeJoinToken }
func (p *ConsumeJoinToken) Validate() error {
	if err := ValidID("id", p.ID); err != nil {
		return err
	}
	if b, err := hex.DecodeString(p.Hash); err != nil || len(b) != 32 {
		return invalidf("hash", "hash must be a hex SHA-256")
	}
	if err := (RegisterMember{Member: p.Member}).Validate(); err != nil {
		return err
	}
	return (&RecordNodeCert{NodeID: p.Member.NodeID, Serial: p.CertSerial, NotAfter: p.CertNotAfter}).Validate()
}
func (p *ConsumeJoinToken) apply(t *txn) (any, error) {
	b := t.bucket(bucketJoinTokens)
	var tok JoinToken
	found, err := getJSON(b, []byte(p.ID), &tok)
	if err != nil {
		return nil, err
	}
	// One answer for an unknown token and a wrong secret: the caller learns
	// nothing about which token ids exist.
	if !found || subtle.ConstantTimeCompare([]byte(tok.Hash), []byte(p.Hash)) != 1 {
		return nil, unauthorizedf("join token is unknown")
	}
	switch {
	case tok.RevokedAt != nil:
		return nil, unauthorizedf("join token %s was revoked; ask an admin for a new one (certctl operator join-token create)", tok.ID)
	case !t.now().Before(tok.ExpiresAt):
		return nil, unauthorizedf("join token %s expired at %s; ask an admin for a new one (certctl operator join-token create)", tok.ID, tok.ExpiresAt.Format(time.RFC3339))
	case tok.UsesLeft <= 0:
		return nil, unauthorizedf("join token %s is used up (%d of %d uses); ask an admin for a new one (certctl operator join-token create)", tok.ID, tok.Uses, tok.Uses)
	}
	if t.exists(bucketNodeCertRevoke, p.CertSerial) {
		return nil, statef("node_certificate", p.CertSerial, "node certificate %s was revoked", p.CertSerial)
	}
	tok.UsesLeft--
	tok.UsedBy = append(tok.UsedBy, p.Member.NodeID)
	putJSON(b, []byte(tok.ID), &tok)
	t.audit("join_token_used", "join_token", tok.ID, map[string]any{"node_id": p.Member.NodeID, "uses_left": tok.UsesLeft})
	if _, err := (RegisterMember{Member: p.Member}).apply(t); err != nil {
		return nil, err // unreachable: RegisterMember rejects nothing that Validate passed
	}
	return (&RecordNodeCert{NodeID: p.Member.NodeID, Serial: p.CertSerial, NotAfter: p.CertNotAfter}).apply(t)
}

// JoinToken returns the join token with that id.
func (f *FSM) JoinToken(id string) (JoinToken, error) {
	var tok JoinToken
	err := f.view(func(tx *bolt.Tx) error {
		found, err := getJSON(tx.Bucket(bucketJoinTokens), []byte(id), &tok)
		if err == nil && !found {
			err = notFound("join token", id)
		}
		return err
	})
	return tok, err
}

// JoinTokens lists join tokens by id.
func (f *FSM) JoinTokens(p Page) (List[JoinToken], error) {
	var out List[JoinToken]
	err := f.view(func(tx *bolt.Tx) (err error) {
		out, err = scanBucket(tx, bucketJoinTokens, p, func(*JoinToken) bool { return true }) // not counted: scanned
		return err
	})
	return out, err
}

// RecordNodeCert records a node certificate issued to a member: at a join,
// or when the node renews it.
type RecordNodeCert struct {
	NodeID   string    `json:"node_id"`
	Serial   string    `json:"serial"`
	NotAfter time.Time `json:"not_after"`
}

func (RecordNodeCert) CommandType() CommandType { return CommandRecordNodeCert }
func (p *RecordNodeCert) Validate() error {
	if err := ValidID("node_id", p.NodeID); err != nil {
		return err
	}
	if _, err := hex.DecodeString(p.Serial); err != nil || p.Serial == "" || len(p.Serial) > 64 {
		return invalidf("serial", "serial must be hex")
	}
	if p.NotAfter.IsZero() {
		return invalidf("not_after", "not_after is required")
	}
	return nil
}
func (p *RecordNodeCert) apply(t *txn) (any, error) {
	if t.exists(bucketNodeCertRevoke, p.Serial) {
		return nil, statef("node_certificate", p.Serial, "node certificate %s was revoked", p.Serial)
	}
	b := t.bucket(bucketMembers)
	var m Member
	found, err := getJSON(b, []byte(p.NodeID), &m)
	if err != nil {
		return nil, err
	}
	if !found {
		m = Member{NodeID: p.NodeID, JoinedAt: t.now()}
	}
	if slices.Contains(m.CertSerials, p.Serial) {
		return m, nil
	}
	m.CertSerials = append([]string{p.Serial}, m.CertSerials...)
	if len(m.CertSerials) > maxNodeCerts {
		m.CertSerials = m.CertSerials[:maxNodeCerts]
	}
	na := p.NotAfter.UTC()
	m.CertNotAfter = &na
	putJSON(b, []byte(m.NodeID), &m)
	t.audit("node_certificate_issued", "cluster_member", m.NodeID, map[string]any{"serial": p.Serial, "not_after": na})
	return m, nil
}

// NodeCertRevocation records a node certificate that no node accepts any
// more, because its node left the cluster.
type NodeCertRevocation struct {
	Serial    string    `json:"serial"`
	NodeID    string    `json:"node_id"`
	RevokedAt time.Time `json:"revoked_at"`
}

// revokeNodeCerts revokes every certificate recorded for m.
func revokeNodeCerts(t *txn, m *Member) {
	b := t.bucket(bucketNodeCertRevoke)
	for _, s := range m.CertSerials {
		putJSON(b, []byte(s), &NodeCertRevocation{Serial: s, NodeID: m.NodeID, RevokedAt: t.now()})
	}
}

// NodeCertRevoked reports whether the node certificate with that serial
// (lower-case hex) was revoked.
func (f *FSM) NodeCertRevoked(serial string) (bool, error) {
	var revoked bool
	err := f.view(func(tx *bolt.Tx) error {
		revoked = tx.Bucket(bucketNodeCertRevoke).Get([]byte(serial)) != nil
		return nil
	})
	return revoked, err
}
