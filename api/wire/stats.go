package wire

import "time"

// StatsSummary is the answer of GET /api/v1/stats/summary: the original
// certctl's five cards, then the overview's counts (definitions in
// docs/api.md and fsm.Risk).
type StatsSummary struct {
	TotalCertificates    int `json:"total_certificates"`
	ExpiringCertificates int `json:"expiring_certificates"` // within 30 days
	ExpiredCertificates  int `json:"expired_certificates"`
	ActiveAgents         int `json:"active_agents"`
	PendingJobs          int `json:"pending_jobs"`

	Certificates  CertificateStats  `json:"certificates"`
	Agents        AgentStats        `json:"agents"`
	Jobs          JobStats          `json:"jobs"`
	Notifications NotificationStats `json:"notifications"`
	GeneratedAt   time.Time         `json:"generated_at"`
}

// CertificateStats counts certificates; Total leaves out Archived ones.
type CertificateStats struct {
	Total          int            `json:"total"`
	Expiring30d    int            `json:"expiring_30d"`
	Expiring7d     int            `json:"expiring_7d"`
	Expired        int            `json:"expired"`
	RenewalOverdue int            `json:"renewal_overdue"`
	RenewalFailed  int            `json:"renewal_failed"`
	Revoked        int            `json:"revoked"`
	WeakKeys       int            `json:"weak_keys"`
	ByStatus       map[string]int `json:"by_status"`
}

// AgentStats counts the agents not retired.
type AgentStats struct {
	Total     int            `json:"total"`
	ByStatus  map[string]int `json:"by_status"`
	ByVersion map[string]int `json:"by_version"` // "" for an agent that reported none
	ByOS      map[string]int `json:"by_os"`
}

// JobStats counts jobs: every job by status, the unfinished ones by type.
type JobStats struct {
	ByStatus map[string]int `json:"by_status"`
	ByType   map[string]int `json:"by_type"`
}

// NotificationStats counts notifications by delivery state: Failed ones
// will be retried, Dead ones will not (their attempts are spent).
type NotificationStats struct {
	Failed  int `json:"failed"`
	Dead    int `json:"dead"`
	Pending int `json:"pending"`
}

// ExpirationTimeline is the answer of GET /api/v1/stats/expiration-timeline.
type ExpirationTimeline struct {
	Buckets []ExpirationBucket `json:"buckets"`
	Days    int                `json:"days"`
	Bucket  string             `json:"bucket"` // day or week
}

// ExpirationBucket counts the certificates (not Archived or Revoked)
// expiring in (Start, End].
type ExpirationBucket struct {
	Start time.Time `json:"start"`
	End   time.Time `json:"end"`
	Count int       `json:"count"`
}

// StatusCount is one status and its number of certificates.
type StatusCount struct {
	Status string `json:"status"`
	Count  int    `json:"count"`
}

// CertificatesByStatus is the answer of GET /api/v1/stats/certificates-by-status.
type CertificatesByStatus struct {
	Data  []StatusCount `json:"data"`
	Total int           `json:"total"` // every status, Archived included
}

// JobTrendDay counts the jobs finished on one UTC day.
type JobTrendDay struct {
	Date      string                    `json:"date"` // 2006-01-02
	Completed int                       `json:"completed"`
	Failed    int                       `json:"failed"`
	ByType    map[string]JobTrendCounts `json:"by_type"`
}

// JobTrendCounts are one job type's finished jobs of a day.
type JobTrendCounts struct {
	Completed int `json:"completed"`
	Failed    int `json:"failed"`
}

// JobTrends is the answer of GET /api/v1/stats/job-trends.
type JobTrends struct {
	Days int           `json:"days"`
	Data []JobTrendDay `json:"data"`
}

// IssuanceDay counts the certificate versions recorded on one UTC day.
type IssuanceDay struct {
	Date  string `json:"date"`
	Count int    `json:"count"`
}

// IssuanceRate is the answer of GET /api/v1/stats/issuance-rate.
type IssuanceRate struct {
	Days int           `json:"days"`
	Data []IssuanceDay `json:"data"`
}

// AttentionItem is one problem of the needs-attention queue.
type AttentionItem struct {
	Kind           string     `json:"kind"`
	Severity       string     `json:"severity"` // critical, error or warning
	Title          string     `json:"title"`
	Detail         string     `json:"detail"`
	Since          *time.Time `json:"since"`
	CertificateID  string     `json:"certificate_id"`
	JobID          string     `json:"job_id"`
	AgentID        string     `json:"agent_id"`
	NotificationID string     `json:"notification_id"`
	Retry          *Retry     `json:"retry"`
}

// Retry is the request that retries what an attention item reports.
type Retry struct {
	Method string         `json:"method"`
	Path   string         `json:"path"`
	Body   map[string]any `json:"body"`
}

// Attention is the answer of GET /api/v1/stats/attention: the newest
// problems first, at most a cap of them, and how many there are.
type Attention struct {
	Items []AttentionItem `json:"items"`
	Total int             `json:"total"`
}

// The kinds of attention item.
const (
	AttentionRenewalFailed    = "renewal_failed"
	AttentionDeploymentFailed = "deployment_failed"
	AttentionAwaitingCSR      = "awaiting_csr"
	AttentionAwaitingAgent    = "awaiting_agent"
	AttentionNotificationDead = "notification_dead"
	AttentionAgentOffline     = "agent_offline"
)

// BulkRequest is the body of POST /api/v1/certificates/bulk-renew and
// bulk-revoke: the certificates named, or those matching every criterion
// given (owner, team, issuer, agent). Reason is bulk-revoke's.
type BulkRequest struct {
	CertificateIDs []string `json:"certificate_ids"`
	OwnerID        string   `json:"owner_id"`
	TeamID         string   `json:"team_id"`
	IssuerID       string   `json:"issuer_id"`
	AgentID        string   `json:"agent_id"`
	Reason         string   `json:"reason,omitempty"`
}

// BulkJob names the job a bulk renew started (or found open) for a certificate.
type BulkJob struct {
	CertificateID string `json:"certificate_id"`
	JobID         string `json:"job_id"`
}

// BulkError is why one certificate of a bulk action was not acted on.
type BulkError struct {
	CertificateID string `json:"certificate_id"`
	Error         string `json:"error"`
}

// BulkRenewResult is the answer of POST /api/v1/certificates/bulk-renew.
type BulkRenewResult struct {
	TotalMatched  int         `json:"total_matched"`
	TotalEnqueued int         `json:"total_enqueued"`
	TotalSkipped  int         `json:"total_skipped"`
	TotalFailed   int         `json:"total_failed"`
	Jobs          []BulkJob   `json:"jobs"`
	Errors        []BulkError `json:"errors"`
}

// BulkRevokeResult is the answer of POST /api/v1/certificates/bulk-revoke.
type BulkRevokeResult struct {
	TotalMatched int         `json:"total_matched"`
	TotalRevoked int         `json:"total_revoked"`
	TotalSkipped int         `json:"total_skipped"`
	TotalFailed  int         `json:"total_failed"`
	Errors       []BulkError `json:"errors"`
}
