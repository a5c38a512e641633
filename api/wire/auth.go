package wire

import "time"

// AuthInfo is the answer of GET /auth/info, served without authentication:
// how clients authenticate and whether they must.
type AuthInfo struct {
	AuthType string `json:"auth_type"`
	Required bool   `json:"required"`
}

// APIKey is an API key as GET /auth/keys lists it. The secret is never
// served again after creation; Prefix, its first characters, tells keys
// apart. AgentID is set for keys of role agent. RevokedAt is nil while the
// key is valid.
type APIKey struct {
	ID        string     `json:"id"`
	Name      string     `json:"name"`
	Role      string     `json:"role"`
	AgentID   string     `json:"agent_id"`
	Prefix    string     `json:"prefix"`
	CreatedAt time.Time  `json:"created_at"`
	RevokedAt *time.Time `json:"revoked_at,omitempty"`
}

// CreateKeyRequest is the body of POST /auth/keys. Role is one of admin,
// operator, viewer, auditor or agent; AgentID is required for role agent and
// only for it.
type CreateKeyRequest struct {
	Name    string `json:"name"`
	Role    string `json:"role"`
	AgentID string `json:"agent_id,omitempty"`
}

// APIKeyCreated is the answer of POST /auth/keys: the new key with its
// secret, APIKey, shown this once.
type APIKeyCreated struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	Role      string    `json:"role"`
	AgentID   string    `json:"agent_id,omitempty"`
	Prefix    string    `json:"prefix"`
	CreatedAt time.Time `json:"created_at"`
	APIKey    string    `json:"api_key"`
}
