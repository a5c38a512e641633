package fsm

import (
	"bytes"
	"encoding/hex"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Roles of API keys.
const (
	RoleAdmin    = "admin"    // everything
	RoleOperator = "operator" // everything but key and cluster management
	RoleViewer   = "viewer"   // read only
	RoleAuditor  = "auditor"  // the audit trail only
	RoleAgent    = "agent"    // one agent's own endpoints
)

// Roles is the closed set of key roles.
var Roles = Enum[string]{RoleAdmin, RoleOperator, RoleViewer, RoleAuditor, RoleAgent}

// APIKey is a bearer key. Only the SHA-256 of the secret is stored; Prefix
// (the secret's first characters) lets a person tell keys apart.
type APIKey struct {
	ID        string     `json:"id"`
	Name      string     `json:"name"`
	Role      string     `json:"role"`
	AgentID   string     `json:"agent_id,omitempty"`
	Hash      string     `json:"hash"`
	Prefix    string     `json:"prefix"`
	CreatedAt time.Time  `json:"created_at"`
	RevokedAt *time.Time `json:"revoked_at,omitempty"`
}

// checkText refuses, in the key's name, what CheckText refuses.
func (k *APIKey) checkText() error { return ValidNameChars("name", k.Name) }

func (k *APIKey) validate() error {
	if err := ValidID("id", k.ID); err != nil {
		return err
	}
	if err := validName("name", k.Name); err != nil {
		return err
	}
	role, err := validEnum("role", k.Role, Roles, true)
	if err != nil {
		return err
	}
	k.Role = role
	if (k.Role == RoleAgent) != (k.AgentID != "") {
		return invalidf("agent_id", "agent_id is required for role agent and only for it")
	}
	if err := optionalID("agent_id", k.AgentID); err != nil {
		return err
	}
	if b, err := hex.DecodeString(k.Hash); err != nil || len(b) != 32 {
		return invalidf("hash", "hash must be a hex SHA-256")
	}
	return ValidText("prefix", k.Prefix, 16, false)
}

// putKey stores a new key and its indexes; the caller has checked it is new.
func putKey(t *txn, k *APIKey) {
	k.CreatedAt, k.RevokedAt = t.now(), nil
	putJSON(t.bucket(bucketAPIKeys), []byte(k.ID), k)
	must(t.bucket(bucketKeyByHash).Put([]byte(k.Hash), []byte(k.ID)))
	if k.AgentID != "" {
		must(t.bucket(bucketKeyByAgent).Put(compound(k.AgentID, k.ID), nil))
	}
	t.setName(bucketAPIKeys, "", k.Name, k.ID)
	t.addCount(1, string(bucketAPIKeys))
	t.audit("api_key_created", "api_key", k.ID, map[string]string{"name": k.Name, "role": k.Role, "agent_id": k.AgentID})
}

func checkKeyFree(t *txn, k *APIKey) error {
	if t.exists(bucketAPIKeys, k.ID) {
		return conflictf("api_key", k.ID, "API key %q already exists", k.ID)
	}
	if t.bucket(bucketKeyByHash).Get([]byte(k.Hash)) != nil {
		return conflictf("api_key", k.ID, "an API key with this secret already exists")
	}
	return t.checkNameFree(bucketAPIKeys, "API key", k.Name, k.ID)
}

// CreateAPIKey adds a key. An agent key's agent must exist and not be retired.
type CreateAPIKey struct {
	Key APIKey `json:"key"`
}

func (CreateAPIKey) CommandType() CommandType { return CommandCreateAPIKey }
func (p *CreateAPIKey) Validate() error       { return p.Key.validate() }
func (p *CreateAPIKey) checkText() error      { return p.Key.checkText() }
func (p *CreateAPIKey) apply(t *txn) (any, error) {
	k := p.Key
	if err := checkKeyFree(t, &k); err != nil {
		return nil, err
	}
	if k.AgentID != "" {
		a, err := agentStore{t}.get(k.AgentID)
		if err != nil {
			return nil, err
		}
		if a.RetiredAt != nil {
			return nil, statef("agent", a.ID, "agent %q is retired", a.ID)
		}
	}
	putKey(t, &k)
	return k, nil
}

// RevokeAPIKey revokes a key for good; it is kept for the audit trail.
type RevokeAPIKey struct {
	ID string `json:"id"`
}

func (RevokeAPIKey) CommandType() CommandType { return CommandRevokeAPIKey }
func (p *RevokeAPIKey) Validate() error       { return ValidID("id", p.ID) }
func (p *RevokeAPIKey) apply(t *txn) (any, error) {
	var k APIKey
	found, err := getJSON(t.bucket(bucketAPIKeys), []byte(p.ID), &k)
	if err != nil {
		return nil, err
	}
	if !found {
		return nil, notFound("API key", p.ID)
	}
	if k.RevokedAt != nil {
		return nil, nil
	}
	revokeKey(t, &k)
	return nil, nil
}

func revokeKey(t *txn, k *APIKey) {
	now := t.now()
	k.RevokedAt = &now
	putJSON(t.bucket(bucketAPIKeys), []byte(k.ID), k)
	t.audit("api_key_revoked", "api_key", k.ID, map[string]string{"name": k.Name, "role": k.Role})
}

// revokeAgentKeys revokes every live key of an agent (on retirement).
func revokeAgentKeys(t *txn, agentID string) {
	pfx := prefix(agentID)
	var ids []string
	c := t.bucket(bucketKeyByAgent).Cursor()
	for k, _ := c.Seek(pfx); k != nil && bytes.HasPrefix(k, pfx); k, _ = c.Next() {
		ids = append(ids, string(k[len(pfx):]))
	}
	for _, id := range ids {
		var k APIKey
		if found, err := getJSON(t.bucket(bucketAPIKeys), []byte(id), &k); err == nil && found && k.RevokedAt == nil {
			revokeKey(t, &k)
		}
	}
}

// APIKeyByHash returns the key whose secret hashes to hash (hex SHA-256),
// revoked keys included (RevokedAt set), so that a caller can say why a key
// no longer works.
func (f *FSM) APIKeyByHash(hash string) (*APIKey, error) {
	var out *APIKey
	err := f.view(func(tx *bolt.Tx) error {
		id := tx.Bucket(bucketKeyByHash).Get([]byte(hash))
		if id == nil {
			return notFound("API key", "")
		}
		var k APIKey
		if _, err := getJSON(tx.Bucket(bucketAPIKeys), id, &k); err != nil {
			return err
		}
		out = &k
		return nil
	})
	return out, err
}

// APIKey returns the key with id (revoked or not).
func (f *FSM) APIKey(id string) (*APIKey, error) {
	var out APIKey
	err := f.view(func(tx *bolt.Tx) error {
		found, err := getJSON(tx.Bucket(bucketAPIKeys), []byte(id), &out)
		if err == nil && !found {
			err = notFound("API key", id)
		}
		return err
	})
	return &out, err
}

// APIKeys lists keys in id order, revoked ones included.
func (f *FSM) APIKeys(p Page) (List[APIKey], error) {
	var out List[APIKey]
	err := f.view(func(tx *bolt.Tx) (err error) {
		out, err = scanBucket[APIKey](tx, bucketAPIKeys, p, nil)
		return err
	})
	return out, err
}

// APIKeyCount is the number of keys ever created.
func (f *FSM) APIKeyCount() (int, error) {
	var n int
	err := f.view(func(tx *bolt.Tx) error {
		n = readCount(tx, string(bucketAPIKeys))
		return nil
	})
	return n, err
}
