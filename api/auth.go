package api

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"math"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/certctl/certctl/fsm"
	"github.com/certctl/certctl/node"
	"github.com/gin-gonic/gin"
)

// access says who may call a route.
type access int

const (
	accessPublic   access = iota // anyone, no key
	accessAnyKey                 // any valid key
	accessRead                   // viewer, operator, admin
	accessWrite                  // operator, admin
	accessAdmin                  // admin: keys and cluster membership
	accessAudit                  // auditor, viewer, operator, admin
	accessAgent                  // the agent named by :id with its own key, or operator, admin
	accessCluster                // a node certificate of this cluster, or viewer and above (node-to-node reads)
	accessInternal               // a node certificate of this cluster only (node-to-node writes)
	accessJoin                   // a join token, checked by the node's handler (no API key)
)

func (a access) String() string {
	return [...]string{"public", "any key", "viewer", "operator", "admin", "auditor", "agent", "cluster", "internal", "join"}[a]
}

// allows reports whether a key of role may use a route of access a.
func (a access) allows(role string) bool {
	switch a {
	case accessPublic, accessAnyKey, accessJoin:
		return true
	case accessRead, accessCluster:
		return role == fsm.RoleViewer || role == fsm.RoleOperator || role == fsm.RoleAdmin
	case accessWrite, accessAgent:
		return role == fsm.RoleOperator || role == fsm.RoleAdmin
	case accessAdmin:
		return role == fsm.RoleAdmin
	case accessAudit:
		return role == fsm.RoleAuditor || role == fsm.RoleViewer || role == fsm.RoleOperator || role == fsm.RoleAdmin
	}
	return false
}

// principal is who a request acts as.
type principal struct {
	keyID   string
	name    string
	role    string
	agentID string // for agent keys
}

// vouchedHeader carries, on a request one node relays to another over
// mutual TLS, the principal the relaying node authenticated: the caller's
// key goes no further than the node it was presented to. It is honoured only
// on a connection that presents a node certificate of this cluster.
const vouchedHeader = "X-Certctl-Vouched-Principal"

// vouched is the wire form of a relayed principal.
type vouched struct {
	KeyID   string `json:"key_id,omitempty"`
	Name    string `json:"name"`
	Role    string `json:"role"`
	AgentID string `json:"agent_id,omitempty"`
}

func (p principal) vouch() string {
	b, _ := json.Marshal(vouched{KeyID: p.keyID, Name: p.name, Role: p.role, AgentID: p.agentID})
	return base64.RawURLEncoding.EncodeToString(b)
}

func unvouch(h string) (principal, bool) {
	b, err := base64.RawURLEncoding.DecodeString(h)
	if err != nil {
		return principal{}, false
	}
	var v vouched
	if json.Unmarshal(b, &v) != nil || v.Name == "" {
		return principal{}, false
	}
	if _, ok := fsm.Roles.Canonical(v.Role); !ok {
		return principal{}, false
	}
	return principal{keyID: v.KeyID, name: v.Name, role: v.Role, agentID: v.AgentID}, true
}

const ctxPrincipal = "certctl.principal"

func principalOf(c *gin.Context) principal {
	if p, ok := c.Get(ctxPrincipal); ok {
		return p.(principal)
	}
	return principal{name: "anonymous"}
}

// HashKey is how a key's secret is stored: the hex SHA-256 of the secret.
func HashKey(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}

// NewKeySecret returns a new random key secret: "cck_" and 32 random bytes.
func NewKeySecret() string {
	var b [32]byte
	_, _ = rand.Read(b[:])
	return "cck_" + base64.RawURLEncoding.EncodeToString(b[:])
}

// devPrincipal is who a request is on a --dev node: anyone is an admin,
// except that an agent's own key on its agent's routes is that agent, so
// that what goes only to an agent (a server-made key, a target's password)
// reaches an agent run against `make run` too.
func (s *Server) devPrincipal(c *gin.Context, a access) principal {
	dev := principal{name: "dev", role: fsm.RoleAdmin}
	token := bearer(c.Request)
	if a != accessAgent || token == "" {
		return dev
	}
	hash := HashKey(token)
	key, err := s.state.APIKeyByHash(hash)
	if err != nil || key.RevokedAt != nil || key.Role != fsm.RoleAgent || key.AgentID != c.Param("id") ||
		subtle.ConstantTimeCompare([]byte(key.Hash), []byte(hash)) != 1 {
		return dev
	}
	return principal{keyID: key.ID, name: key.Name, role: fsm.RoleAgent, agentID: key.AgentID}
}

// KeyPrefix is the part of a secret shown to tell keys apart.
func KeyPrefix(secret string) string {
	if len(secret) > 12 {
		return secret[:12]
	}
	return secret
}

