package api

import (
	"net/http"

	"github.com/gin-gonic/gin"
)

func (s *Server) health(c *gin.Context) {
	c.JSON(http.StatusOK, gin.H{"status": "healthy"})
}

// ready is 200 once this node knows a leader and has applied the log.
func (s *Server) ready(c *gin.Context) {
	if !s.cluster.Ready() {
		c.JSON(http.StatusServiceUnavailable, gin.H{"status": "not_ready", "message": "no leader known yet, or the log is not applied yet"})
		return
	}
	c.JSON(http.StatusOK, gin.H{"status": "ready"})
}
