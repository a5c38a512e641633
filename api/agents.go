package api

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/certctl/certctl/api/wire"
	"github.com/certctl/certctl/fsm"
	"github.com/certctl/certctl/node"
	"github.com/gin-gonic/gin"
)

// viewAgent is an agent as served: never its key hash.
func viewAgent(a *fsm.Agent) wire.Agent {
	return wire.Agent{ID: a.ID, Name: a.Name, Hostname: a.Hostname, Status: a.Status, LastHeartbeatAt: a.LastHeartbeatAt,
		RegisteredAt: a.RegisteredAt, Version: a.Version, RetiredAt: a.RetiredAt,
		OS: a.OS, Architecture: a.Architecture, IPAddress: a.IPAddress}
}

func (s *Server) listAgents(c *gin.Context) {
	p, ok := pageOf(c)
	if !ok {
		return
	}
	st, ok := enumQuery(c, "status", fsm.AgentStatuses)
	if !ok {
		return
	}
	l, err := s.state.Agents(fsm.AgentFilter{Status: st, Version: c.Query("version"), OS: c.Query("os")}, p)
	if err != nil {
		fail(c, err)
		return
	}
	views := make([]wire.Agent, len(l.Items))
	for i := range l.Items {
		views[i] = viewAgent(&l.Items[i])
	}
	respondList(c, p, fsm.List[wire.Agent]{Items: views, Total: l.Total})
}

func (s *Server) getAgent(c *gin.Context) {
	a, err := s.state.Agent(c.Param("id"))
	if err != nil {
		fail(c, err)
		return
	}
	c.JSON(http.StatusOK, viewAgent(a))
}

type agentRequest struct {
	ID       string `json:"id"`
	Name     string `json:"name"`
	Hostname string `json:"hostname"`
}

// registerAgent registers an agent with a key of its own, returned once.
func (s *Server) registerAgent(c *gin.Context) {
	var req agentRequest
	if !bindJSON(c, &req) {
		return
	}
	if req.ID == "" {
		req.ID = NewID("ag-")
	}
	secret := NewKeySecret()
	key := &fsm.APIKey{ID: NewID("key-"), Name: "agent " + req.ID, Role: fsm.RoleAgent, AgentID: req.ID, Hash: HashKey(secret), Prefix: KeyPrefix(secret)}
	agent := fsm.Agent{ID: req.ID, Name: req.Name, Hostname: req.Hostname, Status: fsm.AgentOffline, APIKeyHash: key.Hash}
	if !s.propose(c, &fsm.RegisterAgent{Agent: agent, Key: key}) {
		return
	}
	a, err := s.state.Agent(req.ID)
	if err != nil {
		fail(c, err)
		return
	}
	c.JSON(http.StatusCreated, wire.AgentRegistration{Agent: viewAgent(a), APIKey: secret})
}

func (s *Server) retireAgent(c *gin.Context) {
	if s.propose(c, &fsm.RetireAgent{AgentID: c.Param("id")}) {
		c.Status(http.StatusNoContent)
	}
}

// liveAgent loads the agent of the path; a retired agent gets 410 Gone.
func (s *Server) liveAgent(c *gin.Context) (*fsm.Agent, bool) {
	a, err := s.state.Agent(c.Param("id"))
	if err != nil {
		fail(c, err)
		return nil, false
	}
	if a.RetiredAt != nil {
		fail(c, refuse(node.CodeGone, "agent "+a.ID+" was retired; register a new agent"))
		return nil, false
	}
	return a, true
}

