package api

import (
	"net/http"
	"strconv"

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

// verifyAudit walks the chain of this node's replica, checking its keyed
// links with the audit key the node holds (the client never needs it).
func (s *Server) verifyAudit(c *gin.Context) {
	s.respondRead(c, http.StatusOK, func() (any, error) { return s.state.VerifyAudit() })
}

// auditHead answers the head of this node's chain as of at_index (default:
// its applied index), so that nodes can be compared at the same raft index.
// An index this node has not applied yet is a 409 naming at_index.
func (s *Server) auditHead(c *gin.Context) {
	var at uint64
	if v := c.Query("at_index"); v != "" {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			fail(c, invalid("at_index", "at_index must be a raft index (a whole number), not "+strconv.Quote(v)))
			return
		}
		at = n
	}
	s.respondRead(c, http.StatusOK, func() (any, error) { return s.state.AuditHeadAt(at) })
}
