package api

import (
	"context"
	"net/http"

	"github.com/certctl/certctl/fsm"
	"github.com/certctl/certctl/node"
	"github.com/gin-gonic/gin"
)

func (s *Server) listRuleViolations(c *gin.Context) {
	p, ok := pageOf(c)
	if !ok {
		return
	}
	if _, err := s.state.PolicyRule(c.Param("id")); err != nil {
		fail(c, err)
		return
	}
	l, err := s.state.Violations(fsm.ViolationFilter{RuleID: c.Param("id"), CertificateID: c.Query("certificate_id")}, p)
	if err != nil {
		fail(c, err)
		return
	}
	respondList(c, p, l)
}

// listCertificateViolations lists the policy violations of one certificate,
// optionally of one rule.
func (s *Server) listCertificateViolations(c *gin.Context) {
	p, ok := pageOf(c)
	if !ok {
		return
	}
	if _, err := s.state.Certificate(c.Param("id")); err != nil {
		fail(c, err)
		return
	}
	l, err := s.state.Violations(fsm.ViolationFilter{CertificateID: c.Param("id"), RuleID: c.Query("rule_id")}, p)
	if err != nil {
		fail(c, err)
		return
	}
	respondList(c, p, l)
}

// testIssuer asks the issuer's connector to reach its CA.
func (s *Server) testIssuer(c *gin.Context) {
	iss, err := s.state.Issuer(c.Param("id"))
	if err != nil {
		fail(c, err)
		return
	}
	if s.cfg.Issuers == nil {
		fail(c, refuse(node.CodeNotImplemented, "no issuer connectors are configured on this node yet"))
		return
	}
	ctx, cancel := context.WithTimeout(c.Request.Context(), s.cfg.WriteTimeout)
	defer cancel()
	if err := s.cfg.Issuers.TestIssuer(ctx, iss); err != nil {
		fail(c, refuse(node.CodeIssuerFailed, "issuer "+iss.ID+" failed its test: "+err.Error()))
		return
	}
	statusOK(c, http.StatusOK, "connection_successful")
}
