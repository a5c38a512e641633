package api

import (
	"net/http"

	"github.com/certctl/certctl/api/wire"
	"github.com/certctl/certctl/fsm"
	"github.com/gin-gonic/gin"
)

// agentACMEChallenges lists the live HTTP-01 answers the agent is to serve
// on its host: those of orders for certificates mapped to its targets,
// under issuers with http01_responder agent. Nothing else. Another agent's
// key is refused (403) by the route's access, as on every agent route.
func (s *Server) agentACMEChallenges(c *gin.Context) {
	a, ok := s.liveAgent(c)
	if !ok {
		return
	}
	l, err := s.state.ACMEChallengesForAgent(a.ID, s.cfg.Now())
	if err != nil {
		fail(c, err)
		return
	}
	out := wire.ACMEChallengesResponse{Challenges: make([]wire.ACMEChallenge, len(l)), Count: len(l)}
	for i, ch := range l {
		out.Challenges[i] = wire.ACMEChallenge{Token: ch.Token, KeyAuthorization: ch.KeyAuthorization,
			CertificateID: ch.CertificateID, ExpiresAt: ch.ExpiresAt, Confirmed: ch.ServedBy != ""}
	}
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusOK, out)
}

// agentACMEServed records that the agent serves the answer of :token; the
// order waiting for it then tells the CA to validate. A token that is not
// one of the agent's live answers is 404, whether or not it exists.
func (s *Server) agentACMEServed(c *gin.Context) {
	a, ok := s.liveAgent(c)
	if !ok {
		return
	}
	token := c.Param("token")
	if !fsm.ValidACMEToken(token) {
		fail(c, invalid("token", "an ACME token is base64url characters"))
		return
	}
	if s.propose(c, &fsm.ConfirmACMEChallenge{Token: token, AgentID: a.ID}) {
		statusOK(c, http.StatusOK, "acme_challenge_served")
	}
}