// heartbeat records an agent's sign of life. Beats are folded into one raft
// entry per flush interval. A beat that changes the agent's record (it comes
// Online, or reports a new version or hostname) is answered once committed,
// so the agent and its operator read what it sent; a beat that only
// refreshes the time is answered once queued (see heartbeatBatcher).
func (s *Server) heartbeat(c *gin.Context) {
	var req wire.HeartbeatRequest
	if c.Request.ContentLength != 0 && !bindJSON(c, &req) {
		return
	}
	beat := fsm.Heartbeat{Version: req.Version, Hostname: req.Hostname,
		OS: req.OS, Architecture: req.Architecture, IPAddress: req.IPAddress}
	// The state machine's own limits: a beat that passed here but failed
	// there would fail the whole batch, every other agent's beat with it.
	if err := fsm.CheckHeartbeat(&beat); err != nil {
		fail(c, err)
		return
	}
	if req.IPAddress != "" && net.ParseIP(req.IPAddress) == nil {
		fail(c, invalid("ip_address", "ip_address must be an IPv4 or IPv6 address, not "+strconv.Quote(req.IPAddress)))
		return
	}
	a, ok := s.liveAgent(c)
	if !ok {
		return
	}
	beat.AgentID, beat.At = a.ID, s.cfg.Now().UTC()
	changed := func(sent, stored string) bool { return sent != "" && sent != stored }
	changes := a.Status != fsm.AgentOnline || changed(req.Version, a.Version) || changed(req.Hostname, a.Hostname) ||
		changed(req.OS, a.OS) || changed(req.Architecture, a.Architecture) || changed(req.IPAddress, a.IPAddress)
	if err := s.heartbeats.add(c.Request.Context(), beat, changes); err != nil {
		fail(c, err)
		return
	}
	statusOK(c, http.StatusOK, "heartbeat_recorded")
}

// agentWork lists the jobs waiting for the agent: deployments to its targets
// and key requests (AwaitingCSR) for certificates it serves.
func (s *Server) agentWork(c *gin.Context) {
	a, ok := s.liveAgent(c)
	if !ok {
		return
	}
	// One scan of the agent's jobs, not one per status: each scan decodes
	// every job the agent ever had, finished ones included.
	open := []wire.JobStatus{fsm.JobPending, fsm.JobAwaitingCSR, fsm.JobRunning}
	l, err := s.state.Jobs(fsm.JobFilter{AgentID: a.ID, Statuses: open}, fsm.Page{PerPage: fsm.MaxPerPage})
	if err != nil {
		fail(c, err)
		return
	}
	// The answer lists the jobs by status in the order of open, as it did
	// when each status had its own query.
	slices.SortStableFunc(l.Items, func(x, y fsm.Job) int {
		return slices.Index(open, x.Status) - slices.Index(open, y.Status)
	})
	// Target secrets go only to the agent's own key, never to an operator
	// or admin key calling the agent's endpoint on its behalf.
	who := principalOf(c)
	own := who.role == fsm.RoleAgent && who.agentID == a.ID
	if own {
		c.Header("Cache-Control", "no-store")
	}
	items := []wire.WorkItem{}
	for _, j := range l.Items {
		if j.Status == fsm.JobRunning && j.LeaseHolder != "" {
			continue // leased to the server side
		}
		forAgent := ""
		if own {
			forAgent = a.ID
		}
		item, err := s.workItem(c, &j, forAgent)
		if err != nil {
			fail(c, err)
			return
		}
		items = append(items, item)
	}
	c.JSON(http.StatusOK, wire.WorkResponse{Jobs: items, Count: len(items)})
}

// workItem is job j as handed to its agent: with its target's config, the
// secrets of which are opened for agentID (the agent's own key asks) and
// redacted when agentID is "".
func (s *Server) workItem(c *gin.Context, j *fsm.Job, agentID string) (wire.WorkItem, error) {
	cert, err := s.state.Certificate(j.CertificateID)
	if err != nil {
		return wire.WorkItem{}, err
	}
	item := wire.WorkItem{ID: j.ID, Type: j.Type, CertificateID: j.CertificateID, CommonName: cert.CommonName, SANs: cert.SANs,
		KeyType: cert.KeyType, TargetID: j.TargetID, Status: j.Status}
	if j.TargetID != "" {
		t, err := s.state.Target(j.TargetID)
		if err != nil {
			return wire.WorkItem{}, err
		}
		item.TargetType = t.Type
		if agentID != "" {
			item.TargetConfig = s.openTargetSecrets(c, t, j.ID, agentID)
		} else {
			s.redactTarget(t)
			item.TargetConfig = t.Config
		}
	}
	return item, nil
}

