package api

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/certctl/certctl/api/wire"
	"github.com/certctl/certctl/fsm"
	"github.com/certctl/certctl/node"
	"github.com/certctl/certctl/web"
	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
)

// State is the local replica the handlers read; *fsm.FSM implements it.
type State interface {
	AppliedIndex() uint64
	ClusterID() (string, error)
	Members() ([]fsm.Member, error)

	Certificate(id string) (*fsm.Certificate, error)
	ACMEChallengesForAgent(agentID string, now time.Time) ([]fsm.ACMEChallenge, error)
	CertificateJSON(id string) (json.RawMessage, error)
	Certificates(fsm.CertificateFilter, fsm.Page) (fsm.List[fsm.Certificate], error)
	CertificatesJSON(fsm.CertificateFilter, fsm.Page) (fsm.List[json.RawMessage], error)
	CertificateVersions(certID string, p fsm.Page) (fsm.List[fsm.CertificateVersion], error)
	LatestCertificateVersion(certID string) (*fsm.CertificateVersion, error)
	CertificatesByStatusCount() (map[wire.CertificateStatus]int, error)
	CertificatesExpiringBefore(t time.Time, fn func(*fsm.Certificate) bool) error
	Team(id string) (*fsm.Team, error)
	Teams(fsm.Page) (fsm.List[fsm.Team], error)
	Owner(id string) (*fsm.Owner, error)
	Owners(fsm.OwnerFilter, fsm.Page) (fsm.List[fsm.Owner], error)
	Issuer(id string) (*fsm.Issuer, error)
	IssuerMaterial(issuerID string) (json.RawMessage, error)
	Issuers(fsm.Page) (fsm.List[fsm.Issuer], error)
	Target(id string) (*fsm.Target, error)
	Targets(fsm.TargetFilter, fsm.Page) (fsm.List[fsm.Target], error)
	RenewalPolicy(id string) (*fsm.RenewalPolicy, error)
	RenewalPolicies(fsm.Page) (fsm.List[fsm.RenewalPolicy], error)
	PolicyRule(id string) (*fsm.PolicyRule, error)
	PolicyRules(fsm.Page) (fsm.List[fsm.PolicyRule], error)
	Violations(fsm.ViolationFilter, fsm.Page) (fsm.List[fsm.PolicyViolation], error)
	Agent(id string) (*fsm.Agent, error)
	Agents(fsm.AgentFilter, fsm.Page) (fsm.List[fsm.Agent], error)
	Job(id string) (*fsm.Job, error)
	Jobs(fsm.JobFilter, fsm.Page) (fsm.List[fsm.Job], error)
	// RenewalJob and DeploymentJobIDs return the jobs a RequestRenewal or
	// RequestDeployment applied on this replica created or found open.
	RenewalJob(certID, jobID string) (string, error)
	DeploymentJobIDs(base string) ([]string, error)
	AuditEvent(id string) (*fsm.AuditEvent, error)
	AuditEvents(fsm.AuditFilter, fsm.Page) (fsm.List[fsm.AuditEvent], error)
	VerifyAudit() (fsm.AuditVerification, error)
	AuditHeadAt(index uint64) (fsm.AuditHead, error)
	Notification(id string) (*fsm.Notification, error)
	Notifications(fsm.NotificationFilter, fsm.Page) (fsm.List[fsm.Notification], error)
	APIKey(id string) (*fsm.APIKey, error)
	APIKeyByHash(hash string) (*fsm.APIKey, error)
	APIKeys(fsm.Page) (fsm.List[fsm.APIKey], error)
	JoinToken(id string) (fsm.JoinToken, error)
	JoinTokens(fsm.Page) (fsm.List[fsm.JoinToken], error)
	StatsSummary(fsm.RiskClock) (wire.StatsSummary, error)
	JobCounts() (map[wire.JobStatus]map[wire.JobType]int, error)
	AgentCounts() ([]fsm.AgentCount, error)
	NotificationCounts() (map[wire.NotificationStatus]int, error)
	ExpirationTimeline(now time.Time, days int, size time.Duration) ([]wire.ExpirationBucket, error)
	JobTrends(now time.Time, days int) ([]wire.JobTrendDay, error)
	IssuanceRate(now time.Time, days int) ([]wire.IssuanceDay, error)
	Attention(now time.Time, limit int) (wire.Attention, error)
	// WriteState writes a consistent copy of the state file to w and
	// summarises it (GET /api/v1/cluster/snapshot).
	WriteState(w io.Writer) (fsm.StateSummary, error)
}

