package api

import (
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/certctl/certctl/api/wire"
	"github.com/certctl/certctl/fsm"
	"github.com/gin-gonic/gin"
)

// The dashboard's reads (/api/v1/stats/...): counts and queues computed by
// the state machine from its counters and indexes at this server's clock.
// None of them carries a secret: counts, ids, names, and the errors the
// jobs and notifications already show to the same readers.

// attentionLimit caps the needs-attention queue's items.
const attentionLimit = 200

// riskClock is the clock risks are judged against: now, and the renewal
// check's longest lifetime.
func (s *Server) riskClock() fsm.RiskClock {
	return fsm.RiskClock{Now: s.cfg.Now().UTC(), MaxLifetime: s.cfg.MaxLifetime}
}

func (s *Server) statsSummary(c *gin.Context) {
	s.respondRead(c, http.StatusOK, func() (any, error) { return s.summary.get(s) })
}

// SummaryMaxAge is how long this node serves a computed summary again
// while its applied index has not moved: the expiry counts change with
// time alone, so it is computed again at least this often.
const SummaryMaxAge = 2 * time.Second

// summaryCache is this node's last summary, keyed by the applied index it
// was computed at. The overview polls the summary every 5 s in each open
// browser, and computing it reads every certificate inside the renewal
// horizon (about half a second at 100,000 certificates, docs/benchmarks.md):
// pollers between two writes share one computation, and those that arrive
// while it runs wait for it instead of starting their own. A write makes
// the next request compute again, so a client reads its own writes.
type summaryCache struct {
	mu    sync.Mutex // held while computing
	ok    bool
	index uint64    // the applied index read before computing
	at    time.Time // the clock it was computed at
	val   wire.StatsSummary
}

func (sc *summaryCache) get(s *Server) (wire.StatsSummary, error) {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	index, rc := s.state.AppliedIndex(), s.riskClock()
	if sc.ok && sc.index == index && !rc.Now.Before(sc.at) && rc.Now.Sub(sc.at) < SummaryMaxAge {
		return sc.val, nil
	}
	v, err := s.state.StatsSummary(rc)
	if err != nil {
		sc.ok = false
		return v, err
	}
	sc.ok, sc.index, sc.at, sc.val = true, index, rc.Now, v
	return v, nil
}

// daysQuery reads days (1..365, def when absent).
func daysQuery(c *gin.Context, def int) (int, bool) {
	v := c.Query("days")
	if v == "" {
		return def, true
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > 365 {
		fail(c, invalid("days", "days must be an integer from 1 to 365, not "+strconv.Quote(v)))
		return 0, false
	}
	return n, true
}

func (s *Server) expirationTimeline(c *gin.Context) {
	days, ok := daysQuery(c, 30)
	if !ok {
		return
	}
	size := map[string]time.Duration{"day": fsm.Day, "week": 7 * fsm.Day}
	bucket := c.DefaultQuery("bucket", "day")
	if _, ok := size[bucket]; !ok {
		fail(c, invalid("bucket", "bucket must be day or week, not "+strconv.Quote(bucket)))
		return
	}
	b, err := s.state.ExpirationTimeline(s.cfg.Now().UTC(), days, size[bucket])
	if err != nil {
		fail(c, err)
		return
	}
	c.JSON(http.StatusOK, wire.ExpirationTimeline{Buckets: b, Days: days, Bucket: bucket})
}

func (s *Server) certificatesByStatus(c *gin.Context) {
	counts, err := s.state.CertificatesByStatusCount()
	if err != nil {
		fail(c, err)
		return
	}
	out := wire.CertificatesByStatus{Data: []wire.StatusCount{}}
	for _, st := range fsm.CertificateStatuses {
		if n := counts[st]; n > 0 {
			out.Data = append(out.Data, wire.StatusCount{Status: string(st), Count: n})
			out.Total += n
		}
	}
	c.JSON(http.StatusOK, out)
}

func (s *Server) jobTrends(c *gin.Context) {
	days, ok := daysQuery(c, 30)
	if !ok {
		return
	}
	d, err := s.state.JobTrends(s.cfg.Now().UTC(), days)
	if err != nil {
		fail(c, err)
		return
	}
	c.JSON(http.StatusOK, wire.JobTrends{Days: days, Data: d})
}

func (s *Server) issuanceRate(c *gin.Context) {
	days, ok := daysQuery(c, 30)
	if !ok {
		return
	}
	d, err := s.state.IssuanceRate(s.cfg.Now().UTC(), days)
	if err != nil {
		fail(c, err)
		return
	}
	c.JSON(http.StatusOK, wire.IssuanceRate{Days: days, Data: d})
}

func (s *Server) attention(c *gin.Context) {
	s.respondRead(c, http.StatusOK, func() (any, error) { return s.state.Attention(s.cfg.Now().UTC(), attentionLimit) })
}

func (s *Server) retryNotification(c *gin.Context) {
	if s.propose(c, &fsm.RequeueNotification{ID: c.Param("id")}) {
		statusOK(c, http.StatusOK, "requeued")
	}
}