// authorize is the middleware of one route: it resolves who calls (a node
// by its certificate, a principal a node vouches for, or a bearer key),
// checks the role against the route's access and rate-limits the key.
func (s *Server) authorize(a access) gin.HandlerFunc {
	return func(c *gin.Context) {
		// A vouched principal is believed only from a node; from anyone
		// else it is dropped before anything reads it.
		vouchedBy := c.GetHeader(vouchedHeader)
		c.Request.Header.Del(vouchedHeader)
		if a == accessPublic {
			c.Next()
			return
		}
		if a == accessJoin {
			// The node's handler checks the join token; a refused one
			// counts against the address as an unknown key does.
			addr := clientAddr(c.Request)
			if wait, blocked := s.failures.blocked(addr, s.cfg.Now()); blocked {
				c.Header("Retry-After", strconv.Itoa(int(math.Ceil(wait.Seconds()))))
				fail(c, refuse(node.CodeRateLimited, "too many failed authentications from "+addr+"; retry after the Retry-After delay with a valid join token"))
				return
			}
			c.Next()
			if c.Writer.Status() == http.StatusUnauthorized {
				s.authFailed(addr)
			}
			return
		}
		if a == accessInternal || a == accessCluster || vouchedBy != "" {
			peer, err := s.cluster.PeerNode(c.Request)
			switch {
			case err == nil && vouchedBy != "":
				p, ok := unvouch(vouchedBy)
				if !ok {
					fail(c, invalid("", "undecodable "+vouchedHeader+" from node "+peer))
					return
				}
				s.authorizePrincipal(c, a, p)
				return
			case err == nil:
				c.Set(ctxPrincipal, principal{name: "node:" + peer, role: fsm.RoleViewer})
				c.Next()
				return
			case a == accessInternal:
				unauthorized(c, "this endpoint takes a node certificate of this cluster only (mutual TLS); no API key or token opens it: "+err.Error())
				return
			}
		}
		if s.cfg.Dev {
			c.Set(ctxPrincipal, s.devPrincipal(c, a))
			c.Next()
			return
		}
		token := bearer(c.Request)
		if token == "" {
			unauthorized(c, "this endpoint needs an API key: send it as \"Authorization: Bearer <key>\"")
			return
		}
		addr := clientAddr(c.Request)
		if wait, blocked := s.failures.blocked(addr, s.cfg.Now()); blocked {
			c.Header("Retry-After", strconv.Itoa(int(math.Ceil(wait.Seconds()))))
			fail(c, refuse(node.CodeRateLimited, "too many failed authentications from "+addr+"; retry after the Retry-After delay with a valid API key"))
			return
		}
		hash := HashKey(token)
		key, err := s.state.APIKeyByHash(hash)
		if err != nil || subtle.ConstantTimeCompare([]byte(key.Hash), []byte(hash)) != 1 {
			s.authFailed(addr)
			unauthorized(c, "the API key is unknown")
			return
		}
		if key.RevokedAt != nil {
			s.authFailed(addr)
			// A retired agent's key was revoked with it: the agent is told it
			// is gone (410), as the original told retired agents.
			if key.Role == fsm.RoleAgent && a == accessAgent && c.Param("id") == key.AgentID {
				if ag, err := s.state.Agent(key.AgentID); err == nil && ag.RetiredAt != nil {
					fail(c, refuse(node.CodeGone, "agent "+ag.ID+" was retired; register a new agent"))
					return
				}
			}
			unauthorized(c, "the API key "+key.Name+" was revoked")
			return
		}
		p := principal{keyID: key.ID, name: key.Name, role: key.Role, agentID: key.AgentID}
		if wait, ok := s.limiter.allow(key.ID, s.cfg.Now()); !ok {
			c.Set(ctxPrincipal, p)
			c.Header("Retry-After", strconv.Itoa(int(math.Ceil(wait.Seconds()))))
			fail(c, refuse(node.CodeRateLimited, "too many requests for API key "+key.Name+"; slow down and retry after the Retry-After delay"))
			return
		}
		s.authorizePrincipal(c, a, p)
	}
}

// authorizePrincipal lets p through to a route of access a, or refuses.
func (s *Server) authorizePrincipal(c *gin.Context, a access, p principal) {
	c.Set(ctxPrincipal, p)
	if p.role == fsm.RoleAgent {
		if a == accessAnyKey || a == accessAgent && c.Param("id") == p.agentID {
			c.Next()
			return
		}
		fail(c, refuse(node.CodeForbidden, "an agent key may only be used on its own agent's endpoints (/api/v1/agents/"+p.agentID+"/...)"))
		return
	}
	if !a.allows(p.role) {
		fail(c, refuse(node.CodeForbidden, "API key "+p.name+" has role "+p.role+"; this endpoint needs "+a.String()))
		return
	}
	c.Next()
}

