package wire

import "time"

// CreateJoinTokenRequest is the body of POST /cluster/join-tokens. TTL is a
// Go duration ("1h", "30m"; default 1h, at most 7 days) and Uses how many
// nodes may join with the token (default 1, 1 to 100); zero values leave the
// server's defaults.
type CreateJoinTokenRequest struct {
	TTL  string `json:"ttl,omitempty"`
	Uses int    `json:"uses,omitempty"`
}

// JoinToken is a join token as GET /cluster/join-tokens lists it: never its
// secret, which the server keeps only as a hash. RevokedAt is nil while the
// token has not been revoked; a token also stops working at ExpiresAt and
// when UsesLeft reaches 0.
type JoinToken struct {
	ID        string     `json:"id"`
	ExpiresAt time.Time  `json:"expires_at"`
	Uses      int        `json:"uses"`
	UsesLeft  int        `json:"uses_left"`
	UsedBy    []string   `json:"used_by,omitempty"` // the nodes that joined with it, in order
	CreatedAt time.Time  `json:"created_at"`
	CreatedBy string     `json:"created_by"`
	RevokedAt *time.Time `json:"revoked_at,omitempty"`
}

// JoinTokenCreated is the answer of POST /cluster/join-tokens: the new token
// with its secret, Token, shown this once.
type JoinTokenCreated struct {
	ID        string    `json:"id"`
	Token     string    `json:"token"`
	ExpiresAt time.Time `json:"expires_at"`
	Uses      int       `json:"uses"`
	UsesLeft  int       `json:"uses_left"`
	CreatedAt time.Time `json:"created_at"`
	CreatedBy string    `json:"created_by"`
}
