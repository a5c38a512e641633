package fsm

import (
	"encoding/json"
	"time"

	"github.com/certctl/certctl/api/wire"
)

// The domain types below are the fourteen tables of the original certctl, with
// its JSON field names. Optional timestamps are pointers so that an unset value
// is omitted on the wire, as the original did. Fields marked "ours" are additions.

// Team is a group of people owning certificates.
type Team struct {
	ID          string    `json:"id"`
	Name        string    `json:"name"`
	Description string    `json:"description"`
	CreatedAt   time.Time `json:"created_at"`
	UpdatedAt   time.Time `json:"updated_at"`
}

// Owner is a person responsible for certificates; alerts fall back to Email.
type Owner struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	Email     string    `json:"email"`
	TeamID    string    `json:"team_id"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// RenewalPolicy says when and how a certificate renews and when alerts go out.
// A nil RenewalWindowDays means "renew with a third of the lifetime left".
type RenewalPolicy struct {
	ID                   string `json:"id"`
	Name                 string `json:"name"`
	RenewalWindowDays    *int   `json:"renewal_window_days"`
	AutoRenew            bool   `json:"auto_renew"`
	MaxRetries           int    `json:"max_retries"`
	RetryIntervalMinutes int    `json:"retry_interval_minutes"`
	AlertThresholdsDays  []int  `json:"alert_thresholds_days"`
	// Notify routes the notifications of this policy's certificates (ours):
	// each route sends the listed types (all when empty) to its channel and
	// recipients. A type no route lists goes to the owner's e-mail.
	Notify    []NotifyRoute `json:"notify,omitempty"`
	CreatedAt time.Time     `json:"created_at"`
	UpdatedAt time.Time     `json:"updated_at"`
}

// NotifyRoute is one channel a renewal policy's notifications go to.
// Recipients empty means the certificate owner's e-mail (for Email) or the
// channel's configured destination (webhooks).
type NotifyRoute struct {
	Channel    wire.Channel            `json:"channel"`
	Recipients []string                `json:"recipients,omitempty"`
	Types      []wire.NotificationType `json:"types,omitempty"`
}

// Issuer is a configured certificate authority connector.
type Issuer struct {
	ID        string          `json:"id"`
	Name      string          `json:"name"`
	Type      wire.IssuerType `json:"type"`
	Config    json.RawMessage `json:"config"`
	Enabled   bool            `json:"enabled"`
	CreatedAt time.Time       `json:"created_at"`
	UpdatedAt time.Time       `json:"updated_at"`
}

// Agent is a certctl-agent process on a host. APIKeyHash is the SHA-256 of the
// agent's key; it is stored for export parity and never served by the API.
type Agent struct {
	ID              string           `json:"id"`
	Name            string           `json:"name"`
	Hostname        string           `json:"hostname"`
	Status          wire.AgentStatus `json:"status"`
	LastHeartbeatAt *time.Time       `json:"last_heartbeat_at,omitempty"`
	RegisteredAt    time.Time        `json:"registered_at"`
	APIKeyHash      string           `json:"api_key_hash,omitempty"`
	Version         string           `json:"version,omitempty"`    // ours: reported in heartbeats
	RetiredAt       *time.Time       `json:"retired_at,omitempty"` // ours: a retired agent gets 410
	// OS, Architecture and IPAddress are what the agent last reported in a
	// heartbeat (ours; the original agent sends them).
	OS           string `json:"os,omitempty"`
	Architecture string `json:"architecture,omitempty"`
	IPAddress    string `json:"ip_address,omitempty"`
}

// Certificate is a managed certificate (table managed_certificates). TargetIDs
// is not stored in the record: queries fill it from certificate_target_mappings.
type Certificate struct {
	ID               string                 `json:"id"`
	Name             string                 `json:"name"`
	CommonName       string                 `json:"common_name"`
	SANs             []string               `json:"sans"`
	Environment      string                 `json:"environment"`
	OwnerID          string                 `json:"owner_id"`
	TeamID           string                 `json:"team_id"`
	IssuerID         string                 `json:"issuer_id"`
	TargetIDs        []string               `json:"target_ids"`
	RenewalPolicyID  string                 `json:"renewal_policy_id,omitempty"`
	Status           wire.CertificateStatus `json:"status"`
	ExpiresAt        *time.Time             `json:"expires_at,omitempty"`
	Tags             map[string]string      `json:"tags"`
	LastRenewalAt    *time.Time             `json:"last_renewal_at,omitempty"`
	LastDeploymentAt *time.Time             `json:"last_deployment_at,omitempty"`
	KeyGeneration    wire.KeyGeneration     `json:"key_generation,omitempty"` // ours: "agent" (default) or "server"
	KeyType          wire.KeyType           `json:"key_type,omitempty"`       // ours: KeyTypes; empty means ECDSA-P256
	StatusReason     string                 `json:"status_reason,omitempty"`  // ours: why Failed or Revoked
	// WeakKey is the current version's WeakKey (ours), set by RecordVersion.
	WeakKey bool `json:"weak_key,omitempty"`
	// RenewalInfo is the CA's suggested renewal window (ours, RFC 9773),
	// set by SetRenewalInfo; it governs only while RenewalInfoValid.
	RenewalInfo *wire.RenewalInfo `json:"renewal_info,omitempty"`
	CreatedAt   time.Time         `json:"created_at"`
	UpdatedAt   time.Time         `json:"updated_at"`
}

// Target is a deployment target (table deployment_targets), served by an agent.
type Target struct {
	ID        string          `json:"id"`
	Name      string          `json:"name"`
	Type      wire.TargetType `json:"type"`
	AgentID   string          `json:"agent_id"`
	Config    json.RawMessage `json:"config"`
	Enabled   bool            `json:"enabled"`
	CreatedAt time.Time       `json:"created_at"`
	UpdatedAt time.Time       `json:"updated_at"`
}

// TargetMapping links a certificate to a target it is deployed to.
type TargetMapping struct {
	CertificateID string `json:"certificate_id"`
	TargetID      string `json:"target_id"`
}

// CertificateVersion is one issued certificate of a managed certificate.
type CertificateVersion struct {
	ID                string    `json:"id"`
	CertificateID     string    `json:"certificate_id"`
	SerialNumber      string    `json:"serial_number"`
	NotBefore         time.Time `json:"not_before"`
	NotAfter          time.Time `json:"not_after"`
	FingerprintSHA256 string    `json:"fingerprint_sha256"`
	PEMChain          string    `json:"pem_chain"`
	CSRPEM            string    `json:"csr_pem"`
	CreatedAt         time.Time `json:"created_at"`
	// KeyAlgorithm ("RSA-2048", "ECDSA-P256", "Ed25519"), SignatureAlgorithm
	// (x509's name, "SHA256-RSA") and WeakKey describe the leaf of PEMChain
	// (ours). The proposer fills them with DescribeKey when it records the
	// version, so that no reader parses a PEM to know them.
	KeyAlgorithm       string `json:"key_algorithm,omitempty"`
	SignatureAlgorithm string `json:"signature_algorithm,omitempty"`
	WeakKey            bool   `json:"weak_key,omitempty"`
}

// Job is a unit of lifecycle work. A job being worked on holds a lease
// (LeaseHolder until LeaseExpiresAt) taken through Raft.
type Job struct {
	ID               string          `json:"id"`
	Type             wire.JobType    `json:"type"`
	CertificateID    string          `json:"certificate_id"`
	TargetID         string          `json:"target_id,omitempty"`
	AgentID          string          `json:"agent_id,omitempty"`
	Status           wire.JobStatus  `json:"status"`
	Attempts         int             `json:"attempts"`
	MaxAttempts      int             `json:"max_attempts"`
	LastError        string          `json:"last_error,omitempty"`
	DeploymentResult json.RawMessage `json:"deployment_result,omitempty"`
	ScheduledAt      time.Time       `json:"scheduled_at"`
	StartedAt        *time.Time      `json:"started_at,omitempty"`
	CompletedAt      *time.Time      `json:"completed_at,omitempty"`
	CreatedAt        time.Time       `json:"created_at"`
	LeaseHolder      string          `json:"lease_holder,omitempty"`     // ours
	LeaseExpiresAt   *time.Time      `json:"lease_expires_at,omitempty"` // ours
}

// PolicyRule is a compliance rule evaluated against certificates.
type PolicyRule struct {
	ID        string              `json:"id"`
	Name      string              `json:"name"`
	Type      wire.PolicyRuleType `json:"type"`
	Config    json.RawMessage     `json:"config"`
	Enabled   bool                `json:"enabled"`
	Severity  wire.Severity       `json:"severity,omitempty"` // ours: severity of the violations it produces
	CreatedAt time.Time           `json:"created_at"`
	UpdatedAt time.Time           `json:"updated_at"`
}

// PolicyViolation records that a certificate broke a rule.
type PolicyViolation struct {
	ID            string        `json:"id"`
	CertificateID string        `json:"certificate_id"`
	RuleID        string        `json:"rule_id"`
	Message       string        `json:"message"`
	Severity      wire.Severity `json:"severity"`
	CreatedAt     time.Time     `json:"created_at"`
}

// AuditEvent is an append-only record of a change. PrevHash and Hash chain the
// events: Hash is the HMAC-SHA256, under the cluster's audit key, of PrevHash
// and the event's other fields (a plain SHA-256 when Chain is empty).
type AuditEvent struct {
	ID           string          `json:"id"`
	Actor        string          `json:"actor"`
	ActorType    wire.ActorType  `json:"actor_type"`
	ActorRole    string          `json:"actor_role,omitempty"` // ours: the acting key's role
	Action       string          `json:"action"`
	ResourceType string          `json:"resource_type"`
	ResourceID   string          `json:"resource_id"`
	Details      json.RawMessage `json:"details"`
	Timestamp    time.Time       `json:"timestamp"`
	Seq          uint64          `json:"seq"`        // ours: position in the chain, from 1
	RaftIndex    uint64          `json:"raft_index"` // ours: the log entry that wrote it
	// Via is the node that authenticated the actor, when the write reached
	// the leader through another node (ours).
	Via string `json:"via,omitempty"`
	// Imported marks an event read from another system's history (ours):
	// where it came from and its id there. Its Actor, Action, Resource and
	// Timestamp are the source's; Seq, RaftIndex and the link are ours.
	Imported *AuditImport `json:"imported,omitempty"`
	// Chain names how Hash was made (ours): ChainHMAC for a keyed link,
	// empty for a plain SHA-256 link written before links were keyed or by
	// an FSM without an audit key. It is inside what the link covers.
	Chain    string `json:"chain,omitempty"`
	PrevHash string `json:"prev_hash"` // ours
	Hash     string `json:"hash"`      // ours: always the last field (see sealAudit)
}

// AuditImport says where an imported audit event came from.
type AuditImport struct {
	Source string `json:"source"` // the source named by the import's marker event
	ID     string `json:"id"`     // the event's id in the source
}

// Notification is an alert or event to send (table notification_events).
type Notification struct {
	ID            string                  `json:"id"`
	Type          wire.NotificationType   `json:"type"`
	CertificateID string                  `json:"certificate_id,omitempty"`
	Channel       wire.Channel            `json:"channel"`
	Recipient     string                  `json:"recipient"`
	Message       string                  `json:"message"`
	SentAt        *time.Time              `json:"sent_at,omitempty"`
	Status        wire.NotificationStatus `json:"status"`
	Error         string                  `json:"error,omitempty"`
	CreatedAt     time.Time               `json:"created_at"`
	Attempts      int                     `json:"attempts"`                  // ours
	NextAttemptAt *time.Time              `json:"next_attempt_at,omitempty"` // ours
	DedupKey      string                  `json:"dedup_key,omitempty"`       // ours: e.g. "mc-x/threshold/14"
	// Requeues counts the operator's retries (RequeueNotification, ours):
	// attempts restart from 0 after each, so a delivery's request id names
	// both.
	Requeues int `json:"requeues,omitempty"`
}

// Member is a node of the cluster as recorded through Raft, so that every node
// knows every other node's API address (Raft itself knows only Raft addresses).
type Member struct {
	NodeID   string    `json:"node_id"`
	RaftAddr string    `json:"raft_addr"`
	APIAddr  string    `json:"api_addr"`
	JoinedAt time.Time `json:"joined_at"`
	// CertSerials are the serials (hex) of the node certificates issued to
	// this node, newest first, at most maxNodeCerts; removing the member
	// revokes every one of them.
	CertSerials []string `json:"cert_serials,omitempty"`
	// CertNotAfter is when the newest of them expires.
	CertNotAfter *time.Time `json:"cert_not_after,omitempty"`
}
