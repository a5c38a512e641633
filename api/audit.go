package api

import (
	"net/http"

	"github.com/certctl/certctl/fsm"
	"github.com/gin-gonic/gin"
)

func (s *Server) listAudit(c *gin.Context) {
	p, ok := pageOf(c)
	if !ok {
		return
	}
	flt := fsm.AuditFilter{Actor: c.Query("actor"), Action: c.Query("action"), ResourceType: c.Query("resource_type"), ResourceID: c.Query("resource_id")}
	if flt.ActorType, ok = enumQuery(c, "actor_type", fsm.ActorTypes); !ok {
		return
	}
	if flt.From, ok = timeQuery(c, "from"); !ok {
		return
	}
	if flt.To, ok = timeQuery(c, "to"); !ok {
		return
	}
	l, err := s.state.AuditEvents(flt, p)
	if err != nil {
		fail(c, err)
		return
	}
	respondList(c, p, l)
}

func (s *Server) getAudit(c *gin.Context) {
	s.respondRead(c, http.StatusOK, func() (any, error) { return s.state.AuditEvent(c.Param("id")) })
}

// verifyAudit walks the hash chain of this node's replica.
func (s *Server) verifyAudit(c *gin.Context) {
	s.respondRead(c, http.StatusOK, func() (any, error) { return s.state.VerifyAudit() })
}
