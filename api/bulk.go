package api

import (
	"context"
	"net/http"
	"strconv"

	"github.com/certctl/certctl/api/wire"
	"github.com/certctl/certctl/fsm"
	"github.com/certctl/certctl/node"
	"github.com/gin-gonic/gin"
)

// maxBulk is the most certificates one bulk action acts on.
const maxBulk = 1000

// bulkTargets resolves a bulk request to certificate ids: those named
// (certificate_ids), else those matching every criterion given, Archived
// ones left out. With both, the named ones must also match the criteria
// (the others are reported as not matching). ok is false when the answer
// was written (a 400).
func (s *Server) bulkTargets(c *gin.Context, req *wire.BulkRequest) (ids []string, mismatched []string, ok bool) {
	criteria := fsm.CertificateFilter{OwnerID: req.OwnerID, TeamID: req.TeamID, IssuerID: req.IssuerID, AgentID: req.AgentID}
	if len(req.CertificateIDs) == 0 && criteria == (fsm.CertificateFilter{}) {
		fail(c, invalid("certificate_ids", "give certificate_ids or at least one of owner_id, team_id, issuer_id, agent_id"))
		return nil, nil, false
	}
	if len(req.CertificateIDs) > maxBulk {
		fail(c, invalid("certificate_ids", "at most "+strconv.Itoa(maxBulk)+" certificate_ids per call, not "+strconv.Itoa(len(req.CertificateIDs))))
		return nil, nil, false
	}
	seen := map[string]bool{}
	for _, id := range req.CertificateIDs {
		if err := fsm.ValidID("certificate_ids", id); err != nil {
			fail(c, err)
			return nil, nil, false
		}
		if !seen[id] {
			seen[id] = true
			ids = append(ids, id)
		}
	}
	if criteria == (fsm.CertificateFilter{}) {
		return ids, nil, true
	}
	var matched []string
	for page := 1; ; page++ {
		l, err := s.state.Certificates(criteria, fsm.Page{Page: page, PerPage: fsm.MaxPerPage})
		if err != nil {
			fail(c, err)
			return nil, nil, false
		}
		for _, cert := range l.Items {
			if cert.Status != fsm.CertArchived {
				matched = append(matched, cert.ID)
			}
		}
		if len(ids) == 0 && len(matched) > maxBulk {
			fail(c, invalid("certificate_ids", "the criteria match more than "+strconv.Itoa(maxBulk)+
				" certificates; narrow them or name at most "+strconv.Itoa(maxBulk)+" in certificate_ids"))
			return nil, nil, false
		}
		if len(l.Items) < fsm.MaxPerPage {
			break
		}
	}
	if len(ids) == 0 {
		return matched, nil, true
	}
	in := map[string]bool{}
	for _, id := range matched {
		in[id] = true
	}
	var both []string
	for _, id := range ids {
		if in[id] {
			both = append(both, id)
		} else {
			mismatched = append(mismatched, id)
		}
	}
	return both, mismatched, true
}

// bulkRequestID is the request id of one certificate's command in a bulk
// action: derived from the caller's Idempotency-Key when given, so a retried
// bulk call repeats no command; fresh otherwise.
func bulkRequestID(c *gin.Context, action, certID string) string {
	if key := c.GetHeader("Idempotency-Key"); validRequestID(key) {
		if id := key + "/" + action + "/" + certID; validRequestID(id) {
			return id
		}
	}
	return newRequestID()
}

// refusedByState reports whether err is the state machine refusing the
// work (Archived, Revoked, already revoked): a skip, not a failure.
func refusedByState(err error) bool {
	return node.DescribeError(err).Code == node.CodeState
}

func bulkError(id string, err error) wire.BulkError {
	return wire.BulkError{CertificateID: id, Error: node.DescribeError(err).Message}
}

