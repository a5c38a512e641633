package api

import (
	"context"
	"net/http"
	"net/http/httputil"
	"net/url"

	"github.com/certctl/certctl/node"
	"github.com/gin-gonic/gin"
)

// consistency serves ?consistency=strong reads: on the leader after a
// barrier (every committed write is applied), elsewhere by asking the leader.
// The default, ?consistency=local, reads this node's replica.
func (s *Server) consistency(r route) gin.HandlerFunc {
	return func(c *gin.Context) {
		if r.method != http.MethodGet {
			c.Next()
			return
		}
		switch c.Query("consistency") {
		case "", "local":
			c.Next()
			return
		case "strong":
		default:
			failStatus(c, http.StatusBadRequest, "consistency", "consistency must be local or strong")
			return
		}
		if s.cluster.IsLeader() {
			ctx, cancel := context.WithTimeout(c.Request.Context(), s.cfg.WriteTimeout)
			defer cancel()
			if err := s.cluster.Barrier(ctx); err != nil {
				fail(c, err)
				return
			}
			c.Next()
			return
		}
		if c.GetHeader(node.ForwardedHeader) != "" {
			fail(c, node.ErrNotLeader) // never forwarded twice
			return
		}
		_, _, apiAddr := s.cluster.Leader()
		if apiAddr == "" {
			fail(c, node.ErrNoLeader)
			return
		}
		proxy := httputil.NewSingleHostReverseProxy(&url.URL{Scheme: "http", Host: apiAddr})
		proxy.ErrorHandler = func(w http.ResponseWriter, _ *http.Request, err error) { fail(c, node.ErrNoLeader) }
		c.Request.Header.Set(node.ForwardedHeader, s.cluster.Stats().NodeID)
		c.Writer.Header().Del(headerRequestID) // the leader echoes ours
		c.Request.Header.Set(headerRequestID, requestID(c))
		proxy.ServeHTTP(c.Writer, c.Request)
		c.Abort()
	}
}
