package api

import (
	"strconv"
	"time"

	"github.com/certctl/certctl/fsm"
	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// metrics are the API's Prometheus metrics: requests by route and code, and,
// read at scrape time, raft's state and the certificate inventory.
type metrics struct {
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
	handler  gin.HandlerFunc
}

func newMetrics(reg prometheus.Registerer, gather prometheus.Gatherer, state State, cluster Cluster, snapshots SnapshotSchedule, now func() time.Time) *metrics {
	if reg == nil {
		r := prometheus.NewRegistry()
		r.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
		reg, gather = r, r
	}
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "certctl_http_requests_total", Help: "HTTP requests by route, method and status code.",
		}, []string{"route", "method", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "certctl_http_request_duration_seconds", Help: "HTTP request latency by route and method.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"route", "method"}),
	}
	reg.MustRegister(m.requests, m.latency, &stateCollector{state: state, cluster: cluster, now: now}, &snapshotCollector{schedule: snapshots})
	h := promhttp.HandlerFor(gather, promhttp.HandlerOpts{})
	m.handler = gin.WrapH(h)
	return m
}

func (m *metrics) middleware() gin.HandlerFunc {
	return func(c *gin.Context) {
		start := time.Now()
		c.Next()
		route := c.FullPath()
		if route == "" {
			route = "unmatched"
		}
		m.requests.WithLabelValues(route, c.Request.Method, strconv.Itoa(c.Writer.Status())).Inc()
		m.latency.WithLabelValues(route, c.Request.Method).Observe(time.Since(start).Seconds())
	}
}

var (
	descRaftState   = prometheus.NewDesc("certctl_raft_state", "1 for this node's current raft state.", []string{"state"}, nil)
	descRaftTerm    = prometheus.NewDesc("certctl_raft_term", "This node's raft term.", nil, nil)
	descRaftCommit  = prometheus.NewDesc("certctl_raft_commit_index", "This node's raft commit index.", nil, nil)
	descRaftApplied = prometheus.NewDesc("certctl_raft_applied_index", "The last raft index applied to this node's state.", nil, nil)
	descRaftLeader  = prometheus.NewDesc("certctl_raft_leader", "1 if this node is the leader.", nil, nil)
	descRaftStalled = prometheus.NewDesc("certctl_raft_replication_stalled",
		"1 while the stall check sees replication stuck: on the leader, a follower that answers but whose log does not advance; on a follower, the leader's heartbeats arriving without its entries.", nil, nil)
	descRaftStalledFollower = prometheus.NewDesc("certctl_raft_follower_stalled",
		"On the leader, 1 for each follower whose replication has stalled.", []string{"follower"}, nil)
	descRaftStalls   = prometheus.NewDesc("certctl_raft_replication_stalls_total", "Replication stalls this node has seen since it started.", nil, nil)
	descCertificates = prometheus.NewDesc("certctl_certificates", "Managed certificates by status.", []string{"status"}, nil)
	descNearest      = prometheus.NewDesc("certctl_certificate_nearest_expiry_days", "Days until the soonest expiry among certificates not archived or revoked (negative when expired).", nil, nil)
	descJobs         = prometheus.NewDesc("certctl_jobs", "Jobs by status and type.", []string{"status", "type"}, nil)
	descAgents       = prometheus.NewDesc("certctl_agents", "Agents not retired, by status and reported version.", []string{"status", "version"}, nil)
	descNotes        = prometheus.NewDesc("certctl_notifications", "Notifications by delivery status.", []string{"status"}, nil)
	descNotesDead    = prometheus.NewDesc("certctl_notifications_dead", "Notifications whose delivery attempts are spent: never retried unless an operator retries them.", nil, nil)
	descExpiration   = prometheus.NewDesc("certctl_certificate_expiration_timestamp_seconds",
		"When each certificate not archived expires (Unix time), as cert-manager's certmanager_certificate_expiration_timestamp_seconds.",
		[]string{"id", "name", "common_name", "issuer_id"}, nil)
)

// stateCollector reads raft and the inventory at scrape time: the counts are
// kept by the state machine, so a scrape costs no scan.
type stateCollector struct {
	state   State
	cluster Cluster
	now     func() time.Time
}

func (c *stateCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descRaftState, descRaftTerm, descRaftCommit, descRaftApplied, descRaftLeader, descRaftStalled, descRaftStalledFollower, descRaftStalls, descCertificates, descNearest,
		descJobs, descAgents, descNotes, descNotesDead, descExpiration} {
		ch <- d
	}
}