// Config configures the API server.
type Config struct {
	Logger *slog.Logger
	// Now is the clock that stamps commands; nil means time.Now.
	Now func() time.Time
	// WriteTimeout bounds how long a write waits for the cluster.
	WriteTimeout time.Duration
	// Dev turns authentication off (certctl server --dev only).
	Dev bool
	// RateLimit is the requests per second allowed per API key (burst
	// RateBurst); 0 means the default of 100/s with a burst of 200, and a
	// negative value turns the limit off.
	RateLimit float64
	RateBurst int
	// AuthFailureRate is how many failed authentications (an unknown or
	// revoked API key) a client address may make a second after a burst of
	// AuthFailureBurst; past them its requests carrying a key get 429 with
	// Retry-After until the bucket refills. The
	// address is the TCP peer's (an IPv6 one's /64), never a header. 0
	// means the default of one every 5 s with a burst of 10; a negative
	// value turns the limit off.
	AuthFailureRate  float64
	AuthFailureBurst int
	// HeartbeatFlush is how often heartbeats received by this node are
	// folded into one raft entry (default 1 s).
	HeartbeatFlush time.Duration
	// Registerer receives the API's metrics; nil means a registry of the
	// server's own, served at /metrics.
	Registerer prometheus.Registerer
	Gatherer   prometheus.Gatherer
	// Issuers tests issuer connectors and signs CSRs; nil until the
	// lifecycle engine provides connectors (the routes then answer 501).
	Issuers IssuerService
	// Keys opens the sealed keys of certificates whose key the server made
	// (key_generation "server"), for the pickup of an agent that serves
	// one of the certificate's targets; nil: such a pickup answers 501.
	Keys KeyOpener
	// Secrets seals the secret fields of target and issuer configs (those
	// TargetSecrets and IssuerTypes declare) under the cluster's
	// key-encryption key before they are proposed, and opens a target's for
	// the agent that deploys through it. Nil (a node without --kek-file): a
	// create or update carrying one is refused, and agents get no sealed
	// password.
	Secrets SecretBox
	// TargetSecrets is the target connectors' declarations of their secret
	// fields, by target type (*target.SecretTable, filled by cmd from the
	// connector packages): the API keeps no list of its own. Nil declares
	// none: such a type's config is stored and served as given.
	TargetSecrets SecretFields
	// IssuerTypes is the issuer connectors' registry (cmd's
	// *issuer.Registry): every issuer config is checked with its
	// connector's validator before it is stored, and its declared secret
	// fields sealed and redacted. Nil accepts any config and declares no
	// secret.
	IssuerTypes IssuerTypes
	// MaxLifetime is the longest certificate lifetime the renewal check
	// considers (the scheduler's); renewal_overdue reads as far. 0 means
	// fsm.DefaultStatsMaxLifetime.
	MaxLifetime time.Duration
	// Nudge asks the job processor to run now, after renew and deploy have
	// queued jobs; it reaches the scheduler only on the leader. Nil: none.
	Nudge func()
	// SnapshotTempDir holds the copy of the state a snapshot download is
	// made from while it is hashed and sent (the data dir in cmd; empty
	// means the system's temporary directory).
	SnapshotTempDir string
	// Snapshots reports this node's scheduled snapshots in /api/v1/cluster,
	// certctl status and /metrics; nil when snapshot_interval is off.
	Snapshots SnapshotSchedule
}

