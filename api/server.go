package api

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/certctl/certctl/fsm"
	"github.com/gin-gonic/gin"
)

// State is the local replica the handlers read.
type State interface {
	AppliedIndex() uint64
	ClusterID() (string, error)
	Members() ([]fsm.Member, error)
	Certificate(id string) (*fsm.Certificate, error)
	Certificates(fsm.CertificateFilter, fsm.Page) (fsm.List[fsm.Certificate], error)
	Team(id string) (*fsm.Team, error)
	Teams(fsm.Page) (fsm.List[fsm.Team], error)
	Owner(id string) (*fsm.Owner, error)
	Owners(fsm.OwnerFilter, fsm.Page) (fsm.List[fsm.Owner], error)
	Issuer(id string) (*fsm.Issuer, error)
	Issuers(fsm.Page) (fsm.List[fsm.Issuer], error)
}

// Config configures the API server.
type Config struct {
	Logger *slog.Logger
	// Now is the clock that stamps commands; nil means time.Now.
	Now func() time.Time
	// WriteTimeout bounds how long a write waits for the cluster.
	WriteTimeout time.Duration
	// Dev marks a --dev node; it is reported on /api/v1/auth/info.
	Dev bool
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
	return c
}

// Server is certctl's HTTP API. It is safe for concurrent use.
type Server struct {
	cfg     Config
	state   State
	cluster Cluster
	engine  *gin.Engine
}

// New builds the router. state is the local replica; cluster proposes writes.
func New(cfg Config, state State, cluster Cluster) *Server {
	gin.SetMode(gin.ReleaseMode)
	s := &Server{cfg: cfg.withDefaults(), state: state, cluster: cluster}
	e := gin.New()
	e.HandleMethodNotAllowed = true
	e.ContextWithFallback = true
	e.Use(withRequestID(s.cfg.Logger), withRecovery(), withAccessLog(), withBodyLimit(MaxBodyBytes))
	for _, r := range s.routes() {
		e.Handle(r.method, r.path, r.handler)
	}
	e.NoRoute(func(c *gin.Context) {
		failStatus(c, http.StatusNotFound, "", "no route "+c.Request.Method+" "+c.Request.URL.Path)
	})
	e.NoMethod(func(c *gin.Context) {
		failStatus(c, http.StatusMethodNotAllowed, "", "method "+c.Request.Method+" is not allowed on "+c.Request.URL.Path)
	})
	s.engine = e
	return s
}

// Handler returns the http.Handler serving every route.
func (s *Server) Handler() http.Handler { return s.engine }

// route is one entry of the routes table.
type route struct {
	method  string
	path    string
	handler gin.HandlerFunc
}

// routes is the one table of every route the server serves.
func (s *Server) routes() []route {
	return []route{
		{http.MethodGet, "/health", s.health},
		{http.MethodGet, "/ready", s.ready},

		{http.MethodGet, "/api/v1/cluster", s.clusterStatus},
		{http.MethodGet, "/api/v1/cluster/node", s.nodeStatus},
		{http.MethodPost, "/api/v1/cluster/join", gin.WrapH(s.cluster.JoinHandler())},
		{http.MethodDelete, "/api/v1/cluster/members/:id", s.clusterRemove},
		{http.MethodPost, "/internal/v1/propose", gin.WrapH(s.cluster.ProposeHandler())},

		{http.MethodGet, "/api/v1/certificates", s.listCertificates},
		{http.MethodPost, "/api/v1/certificates", s.createCertificate},
		{http.MethodGet, "/api/v1/certificates/:id", s.getCertificate},

		{http.MethodGet, "/api/v1/teams", s.listTeams},
		{http.MethodPost, "/api/v1/teams", s.createTeam},
		{http.MethodGet, "/api/v1/teams/:id", s.getTeam},
		{http.MethodGet, "/api/v1/owners", s.listOwners},
		{http.MethodPost, "/api/v1/owners", s.createOwner},
		{http.MethodGet, "/api/v1/owners/:id", s.getOwner},
		{http.MethodGet, "/api/v1/issuers", s.listIssuers},
		{http.MethodPost, "/api/v1/issuers", s.createIssuer},
		{http.MethodGet, "/api/v1/issuers/:id", s.getIssuer},
	}
}

// NewID returns prefix followed by 16 random hex digits, e.g. "mc-3f9a2c1b7d4e0a55".
func NewID(prefix string) string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return prefix + hex.EncodeToString(b[:])
}

// propose stamps p into a command and writes it through the cluster. The
// client's Idempotency-Key, if any, becomes the command's request id so that a
// retried request is applied once. It writes the error response itself and
// returns false on failure.
func (s *Server) propose(c *gin.Context, p fsm.Payload) bool {
	reqID := c.GetHeader("Idempotency-Key")
	if !validRequestID(reqID) {
		reqID = newRequestID()
	}
	cmd, err := fsm.NewCommand(fsm.Meta{
		RequestID: reqID,
		Time:      s.cfg.Now(),
		Actor:     actorOf(c),
		ActorType: fsm.ActorUser,
	}, p)
	if err != nil {
		fail(c, err)
		return false
	}
	ctx, cancel := context.WithTimeout(c.Request.Context(), s.cfg.WriteTimeout)
	defer cancel()
	if _, err := s.cluster.Propose(ctx, cmd); err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			err = errTimeout
		}
		fail(c, err)
		return false
	}
	return true
}

// actorOf names who acts; authentication (a later layer) sets it.
func actorOf(c *gin.Context) string {
	if a := c.GetString("certctl.actor"); a != "" {
		return a
	}
	return "anonymous"
}