// authFailed counts a failed authentication against addr, and says so in
// the log when that leaves addr limited.
func (s *Server) authFailed(addr string) {
	if s.failures.failed(addr, s.cfg.Now()) {
		s.cfg.Logger.Warn("failed authentications from one address are being limited", "addr", addr)
	}
}

func bearer(r *http.Request) string {
	h := r.Header.Get("Authorization")
	if len(h) > 7 && strings.EqualFold(h[:7], "Bearer ") {
		return strings.TrimSpace(h[7:])
	}
	return ""
}

func unauthorized(c *gin.Context, msg string) {
	c.Header("WWW-Authenticate", `Bearer realm="certctl"`)
	fail(c, refuse(node.CodeUnauthorized, msg))
}

// rateLimiter is a token bucket per key: rate tokens a second, up to burst.
type rateLimiter struct {
	rate  float64
	burst float64

	mu      sync.Mutex
	buckets map[string]*bucket
}

type bucket struct {
	tokens float64
	last   time.Time
}

func newRateLimiter(rate float64, burst int) *rateLimiter {
	return &rateLimiter{rate: rate, burst: float64(burst), buckets: map[string]*bucket{}}
}

// allow takes a token for key, or says how long until one is free.
func (l *rateLimiter) allow(key string, now time.Time) (time.Duration, bool) {
	if l == nil || l.rate <= 0 {
		return 0, true
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	b, ok := l.buckets[key]
	if !ok {
		b = &bucket{tokens: l.burst, last: now}
		l.buckets[key] = b
	}
	b.tokens = min(l.burst, b.tokens+now.Sub(b.last).Seconds()*l.rate)
	b.last = now
	if b.tokens < 1 {
		return time.Duration((1 - b.tokens) / l.rate * float64(time.Second)), false
	}
	b.tokens--
	return 0, true
}

// authInfo is GET /api/v1/auth/info: whether this server requires a key.
func (s *Server) authInfo(c *gin.Context) {
	if s.cfg.Dev {
		c.JSON(http.StatusOK, gin.H{"auth_type": "none", "required": false})
		return
	}
	c.JSON(http.StatusOK, gin.H{"auth_type": "api_key", "required": true})
}

// authCheck is GET /api/v1/auth/check: the key works; ours adds who it is.
func (s *Server) authCheck(c *gin.Context) {
	p := principalOf(c)
	c.JSON(http.StatusOK, gin.H{"status": "authenticated", "name": p.name, "role": p.role, "agent_id": p.agentID})
}

// keyView is an API key as served: never its hash.
type keyView struct {
	ID        string     `json:"id"`
	Name      string     `json:"name"`
	Role      string     `json:"role"`
	AgentID   string     `json:"agent_id,omitempty"`
	Prefix    string     `json:"prefix"`
	CreatedAt time.Time  `json:"created_at"`
	RevokedAt *time.Time `json:"revoked_at,omitempty"`
}

func viewKey(k *fsm.APIKey) keyView {
	return keyView{ID: k.ID, Name: k.Name, Role: k.Role, AgentID: k.AgentID, Prefix: k.Prefix, CreatedAt: k.CreatedAt, RevokedAt: k.RevokedAt}
}

type keyRequest struct {
	Name    string `json:"name"`
	Role    string `json:"role"`
	AgentID string `json:"agent_id"`
}

// keyCreated is the answer to a key creation: the secret, shown this once.
type keyCreated struct {
	keyView
	APIKey string `json:"api_key"`
}

func (s *Server) createKey(c *gin.Context) {
	var req keyRequest
	if !bindJSON(c, &req) {
		return
	}
	secret := NewKeySecret()
	k := fsm.APIKey{ID: NewID("key-"), Name: req.Name, Role: req.Role, AgentID: req.AgentID, Hash: HashKey(secret), Prefix: KeyPrefix(secret)}
	if !s.propose(c, &fsm.CreateAPIKey{Key: k}) {
		return
	}
	stored, err := s.state.APIKey(k.ID)
	if err != nil {
		fail(c, err)
		return
	}
	c.JSON(http.StatusCreated, keyCreated{keyView: viewKey(stored), APIKey: secret})
}

func (s *Server) listKeys(c *gin.Context) {
	p, ok := pageOf(c)
	if !ok {
		return
	}
	l, err := s.state.APIKeys(p)
	if err != nil {
		fail(c, err)
		return
	}
	views := make([]keyView, len(l.Items))
	for i := range l.Items {
		views[i] = viewKey(&l.Items[i])
	}
	respondList(c, p, fsm.List[keyView]{Items: views, Total: l.Total})
}

func (s *Server) revokeKey(c *gin.Context) {
	if s.propose(c, &fsm.RevokeAPIKey{ID: c.Param("id")}) {
		c.Status(http.StatusNoContent)
	}
}