// SnapshotSchedule is what the API reads of scheduled snapshots;
// *backup.Schedule implements it.
type SnapshotSchedule interface {
	Status() wire.SnapshotStatus
}

// IssuerService is what the API needs of the issuer connectors.
type IssuerService interface {
	// TestIssuer checks that the issuer's connector can reach its CA.
	TestIssuer(ctx context.Context, iss *fsm.Issuer) error
	// SignCSR signs an agent's CSR for job (AwaitingCSR, bound to the
	// agent), records the new version, completes the job and queues the
	// deployments. A refused CSR is an *fsm.Error with CodeInvalid.
	SignCSR(ctx context.Context, agentID string, job fsm.Job, cert fsm.Certificate, csrPEM string) error
	// CRL returns the issuer's current certificate revocation list, DER.
	CRL(ctx context.Context, issuerID string) ([]byte, error)
	// CAChain returns the issuer's CA certificates in PEM, the issuing CA
	// first and the root last.
	CAChain(ctx context.Context, issuerID string) (string, error)
	// RootCRL returns the CRL, DER, in which the issuer's root covers its
	// intermediate (the Local CA's); an *fsm.Error with CodeNotFound for an
	// issuer without a root of its own.
	RootCRL(ctx context.Context, issuerID string) ([]byte, error)
	// CACert returns one CA certificate of the issuer, DER: which is
	// "intermediate" (the issuing CA) or "root".
	CACert(ctx context.Context, issuerID, which string) ([]byte, error)
}

// KeyOpener opens server-side keys with the nodes' key-encryption key.
type KeyOpener interface {
	// OpenServerKey returns the private key (PEM) of the certificate's
	// current server-side key, opened for agentID, and the id of the
	// version it belongs to; an *fsm.Error with CodeNotFound when the
	// certificate has none, and with CodeState when the key was not made
	// for agentID. The caller clears the key after use and never logs it.
	OpenServerKey(ctx context.Context, certID, agentID string) (keyPEM []byte, versionID string, err error)
}

// IssuerTypes is what the API asks of the issuer connectors' registry;
// *issuer.Registry implements it.
type IssuerTypes interface {
	SecretFields
	// ValidateConfig checks config with the connector of issuer type typ;
	// an error says what is wrong, naming the field.
	ValidateConfig(ctx context.Context, typ string, config json.RawMessage) error
}

// SecretFields tells which fields of a connector's config hold secrets;
// *target.SecretTable and *issuer.Registry implement it.
type SecretFields interface {
	// SecretFields returns the JSON names of the secret fields of type
	// typ's config, and of the fields that say where those secrets are
	// sent; none for a type without secrets.
	SecretFields(typ string) (secret, destination []string)
}

// SecretBox seals and opens values under the nodes' key-encryption key;
// *keywrap.Box implements it. Both are safe for concurrent use.
type SecretBox interface {
	// Seal encrypts plaintext bound to additionalData.
	Seal(plaintext, additionalData []byte) ([]byte, error)
	// Open decrypts what Seal made with the same additionalData; the
	// caller clears the plaintext after use and never logs it.
	Open(sealed, additionalData []byte) ([]byte, error)
}

func (c Config) withDefaults() Config {
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.WriteTimeout <= 0 {
		c.WriteTimeout = 10 * time.Second
	}
	if c.RateLimit == 0 {
		c.RateLimit, c.RateBurst = 100, 200
	}
	if c.RateBurst <= 0 {
		c.RateBurst = int(c.RateLimit * 2)
	}
	if c.AuthFailureRate == 0 {
		c.AuthFailureRate, c.AuthFailureBurst = 0.2, 10
	}
	if c.AuthFailureBurst <= 0 {
		c.AuthFailureBurst = 10
	}
	if c.HeartbeatFlush <= 0 {
		c.HeartbeatFlush = time.Second
	}
	return c
}

