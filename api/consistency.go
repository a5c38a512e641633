package api

import (
	"context"
	"net/http"
	"net/http/httputil"
	"time"

	"github.com/certctl/certctl/node"
	"github.com/gin-gonic/gin"
)

// consistency serves ?consistency=strong reads: on the leader after a
// barrier (every committed write is applied), elsewhere by asking the leader
// over mutual TLS, as this node, vouching for the caller it authenticated
// (the caller's key goes no further). Both answer within WriteTimeout, as a
// write does: a leader out of reach is a 503 with Retry-After, never a hang.
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
			fail(c, invalid("consistency", "consistency must be local or strong"))
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
		s.proxyToLeader(c, apiAddr, s.cfg.WriteTimeout, c.Writer)
	}
}

// proxyToLeader relays a strong read, a snapshot download or a restore to the leader at apiAddr within
// timeout (0: for as long as the request lasts, for a stream), writing the
// answer to w (c.Writer or a wrapper of it).
func (s *Server) proxyToLeader(c *gin.Context, apiAddr string, timeout time.Duration, w http.ResponseWriter) {
	ctx, cancel := context.WithCancel(c.Request.Context())
	if timeout > 0 {
		cancel()
		ctx, cancel = context.WithTimeout(c.Request.Context(), timeout)
	}
	defer cancel()
	target := s.cluster.PeerURL(apiAddr, "")
	proxy := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(target)
			pr.Out.Host = target.Host
			pr.Out.Header.Del("Authorization")
			pr.Out.Header.Del("Cookie")
			pr.Out.Header.Set(vouchedHeader, principalOf(c).vouch())
			pr.Out.Header.Set(node.ForwardedHeader, s.cluster.Stats().NodeID)
			pr.Out.Header.Set(headerRequestID, requestID(c))
		},
		Transport: s.cluster.PeerTransport(),
		ErrorHandler: func(w http.ResponseWriter, _ *http.Request, err error) {
			if ctx.Err() != nil {
				err = node.ErrTimeout
			} else {
				err = node.ErrNoLeader
			}
			fail(c, err)
		},
		FlushInterval: -1,
	}
	c.Writer.Header().Del(headerRequestID) // the leader echoes ours
	proxy.ServeHTTP(w, c.Request.WithContext(ctx))
	c.Abort()
}