// agentCSR takes an agent's CSR for an AwaitingCSR job. The CSR is checked
// here (it parses, its signature holds, its names are the certificate's);
// the issuer service signs it, records the version, completes the job and
// queues the deployments. An issuer that cannot sign answers 502.
func (s *Server) agentCSR(c *gin.Context) {
	var req wire.CSRRequest
	if !bindJSON(c, &req) {
		return
	}
	a, ok := s.liveAgent(c)
	if !ok {
		return
	}
	block, _ := pem.Decode([]byte(req.CSRPEM))
	if block == nil || block.Type != "CERTIFICATE REQUEST" {
		fail(c, invalid("csr_pem", "csr_pem must hold a PEM \"CERTIFICATE REQUEST\" block"))
		return
	}
	csr, err := x509.ParseCertificateRequest(block.Bytes)
	if err != nil {
		fail(c, invalid("csr_pem", "csr_pem does not parse: "+err.Error()))
		return
	}
	if err := csr.CheckSignature(); err != nil {
		fail(c, invalid("csr_pem", "the CSR's signature does not verify: "+err.Error()))
		return
	}
	l, err := s.state.Jobs(fsm.JobFilter{AgentID: a.ID, Status: fsm.JobAwaitingCSR}, fsm.Page{PerPage: fsm.MaxPerPage})
	if err != nil {
		fail(c, err)
		return
	}
	idx := slices.IndexFunc(l.Items, func(j fsm.Job) bool {
		return req.CertificateID == "" || j.CertificateID == req.CertificateID
	})
	if idx < 0 {
		fail(c, &node.CodedError{Code: node.CodeState, Field: "certificate_id", Message: "agent " + a.ID + " has no job waiting for a CSR" + forCert(req.CertificateID)})
		return
	}
	cert, err := s.state.Certificate(l.Items[idx].CertificateID)
	if err != nil {
		fail(c, err)
		return
	}
	if csr.Subject.CommonName != cert.CommonName {
		fail(c, invalid("csr_pem", "the CSR's common name "+csr.Subject.CommonName+" is not the certificate's "+cert.CommonName))
		return
	}
	if s.cfg.Issuers == nil {
		fail(c, refuse(node.CodeNotImplemented, "no issuer connector can sign CSRs on this node"))
		return
	}
	// A CA that validates the names first (ACME: order, challenge,
	// finalize) takes seconds; the agent waits 30 s for the answer.
	ctx, cancel := context.WithTimeout(c.Request.Context(), max(s.cfg.WriteTimeout, csrSignTimeout))
	defer cancel()
	if err := s.cfg.Issuers.SignCSR(ctx, a.ID, l.Items[idx], *cert, req.CSRPEM); err != nil {
		if node.DescribeError(err).Status != http.StatusInternalServerError || fsm.CodeOf(err) == fsm.CodeInternal {
			fail(c, err) // the cluster's answer (a refusal, no leader, a deadline)
			return
		}
		fail(c, refuse(node.CodeIssuerFailed, "issuer "+cert.IssuerID+" could not sign the CSR: "+err.Error()))
		return
	}
	statusOK(c, http.StatusAccepted, "csr_accepted")
}

// csrSignTimeout bounds signing an agent's CSR, within the 30 s the agent's
// client waits for response headers.
const csrSignTimeout = 25 * time.Second

func forCert(id string) string {
	if id == "" {
		return ""
	}
	return " for certificate " + id
}