// Server is certctl's HTTP API. It is safe for concurrent use. Close stops
// its background work (the heartbeat batcher).
type Server struct {
	cfg        Config
	state      State
	cluster    Cluster
	engine     *gin.Engine
	limiter    *rateLimiter
	failures   *failureLimiter
	heartbeats *heartbeatBatcher
	summary    summaryCache
	metrics    *metrics
	openapi    openAPIDocument
	// peers asks other members for their own progress; a short timeout
	// keeps the cluster overview fast when a member is down.
	peers *http.Client
}

// New builds the router. state is the local replica; cluster proposes writes.
func New(cfg Config, state State, cluster Cluster) *Server {
	gin.SetMode(gin.ReleaseMode)
	s := &Server{cfg: cfg.withDefaults(), state: state, cluster: cluster,
		peers: &http.Client{Transport: cluster.PeerTransport(), Timeout: 1500 * time.Millisecond}}
	s.limiter = newRateLimiter(s.cfg.RateLimit, s.cfg.RateBurst)
	s.failures = newFailureLimiter(s.cfg.AuthFailureRate, s.cfg.AuthFailureBurst, maxFailureAddrs)
	s.metrics = newMetrics(s.cfg.Registerer, s.cfg.Gatherer, state, cluster, s.cfg.Snapshots, s.cfg.Now)
	s.heartbeats = newHeartbeatBatcher(s.cfg.HeartbeatFlush, s.proposeSystem, s.cfg.Logger)
	e := gin.New()
	e.HandleMethodNotAllowed = true
	// No redirects: gin's trailing-slash redirect cleans the path, so
	// /teams/..%2f would be sent on to /api/v1; such a path is a 404 here.
	e.RedirectTrailingSlash = false
	e.ContextWithFallback = true
	e.Use(withRequestID(s.cfg.Logger), withRecovery(), s.metrics.middleware(), withAccessLog(), withBodyLimit(MaxBodyBytes))
	for _, r := range s.routes() {
		e.Handle(r.method, r.path, s.authorize(r.access), s.consistency(r), r.handler)
	}
	// The dashboard's page and files need no key: they hold no data, and
	// every request the page makes for data is an API call with the key.
	dashboard := gin.WrapH(web.Handler())
	for _, p := range []string{"/", "/assets/*path"} {
		e.GET(p, dashboard)
		e.HEAD(p, dashboard)
	}
	e.NoRoute(func(c *gin.Context) {
		fail(c, refuse(node.CodeNotFound, "no route "+c.Request.Method+" "+c.Request.URL.Path))
	})
	e.NoMethod(func(c *gin.Context) {
		fail(c, refuse(node.CodeMethodNotAllowed, "method "+c.Request.Method+" is not allowed on "+c.Request.URL.Path))
	})
	s.engine = e
	return s
}

// Handler returns the http.Handler serving every route.
func (s *Server) Handler() http.Handler { return s.engine }

// Close stops the heartbeat batcher, flushing what it holds.
func (s *Server) Close() { s.heartbeats.close() }

// NewID returns prefix followed by 16 random hex digits, e.g. "mc-3f9a2c1b7d4e0a55".
func NewID(prefix string) string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return prefix + hex.EncodeToString(b[:])
}

// propose stamps p into a command on behalf of the request's principal and
// writes it through the cluster. The client's Idempotency-Key, if any, becomes
// the command's request id so that a retried request is applied once. It
// writes the error response itself and returns false on failure.
func (s *Server) propose(c *gin.Context, p fsm.Payload) bool {
	reqID := c.GetHeader("Idempotency-Key")
	if !validRequestID(reqID) {
		reqID = newRequestID()
	}
	if err := s.proposeFor(c, reqID, p); err != nil {
		fail(c, err)
		return false
	}
	return true
}

// proposeSystem writes a command the server makes itself (heartbeat batches).
func (s *Server) proposeSystem(ctx context.Context, p fsm.Payload) error {
	cmd, err := fsm.NewCommand(fsm.Meta{RequestID: newRequestID(), Time: s.cfg.Now(), Actor: "certctl", ActorType: fsm.ActorSystem}, p)
	if err != nil {
		return err
	}
	_, err = s.cluster.Propose(ctx, cmd)
	return err
}
