package api

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/certctl/certctl/node"
	"github.com/gin-gonic/gin"
)

const (
	headerRequestID = "X-Request-ID"
	ctxRequestID    = "certctl.request_id"
	ctxLogger       = "certctl.logger"

	// MaxBodyBytes is the largest request body accepted (413 above).
	MaxBodyBytes = 1 << 20
)

// newRequestID returns 16 random bytes in hex.
func newRequestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// validRequestID accepts a client's X-Request-ID if it is short and plain.
func validRequestID(s string) bool {
	if s == "" || len(s) > 128 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.') {
			return false
		}
	}
	return true
}

// withRequestID echoes a valid client X-Request-ID or makes one, on every answer.
func withRequestID(log *slog.Logger) gin.HandlerFunc {
	return func(c *gin.Context) {
		id := c.GetHeader(headerRequestID)
		if !validRequestID(id) {
			id = newRequestID()
		}
		c.Set(ctxRequestID, id)
		c.Set(ctxLogger, log)
		c.Header(headerRequestID, id)
		c.Next()
	}
}

func requestID(c *gin.Context) string { return c.GetString(ctxRequestID) }

// loggerOf returns the server's logger with the request's id; it is built
// only when something is logged, which keeps the hot path free of it.
func loggerOf(c *gin.Context) *slog.Logger {
	l := slog.Default()
	if v, ok := c.Get(ctxLogger); ok {
		l = v.(*slog.Logger)
	}
	return l.With("request_id", requestID(c))
}

// withRecovery turns a handler panic into a 500 in the error shape.
func withRecovery() gin.HandlerFunc {
	return func(c *gin.Context) {
		defer func() {
			if r := recover(); r != nil {
				if r == http.ErrAbortHandler {
					panic(r)
				}
				loggerOf(c).Error("handler panicked", "panic", fmt.Sprint(r))
				fail(c, errors.New("api: internal error"))
			}
		}()
		c.Next()
	}
}

// withAccessLog logs each request at debug, and server errors at warn.
func withAccessLog() gin.HandlerFunc {
	return func(c *gin.Context) {
		start := time.Now()
		c.Next()
		lvl := slog.LevelDebug
		if c.Writer.Status() >= 500 {
			lvl = slog.LevelWarn
		}
		if v, ok := c.Get(ctxLogger); !ok || !v.(*slog.Logger).Enabled(c.Request.Context(), lvl) {
			return
		}
		attrs := []any{"method", c.Request.Method, "path", c.FullPath(), "status", c.Writer.Status(), "duration", time.Since(start)}
		if err := c.Errors.Last(); err != nil {
			attrs = append(attrs, "err", err.Err)
		}
		loggerOf(c).Log(c.Request.Context(), lvl, "request", attrs...)
	}
}

// withBodyLimit refuses bodies above limit with 413. Commands forwarded
// between nodes under /internal/ and import batches have their own, larger
// limits; a snapshot restore streams a whole file to disk and has none.
func withBodyLimit(limit int64) gin.HandlerFunc {
	return func(c *gin.Context) {
		if strings.HasPrefix(c.Request.URL.Path, "/internal/") || c.Request.URL.Path == snapshotRestorePath || c.Request.URL.Path == importPath {
			c.Next()
			return
		}
		if c.Request.ContentLength > limit {
			fail(c, refuse(node.CodeTooLarge, fmt.Sprintf("request body is larger than %d bytes", limit)))
			return
		}
		c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, limit)
		c.Next()
	}
}
