package api

import (
	"net/http"
	"slices"
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

// openJobs returns the unfinished jobs of a certificate of one of types.
func (s *Server) openJobs(certID string, types ...wire.JobType) ([]fsm.Job, error) {
	l, err := s.state.Jobs(fsm.JobFilter{CertificateID: certID}, fsm.Page{PerPage: fsm.MaxPerPage})
	if err != nil {
		return nil, err
	}
	var out []fsm.Job
	for _, j := range l.Items {
		if j.Status == fsm.JobCompleted || j.Status == fsm.JobFailed || j.Status == fsm.JobCancelled {
			continue
		}
		for _, t := range types {
			if j.Type == t {
				out = append(out, j)
			}
		}
	}
	return out, nil
}

// renewCertificate queues a Renewal job (one at a time per certificate) for
// the job processor.
func (s *Server) renewCertificate(c *gin.Context) {
	cert, err := s.state.Certificate(c.Param("id"))
	if err != nil {
		fail(c, err)
		return
	}
	if cert.Status == fsm.CertArchived || cert.Status == fsm.CertRevoked {
		fail(c, refuse(node.CodeState, "certificate "+cert.ID+" is "+string(cert.Status)+" and cannot be renewed"))
		return
	}
	// A certificate that breaks an enforced policy rule is refused here,
	// naming the rule; the job processor asks again before any issuer is
	// called, so one slipping past this replica's view still never issues.
	if err := s.state.CheckPolicies(cert.ID); err != nil {
		fail(c, err)
		return
	}
	open, err := s.openJobs(cert.ID, fsm.JobIssuance, fsm.JobRenewal)
	if err != nil {
		fail(c, err)
		return
	}
	if len(open) > 0 {
		c.JSON(http.StatusAccepted, actionBody{Status: "renewal_triggered", JobIDs: []string{open[0].ID}})
		return
	}
	job := fsm.Job{ID: NewID("job-"), Type: fsm.JobRenewal, CertificateID: cert.ID, MaxAttempts: s.maxAttempts(cert)}
	if s.propose(c, &fsm.CreateJobs{Jobs: []fsm.Job{job}}) {
		s.nudge()
		c.JSON(http.StatusAccepted, actionBody{Status: "renewal_triggered", JobIDs: []string{job.ID}})
	}
}

// maxAttempts is one attempt plus the renewal policy's retries.
func (s *Server) maxAttempts(cert *fsm.Certificate) int {
	if cert.RenewalPolicyID != "" {
		if p, err := s.state.RenewalPolicy(cert.RenewalPolicyID); err == nil {
			return min(p.MaxRetries+1, 100)
		}
	}
	return fsm.DefaultMaxAttempts
}

type deployRequest struct {
	TargetID string `json:"target_id"`
}

// deployCertificate queues a Deployment job for each mapped target, or for
// the one target named, which must be mapped.
func (s *Server) deployCertificate(c *gin.Context) {
	var req deployRequest
	if c.Request.ContentLength != 0 && !bindJSON(c, &req) {
		return
	}
	cert, err := s.state.Certificate(c.Param("id"))
	if err != nil {
		fail(c, err)
		return
	}
	if cert.Status == fsm.CertArchived || cert.Status == fsm.CertRevoked {
		fail(c, refuse(node.CodeState, "certificate "+cert.ID+" is "+string(cert.Status)+" and cannot be deployed"))
		return
	}
	versions, err := s.state.CertificateVersions(cert.ID, fsm.Page{PerPage: 1})
	if err != nil {
		fail(c, err)
		return
	}
	if versions.Total == 0 {
		fail(c, refuse(node.CodeState, "certificate "+cert.ID+" has not been issued yet; renew it first"))
		return
	}
	targets := cert.TargetIDs
	if req.TargetID != "" {
		if !slices.Contains(targets, req.TargetID) {
			fail(c, invalid("target_id", "target "+req.TargetID+" is not mapped to certificate "+cert.ID+"; map it first (target_ids)"))
			return
		}
		targets = []string{req.TargetID}
	}
	if len(targets) == 0 {
		fail(c, refuse(node.CodeState, "certificate "+cert.ID+" is mapped to no target; set target_ids first"))
		return
	}
	jobs := make([]fsm.Job, 0, len(targets))
	ids := make([]string, 0, len(targets))
	for _, tid := range targets {
		t, err := s.state.Target(tid)
		if err != nil {
			fail(c, err)
			return
		}
		j := fsm.Job{ID: NewID("job-"), Type: fsm.JobDeployment, CertificateID: cert.ID, TargetID: tid, AgentID: t.AgentID}
		jobs = append(jobs, j)
		ids = append(ids, j.ID)
	}
	if s.propose(c, &fsm.CreateJobs{Jobs: jobs}) {
		s.nudge()
		c.JSON(http.StatusAccepted, actionBody{Status: "deployment_triggered", JobIDs: ids})
	}
}

type revokeRequest struct {
	Reason string `json:"reason"`
}

func (s *Server) revokeCertificate(c *gin.Context) {
	var req revokeRequest
	if c.Request.ContentLength != 0 && !bindJSON(c, &req) {
		return
	}
	if s.propose(c, &fsm.RevokeCertificate{CertificateID: c.Param("id"), Reason: req.Reason}) {
		statusOK(c, http.StatusOK, "revoked")
	}
}

// nudge wakes the job processor, if this node runs it.
func (s *Server) nudge() {
	if s.cfg.Nudge != nil {
		s.cfg.Nudge()
	}
}
