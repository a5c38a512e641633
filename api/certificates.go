package api

import (
	"context"
	"net/http"
	"time"

	"github.com/certctl/certctl/api/wire"
	"github.com/certctl/certctl/fsm"
	"github.com/certctl/certctl/node"
	"github.com/gin-gonic/gin"
)

// certificateRequest is the body of POST /certificates. Only the fields a
// client may set are accepted; lifecycle fields are the server's.
type certificateRequest struct {
	ID              string                 `json:"id"`
	Name            string                 `json:"name"`
	CommonName      string                 `json:"common_name"`
	SANs            []string               `json:"sans"`
	Environment     string                 `json:"environment"`
	OwnerID         string                 `json:"owner_id"`
	TeamID          string                 `json:"team_id"`
	IssuerID        string                 `json:"issuer_id"`
	TargetIDs       []string               `json:"target_ids"`
	RenewalPolicyID string                 `json:"renewal_policy_id"`
	Status          wire.CertificateStatus `json:"status"`
	ExpiresAt       *time.Time             `json:"expires_at"`
	Tags            map[string]string      `json:"tags"`
	KeyGeneration   wire.KeyGeneration     `json:"key_generation"`
	KeyType         wire.KeyType           `json:"key_type"`
}

func (r certificateRequest) certificate() fsm.Certificate {
	c := fsm.Certificate{
		ID: r.ID, Name: r.Name, CommonName: r.CommonName, SANs: r.SANs, Environment: r.Environment,
		OwnerID: r.OwnerID, TeamID: r.TeamID, IssuerID: r.IssuerID, TargetIDs: r.TargetIDs,
		RenewalPolicyID: r.RenewalPolicyID, Status: r.Status, ExpiresAt: r.ExpiresAt, Tags: r.Tags,
		KeyGeneration: r.KeyGeneration, KeyType: r.KeyType,
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
	s.respondCertificate(c, http.StatusCreated, cert.ID)
}

func (s *Server) getCertificate(c *gin.Context) {
	s.respondCertificate(c, http.StatusOK, c.Param("id"))
}

// respondCertificate answers with a certificate's stored JSON, its wire form.
func (s *Server) respondCertificate(c *gin.Context, status int, id string) {
	raw, err := s.state.CertificateJSON(id)
	if err != nil {
		fail(c, err)
		return
	}
	c.Data(status, "application/json; charset=utf-8", raw)
}

func (s *Server) listCertificates(c *gin.Context) {
	p, ok := pageOf(c)
	if !ok {
		return
	}
	flt := fsm.CertificateFilter{
		Environment: c.Query("environment"), OwnerID: c.Query("owner_id"), TeamID: c.Query("team_id"),
		IssuerID: c.Query("issuer_id"), Q: c.Query("q"), Sort: c.Query("sort"),
		AgentID: c.Query("agent_id"), TargetID: c.Query("target_id"),
	}
	if flt.Status, ok = enumQuery(c, "status", fsm.CertificateStatuses); !ok {
		return
	}
	if flt.KeyType, ok = enumQuery(c, "key_type", fsm.KeyTypes); !ok {
		return
	}
	if flt.Risk, ok = enumQuery(c, "risk", fsm.Risks); !ok {
		return
	}
	if flt.Risk != "" {
		flt.Clock = s.riskClock()
	}
	if flt.ExpiresBefore, ok = timeQuery(c, "expires_before"); !ok {
		return
	}
	if flt.ExpiresAfter, ok = timeQuery(c, "expires_after"); !ok {
		return
	}
	l, err := s.state.CertificatesJSON(flt, p)
	if err != nil {
		fail(c, err)
		return
	}
	respondRawList(c, p, l)
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

func (s *Server) updateCertificate(c *gin.Context) {
	var req certificateRequest
	if !bindJSON(c, &req) {
		return
	}
	if req.ID != "" && req.ID != c.Param("id") {
		fail(c, invalid("id", "the body's id "+req.ID+" differs from the id in the path "+c.Param("id")))
		return
	}
	req.ID = c.Param("id")
	cert := req.certificate()
	if !s.propose(c, &fsm.UpdateCertificate{Certificate: cert}) {
		return
	}
	s.respondCertificate(c, http.StatusOK, cert.ID)
}

func (s *Server) archiveCertificate(c *gin.Context) {
	if s.propose(c, &fsm.ArchiveCertificate{ID: c.Param("id")}) {
		c.Status(http.StatusNoContent)
	}
}

func (s *Server) listVersions(c *gin.Context) {
	p, ok := pageOf(c)
	if !ok {
		return
	}
	l, err := s.state.CertificateVersions(c.Param("id"), p)
	if err != nil {
		fail(c, err)
		return
	}
	respondList(c, p, l)
}

// actionBody is the answer of an action that created jobs.
type actionBody struct {
	Status string   `json:"status"`
	JobIDs []string `json:"job_ids,omitempty"` // ours
}

// renewCertificate asks for a Renewal job. The state machine decides whether
// one may start (not Revoked or Archived, no enforced policy rule broken)
// and, while one is open, keeps that one: the answer names the job that
// renews the certificate, new or open.
func (s *Server) renewCertificate(c *gin.Context) {
	certID, jobID := c.Param("id"), NewID("job-")
	if !s.propose(c, &fsm.RequestRenewal{CertificateID: certID, JobID: jobID, CheckPolicies: true}) {
		return
	}
	// The write is applied here: read back which job renews it.
	job, err := s.state.RenewalJob(certID, jobID)
	if err != nil {
		fail(c, err)
		return
	}
	s.nudge()
	c.JSON(http.StatusAccepted, actionBody{Status: "renewal_triggered", JobIDs: []string{job}})
}

type deployRequest struct {
	TargetID string `json:"target_id"`
}

// deployCertificate asks for a Deployment job to each mapped target, or to
// the one target named; the state machine decides whether they may start.
func (s *Server) deployCertificate(c *gin.Context) {
	var req deployRequest
	if c.Request.ContentLength != 0 && !bindJSON(c, &req) {
		return
	}
	jobID := NewID("job-")
	if !s.propose(c, &fsm.RequestDeployment{CertificateID: c.Param("id"), TargetID: req.TargetID, JobID: jobID}) {
		return
	}
	// The write is applied here: its jobs can be read back.
	ids, err := s.state.DeploymentJobIDs(jobID)
	if err != nil {
		fail(c, err)
		return
	}
	s.nudge()
	c.JSON(http.StatusAccepted, actionBody{Status: "deployment_triggered", JobIDs: ids})
}

type revokeRequest struct {
	Reason string `json:"reason"`
}

// revokeCertificate revokes a certificate and cancels its unfinished jobs.
func (s *Server) revokeCertificate(c *gin.Context) {
	var req revokeRequest
	if c.Request.ContentLength != 0 && !bindJSON(c, &req) {
		return
	}
	if !s.propose(c, &fsm.RequestRevocation{CertificateID: c.Param("id"), Reason: req.Reason}) {
		return
	}
	// An issuer that keeps revocations itself (ACME) is told now; one that
	// signs its own CRL lists the revocation there.
	if r, ok := s.cfg.Issuers.(caRevoker); ok {
		ctx, cancel := context.WithTimeout(c.Request.Context(), s.cfg.WriteTimeout)
		defer cancel()
		if err := r.RevokeAtCA(ctx, c.Param("id")); err != nil {
			fail(c, refuse(node.CodeIssuerFailed, "certificate "+c.Param("id")+" is revoked here and its jobs cancelled, but its CA did not confirm the revocation: "+err.Error()))
			return
		}
	}
	statusOK(c, http.StatusOK, "revoked")
}

// caRevoker tells a certificate's CA of its revocation (the issuance
// service).
type caRevoker interface {
	RevokeAtCA(ctx context.Context, certID string) error
}

// nudge wakes the job processor, if this node runs it.
func (s *Server) nudge() {
	if s.cfg.Nudge != nil {
		s.cfg.Nudge()
	}
}