func (c *stateCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.cluster.Stats()
	for _, s := range []string{"Follower", "Candidate", "Leader", "Shutdown"} {
		v := 0.0
		if st.State == s {
			v = 1
		}
		ch <- prometheus.MustNewConstMetric(descRaftState, prometheus.GaugeValue, v, s)
	}
	leader := 0.0
	if st.State == "Leader" {
		leader = 1
	}
	ch <- prometheus.MustNewConstMetric(descRaftLeader, prometheus.GaugeValue, leader)
	ch <- prometheus.MustNewConstMetric(descRaftTerm, prometheus.GaugeValue, float64(st.Term))
	ch <- prometheus.MustNewConstMetric(descRaftCommit, prometheus.GaugeValue, float64(st.CommitIndex))
	ch <- prometheus.MustNewConstMetric(descRaftApplied, prometheus.GaugeValue, float64(st.AppliedIndex))
	stalled := 0.0
	if st.ReplicationStalled {
		stalled = 1
	}
	ch <- prometheus.MustNewConstMetric(descRaftStalled, prometheus.GaugeValue, stalled)
	for _, f := range st.StalledFollowers {
		ch <- prometheus.MustNewConstMetric(descRaftStalledFollower, prometheus.GaugeValue, 1, f)
	}
	ch <- prometheus.MustNewConstMetric(descRaftStalls, prometheus.CounterValue, float64(st.ReplicationStalls))
	if counts, err := c.state.CertificatesByStatusCount(); err == nil {
		for _, s := range fsm.CertificateStatuses {
			ch <- prometheus.MustNewConstMetric(descCertificates, prometheus.GaugeValue, float64(counts[s]), string(s))
		}
	}
	var nearest *time.Time
	_ = c.state.CertificatesExpiringBefore(c.now().AddDate(1000, 0, 0), func(cert *fsm.Certificate) bool {
		if cert.Status == fsm.CertRevoked {
			return true
		}
		nearest = cert.ExpiresAt
		return false
	})
	if nearest != nil {
		ch <- prometheus.MustNewConstMetric(descNearest, prometheus.GaugeValue, nearest.Sub(c.now()).Hours()/24)
	}
	c.collectWork(ch)
}

// collectWork reports jobs, agents and notifications (counters, and the
// agents' records) and each certificate's expiry (every record with one:
// the one part of a scrape that grows with the inventory, as cert-manager's
// does).
func (c *stateCollector) collectWork(ch chan<- prometheus.Metric) {
	if jobs, err := c.state.JobCounts(); err == nil {
		for _, st := range fsm.JobStatuses {
			for _, typ := range fsm.JobTypes {
				ch <- prometheus.MustNewConstMetric(descJobs, prometheus.GaugeValue, float64(jobs[st][typ]), string(st), string(typ))
			}
		}
	}
	if agents, err := c.state.AgentCounts(); err == nil {
		for _, a := range agents {
			ch <- prometheus.MustNewConstMetric(descAgents, prometheus.GaugeValue, float64(a.N), string(a.Status), a.Version)
		}
	}
	if notes, err := c.state.NotificationCounts(); err == nil {
		for _, st := range fsm.NotificationStatus {
			ch <- prometheus.MustNewConstMetric(descNotes, prometheus.GaugeValue, float64(notes[st]), string(st))
		}
		ch <- prometheus.MustNewConstMetric(descNotesDead, prometheus.GaugeValue, float64(notes[fsm.NotifyDead]))
	}
	_ = c.state.CertificatesExpiringBefore(c.now().AddDate(1000, 0, 0), func(cert *fsm.Certificate) bool {
		ch <- prometheus.MustNewConstMetric(descExpiration, prometheus.GaugeValue, float64(cert.ExpiresAt.Unix()),
			cert.ID, cert.Name, cert.CommonName, cert.IssuerID)
		return true
	})
}

var (
	descSnapshotSuccess = prometheus.NewDesc("certctl_snapshot_last_success_timestamp_seconds",
		"When this node last wrote a scheduled snapshot (Unix time; 0 before the first).", nil, nil)
	descSnapshotFailure = prometheus.NewDesc("certctl_snapshot_last_failure_timestamp_seconds",
		"When a scheduled snapshot on this node last failed (Unix time; 0 if none has).", nil, nil)
	descSnapshotFailures = prometheus.NewDesc("certctl_snapshot_failures_total",
		"Scheduled snapshots that failed on this node since it started.", nil, nil)
)

// snapshotCollector reads the scheduled snapshots' status at scrape time;
// it reports nothing when scheduled snapshots are off.
type snapshotCollector struct {
	schedule SnapshotSchedule
}

func (c *snapshotCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- descSnapshotSuccess
	ch <- descSnapshotFailure
	ch <- descSnapshotFailures
}

func (c *snapshotCollector) Collect(ch chan<- prometheus.Metric) {
	if c.schedule == nil {
		return
	}
	st := c.schedule.Status()
	unix := func(t *time.Time) float64 {
		if t == nil {
			return 0
		}
		return float64(t.UnixNano()) / 1e9
	}
	ch <- prometheus.MustNewConstMetric(descSnapshotSuccess, prometheus.GaugeValue, unix(st.LastSuccessAt))
	ch <- prometheus.MustNewConstMetric(descSnapshotFailure, prometheus.GaugeValue, unix(st.LastFailureAt))
	ch <- prometheus.MustNewConstMetric(descSnapshotFailures, prometheus.CounterValue, float64(st.Failures))
}
