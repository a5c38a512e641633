package api

import (
	"net/http"
	"time"

	"github.com/certctl/certctl/fsm"
	"github.com/gin-gonic/gin"
)

// certificateRequest is the body of POST /certificates. Only the fields a
// client may set are accepted; lifecycle fields are the server's.
type certificateRequest struct {
	ID              string            `json:"id"`
	Name            string            `json:"name"`
	CommonName      string            `json:"common_name"`
	SANs            []string          `json:"sans"`
	Environment     string            `json:"environment"`
	OwnerID         string            `json:"owner_id"`
	TeamID          string            `json:"team_id"`
	IssuerID        string            `json:"issuer_id"`
	TargetIDs       []string          `json:"target_ids"`
	RenewalPolicyID string            `json:"renewal_policy_id"`
	Status          string            `json:"status"`
	ExpiresAt       *time.Time        `json:"expires_at"`
	Tags            map[string]string `json:"tags"`
	KeyGeneration   string            `json:"key_generation"`
}

func (r certificateRequest) certificate() fsm.Certificate {
	c := fsm.Certificate{
		ID: r.ID, Name: r.Name, CommonName: r.CommonName, SANs: r.SANs, Environment: r.Environment,
		OwnerID: r.OwnerID, TeamID: r.TeamID, IssuerID: r.IssuerID, TargetIDs: r.TargetIDs,
		RenewalPolicyID: r.RenewalPolicyID, Status: r.Status, ExpiresAt: r.ExpiresAt, Tags: r.Tags,
		KeyGeneration: r.KeyGeneration,
	}
	if c.ID == "" {
		c.ID = NewID("mc-")
	}
	if c.Name == "" {
		c.Name = c.CommonName
	}
	if c.SANs == nil {
		c.SANs = []string{}
	}
	if c.Tags == nil {
		c.Tags = map[string]string{}
	}
	return c
}

func (s *Server) createCertificate(c *gin.Context) {
	var req certificateRequest
	if !bindJSON(c, &req) {
		return
	}
	cert := req.certificate()
	if !s.propose(c, &fsm.CreateCertificate{Certificate: cert}) {
		return
	}
	s.respondRead(c, http.StatusCreated, func() (any, error) { return s.state.Certificate(cert.ID) })
}

func (s *Server) getCertificate(c *gin.Context) {
	s.respondRead(c, http.StatusOK, func() (any, error) { return s.state.Certificate(c.Param("id")) })
}

func (s *Server) listCertificates(c *gin.Context) {
	p, ok := pageOf(c)
	if !ok {
		return
	}
	flt := fsm.CertificateFilter{
		Environment: c.Query("environment"), OwnerID: c.Query("owner_id"), TeamID: c.Query("team_id"),
		IssuerID: c.Query("issuer_id"), Q: c.Query("q"),
	}
	if flt.Status, ok = enumQuery(c, "status", fsm.CertificateStatuses); !ok {
		return
	}
	if flt.ExpiresBefore, ok = timeQuery(c, "expires_before"); !ok {
		return
	}
	if flt.ExpiresAfter, ok = timeQuery(c, "expires_after"); !ok {
		return
	}
	l, err := s.state.Certificates(flt, p)
	if err != nil {
		fail(c, err)
		return
	}
	respondList(c, p, l)
}

// respondRead answers with what read returns, or its error.
func (s *Server) respondRead(c *gin.Context, status int, read func() (any, error)) {
	v, err := read()
	if err != nil {
		fail(c, err)
		return
	}
	c.JSON(status, v)
}