// bulkRenew asks each certificate for a renewal through RequestRenewal, as
// POST /certificates/:id/renew does. Enqueued: a new job; skipped: a
// renewal was already open (its job is listed) or the state machine
// refused (Archived, Revoked: in errors); failed: any other error.
func (s *Server) bulkRenew(c *gin.Context) {
	var req wire.BulkRequest
	if !bindJSON(c, &req) {
		return
	}
	ids, mismatched, ok := s.bulkTargets(c, &req)
	if !ok {
		return
	}
	out := wire.BulkRenewResult{TotalMatched: len(ids), Jobs: []wire.BulkJob{}, Errors: []wire.BulkError{}}
	for _, id := range mismatched {
		out.TotalSkipped++
		out.Errors = append(out.Errors, wire.BulkError{CertificateID: id, Error: "certificate " + id + " does not match the criteria given"})
	}
	for _, id := range ids {
		if err := c.Request.Context().Err(); err != nil {
			fail(c, err)
			return
		}
		jobID := NewID("job-")
		err := s.proposeFor(c, bulkRequestID(c, "renew", id), &fsm.RequestRenewal{CertificateID: id, JobID: jobID, CheckPolicies: true})
		var job string
		if err == nil {
			job, err = s.state.RenewalJob(id, jobID)
		}
		switch {
		case err == nil && job == jobID:
			out.TotalEnqueued++
			out.Jobs = append(out.Jobs, wire.BulkJob{CertificateID: id, JobID: job})
		case err == nil:
			out.TotalSkipped++
			out.Jobs = append(out.Jobs, wire.BulkJob{CertificateID: id, JobID: job})
		case refusedByState(err):
			out.TotalSkipped++
			out.Errors = append(out.Errors, bulkError(id, err))
		default:
			out.TotalFailed++
			out.Errors = append(out.Errors, bulkError(id, err))
		}
	}
	if out.TotalEnqueued > 0 {
		s.nudge()
	}
	c.JSON(http.StatusOK, out)
}

// bulkRevoke revokes each certificate through RequestRevocation with one
// RFC 5280 reason, as POST /certificates/:id/revoke does. Skipped: the
// state machine refused (already revoked, archived); failed: any other
// error.
func (s *Server) bulkRevoke(c *gin.Context) {
	var req wire.BulkRequest
	if !bindJSON(c, &req) {
		return
	}
	check := fsm.RequestRevocation{CertificateID: "mc-reason-check", Reason: req.Reason}
	if err := check.Validate(); err != nil {
		fail(c, err)
		return
	}
	ids, mismatched, ok := s.bulkTargets(c, &req)
	if !ok {
		return
	}
	out := wire.BulkRevokeResult{TotalMatched: len(ids), Errors: []wire.BulkError{}}
	for _, id := range mismatched {
		out.TotalSkipped++
		out.Errors = append(out.Errors, wire.BulkError{CertificateID: id, Error: "certificate " + id + " does not match the criteria given"})
	}
	for _, id := range ids {
		if err := c.Request.Context().Err(); err != nil {
			fail(c, err)
			return
		}
		err := s.proposeFor(c, bulkRequestID(c, "revoke", id), &fsm.RequestRevocation{CertificateID: id, Reason: req.Reason})
		switch {
		case err == nil:
			out.TotalRevoked++
		case refusedByState(err):
			out.TotalSkipped++
			out.Errors = append(out.Errors, bulkError(id, err))
		default:
			out.TotalFailed++
			out.Errors = append(out.Errors, bulkError(id, err))
		}
	}
	c.JSON(http.StatusOK, out)
}

// proposeFor proposes p as the caller with request id reqID and returns
// the outcome without answering: a bulk action reports each one.
func (s *Server) proposeFor(c *gin.Context, reqID string, p fsm.Payload) error {
	who := principalOf(c)
	actorType := fsm.ActorUser
	if who.role == fsm.RoleAgent {
		actorType = fsm.ActorAgent
	}
	cmd, err := fsm.NewCommand(fsm.Meta{RequestID: reqID, Time: s.cfg.Now(), Actor: who.name, ActorType: actorType, ActorRole: who.role}, p)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(c.Request.Context(), s.cfg.WriteTimeout)
	defer cancel()
	_, err = s.cluster.Propose(ctx, cmd)
	return err
}