// agentPickup hands the agent the current certificate and chain of a
// certificate mapped to one of its targets, and for a certificate whose key
// the server made, that key: to no one else, in no other answer.
func (s *Server) agentPickup(c *gin.Context) {
	a, ok := s.liveAgent(c)
	if !ok {
		return
	}
	cert, err := s.state.Certificate(c.Param("cert_id"))
	if err != nil {
		fail(c, err)
		return
	}
	served, err := s.agentServes(a.ID, cert)
	if err != nil {
		fail(c, err)
		return
	}
	if !served {
		fail(c, refuse(node.CodeForbidden, "certificate "+cert.ID+" is not mapped to a target of agent "+a.ID))
		return
	}
	v, err := s.state.LatestCertificateVersion(cert.ID)
	if err != nil {
		fail(c, err)
		return
	}
	pickup := wire.CertificatePickup{CertificatePEM: v.PEMChain}
	// A server-made key goes only to the agent itself, never to an operator
	// or admin key calling the agent's endpoints on its behalf.
	if who := principalOf(c); strings.EqualFold(string(cert.KeyGeneration), string(wire.KeyGenerationServer)) && who.role == fsm.RoleAgent && who.agentID == a.ID {
		keyPEM, ok := s.serverKey(c, cert.ID, v.ID, a.ID)
		if !ok {
			return
		}
		defer clear(keyPEM)
		pickup.PrivateKeyPEM = string(keyPEM)
		c.Header("Cache-Control", "no-store")
	}
	c.JSON(http.StatusOK, pickup)
}

// serverKey opens the server-side key of version versionID of certificate
// certID for agentID, the agent of one of its targets: only this answer
// carries it. A key that belongs to another version (the certificate's key
// moved to an agent since) or that was made for another agent (the target
// was moved to agentID since: it needs a renewal) is not handed out.
func (s *Server) serverKey(c *gin.Context, certID, versionID, agentID string) ([]byte, bool) {
	if s.cfg.Keys == nil {
		fail(c, refuse(node.CodeNotImplemented, "this node cannot open server-side keys"))
		return nil, false
	}
	keyPEM, keyVersion, err := s.cfg.Keys.OpenServerKey(c.Request.Context(), certID, agentID)
	if err != nil {
		switch fsm.CodeOf(err) {
		case fsm.CodeNotFound:
			fail(c, &fsm.Error{Code: fsm.CodeNotFound, Resource: "server key", ID: certID, Message: "certificate " + certID + " has no server-side key for its current version"})
			return nil, false
		case fsm.CodeState:
			fail(c, err) // made for another agent: the message says to renew
			return nil, false
		}
		s.cfg.Logger.Error("server-side key does not open", "certificate", certID, "err", err)
		fail(c, refuse(node.CodeInternal, "the server-side key of certificate "+certID+" could not be opened on this node"))
		return nil, false
	}
	if keyVersion != versionID {
		clear(keyPEM)
		fail(c, &fsm.Error{Code: fsm.CodeNotFound, Resource: "server key", ID: certID, Message: "certificate " + certID + " has no server-side key for its current version"})
		return nil, false
	}
	return keyPEM, true
}

// agentServes reports whether one of the certificate's targets is the agent's.
func (s *Server) agentServes(agentID string, cert *fsm.Certificate) (bool, error) {
	for _, tid := range cert.TargetIDs {
		t, err := s.state.Target(tid)
		if err != nil {
			if fsm.CodeOf(err) == fsm.CodeNotFound {
				continue
			}
			return false, err
		}
		if t.AgentID == agentID {
			return true, nil
		}
	}
	return false, nil
}

// agentJobStatus records what an agent reports of one of its jobs: Running
// (the original agent's report before it deploys) starts it and stamps
// started_at; Completed or Failed end it. Running never ends a job.
func (s *Server) agentJobStatus(c *gin.Context) {
	var req wire.JobStatusRequest
	if !bindJSON(c, &req) {
		return
	}
	a, ok := s.liveAgent(c)
	if !ok {
		return
	}
	var p fsm.Payload
	switch strings.ToLower(string(req.Status)) {
	case "running":
		p = &fsm.StartJob{JobID: c.Param("job_id"), AgentID: a.ID}
	case "completed":
		p = &fsm.CompleteJob{JobID: c.Param("job_id"), AgentID: a.ID, DeploymentResult: req.DeploymentResult}
	case "failed":
		p = &fsm.FailJob{JobID: c.Param("job_id"), AgentID: a.ID, Error: req.Error, DeploymentResult: req.DeploymentResult}
	default:
		fail(c, invalid("status", "status must be Running, Completed or Failed, not \""+string(req.Status)+"\""))
		return
	}
	if s.propose(c, p) {
		statusOK(c, http.StatusOK, "updated")
	}
}
