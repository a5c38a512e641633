package api

import (
	"encoding/json"
	"net/http"

	"github.com/certctl/certctl/fsm"
	"github.com/gin-gonic/gin"
)

func (s *Server) createTeam(c *gin.Context) {
	var t fsm.Team
	if !bindJSON(c, &t) {
		return
	}
	if t.ID == "" {
		t.ID = NewID("t-")
	}
	if s.propose(c, &fsm.CreateTeam{Team: t}) {
		s.respondRead(c, http.StatusCreated, func() (any, error) { return s.state.Team(t.ID) })
	}
}

func (s *Server) getTeam(c *gin.Context) {
	s.respondRead(c, http.StatusOK, func() (any, error) { return s.state.Team(c.Param("id")) })
}

func (s *Server) listTeams(c *gin.Context) {
	if p, ok := pageOf(c); ok {
		l, err := s.state.Teams(p)
		if err != nil {
			fail(c, err)
			return
		}
		respondList(c, p, l)
	}
}

func (s *Server) createOwner(c *gin.Context) {
	var o fsm.Owner
	if !bindJSON(c, &o) {
		return
	}
	if o.ID == "" {
		o.ID = NewID("o-")
	}
	if s.propose(c, &fsm.CreateOwner{Owner: o}) {
		s.respondRead(c, http.StatusCreated, func() (any, error) { return s.state.Owner(o.ID) })
	}
}

func (s *Server) getOwner(c *gin.Context) {
	s.respondRead(c, http.StatusOK, func() (any, error) { return s.state.Owner(c.Param("id")) })
}

func (s *Server) listOwners(c *gin.Context) {
	if p, ok := pageOf(c); ok {
		l, err := s.state.Owners(fsm.OwnerFilter{TeamID: c.Query("team_id")}, p)
		if err != nil {
			fail(c, err)
			return
		}
		respondList(c, p, l)
	}
}

func (s *Server) createIssuer(c *gin.Context) {
	var i fsm.Issuer
	if !bindJSON(c, &i) {
		return
	}
	if i.ID == "" {
		i.ID = NewID("iss-")
	}
	if len(i.Config) == 0 {
		i.Config = json.RawMessage("{}")
	}
	if s.propose(c, &fsm.CreateIssuer{Issuer: i}) {
		s.respondRead(c, http.StatusCreated, func() (any, error) { return s.state.Issuer(i.ID) })
	}
}

func (s *Server) getIssuer(c *gin.Context) {
	s.respondRead(c, http.StatusOK, func() (any, error) { return s.state.Issuer(c.Param("id")) })
}

func (s *Server) listIssuers(c *gin.Context) {
	if p, ok := pageOf(c); ok {
		l, err := s.state.Issuers(p)
		if err != nil {
			fail(c, err)
			return
		}
		respondList(c, p, l)
	}
}
