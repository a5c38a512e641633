package api

import (
	"net/http"

	"github.com/certctl/certctl/fsm"
	"github.com/gin-gonic/gin"
)

func (s *Server) listJobs(c *gin.Context) {
	p, ok := pageOf(c)
	if !ok {
		return
	}
	flt := fsm.JobFilter{AgentID: c.Query("agent_id"), CertificateID: c.Query("certificate_id")}
	if flt.Status, ok = enumQuery(c, "status", fsm.JobStatuses); !ok {
		return
	}
	if flt.Type, ok = enumQuery(c, "type", fsm.JobTypes); !ok {
		return
	}
	l, err := s.state.Jobs(flt, p)
	if err != nil {
		fail(c, err)
		return
	}
	respondList(c, p, l)
}

func (s *Server) getJob(c *gin.Context) {
	s.respondRead(c, http.StatusOK, func() (any, error) { return s.state.Job(c.Param("id")) })
}

func (s *Server) cancelJob(c *gin.Context) {
	if s.propose(c, &fsm.CancelJob{JobID: c.Param("id")}) {
		statusOK(c, http.StatusOK, "job_cancelled")
	}
}
