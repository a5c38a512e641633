package wire

import (
	"encoding/json"
	"time"
)

// List is the envelope of every list answer.
type List[T any] struct {
	Data    []T `json:"data"`
	Total   int `json:"total"`
	Page    int `json:"page"`
	PerPage int `json:"per_page"`
}

// Error is the body of every error answer.
type Error struct {
	Error     string `json:"error"`
	Message   string `json:"message"`
	RequestID string `json:"request_id"`
	Field     string `json:"field,omitempty"`
	Code      string `json:"code,omitempty"`
}

// Status is the {"status": "..."} answer of health checks and actions.
type Status struct {
	Status string `json:"status"`
}

// Team is a group of people owning certificates.
type Team struct {
	ID          string    `json:"id"`
	Name        string    `json:"name"`
	Description string    `json:"description"`
	CreatedAt   time.Time `json:"created_at"`
	UpdatedAt   time.Time `json:"updated_at"`
}

// Owner is a person responsible for certificates.
type Owner struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	Email     string    `json:"email"`
	TeamID    string    `json:"team_id"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// RenewalPolicy says when a certificate renews and when alerts go out.
type RenewalPolicy struct {
	ID                   string        `json:"id"`
	Name                 string        `json:"name"`
	RenewalWindowDays    *int          `json:"renewal_window_days"`
	AutoRenew            bool          `json:"auto_renew"`
	MaxRetries           int           `json:"max_retries"`
	RetryIntervalMinutes int           `json:"retry_interval_minutes"`
	AlertThresholdsDays  []int         `json:"alert_thresholds_days"`
	Notify               []NotifyRoute `json:"notify,omitempty"`
	CreatedAt            time.Time     `json:"created_at"`
	UpdatedAt            time.Time     `json:"updated_at"`
}

// NotifyRoute is one channel a renewal policy's notifications go to: the
// listed types (all when empty) to the recipients (the owner's e-mail, or the
// channel's configured destination, when empty).
type NotifyRoute struct {
	Channel    Channel            `json:"channel"`
	Recipients []string           `json:"recipients,omitempty"`
	Types      []NotificationType `json:"types,omitempty"`
}

// Issuer is a configured certificate authority.
type Issuer struct {
	ID        string          `json:"id"`
	Name      string          `json:"name"`
	Type      IssuerType      `json:"type"`
	Config    json.RawMessage `json:"config"`
	Enabled   bool            `json:"enabled"`
	CreatedAt time.Time       `json:"created_at"`
	UpdatedAt time.Time       `json:"updated_at"`
	// SecretsCleared, in the answer to an update only, names the secret
	// fields of the config the update cleared: the issuer now points at
	// another CA (a destination field changed) or another type, and its
	// secrets were not given again. They are never carried there.
	SecretsCleared []string `json:"secrets_cleared,omitempty"`
}

// Agent is a certctl-agent. The key hash is never served.
type Agent struct {
	ID              string      `json:"id"`
	Name            string      `json:"name"`
	Hostname        string      `json:"hostname"`
	Status          AgentStatus `json:"status"`
	LastHeartbeatAt *time.Time  `json:"last_heartbeat_at,omitempty"`
	RegisteredAt    time.Time   `json:"registered_at"`
	Version         string      `json:"version,omitempty"`
	RetiredAt       *time.Time  `json:"retired_at,omitempty"`
	OS              string      `json:"os,omitempty"`
	Architecture    string      `json:"architecture,omitempty"`
	IPAddress       string      `json:"ip_address,omitempty"`
}

// Certificate is a managed certificate.
type Certificate struct {
	ID               string            `json:"id"`
	Name             string            `json:"name"`
	CommonName       string            `json:"common_name"`
	SANs             []string          `json:"sans"`
	Environment      string            `json:"environment"`
	OwnerID          string            `json:"owner_id"`
	TeamID           string            `json:"team_id"`
	IssuerID         string            `json:"issuer_id"`
	TargetIDs        []string          `json:"target_ids"`
	RenewalPolicyID  string            `json:"renewal_policy_id,omitempty"`
	Status           CertificateStatus `json:"status"`
	ExpiresAt        *time.Time        `json:"expires_at,omitempty"`
	Tags             map[string]string `json:"tags"`
	LastRenewalAt    *time.Time        `json:"last_renewal_at,omitempty"`
	LastDeploymentAt *time.Time        `json:"last_deployment_at,omitempty"`
	KeyGeneration    KeyGeneration     `json:"key_generation,omitempty"`
	KeyType          KeyType           `json:"key_type,omitempty"`
	StatusReason     string            `json:"status_reason,omitempty"`
	WeakKey          bool              `json:"weak_key,omitempty"`
	// RenewalInfo is the renewal window the CA last suggested (ACME
	// Renewal Information, RFC 9773); absent when its CA serves none.
	RenewalInfo *RenewalInfo `json:"renewal_info,omitempty"`
	CreatedAt   time.Time    `json:"created_at"`
	UpdatedAt   time.Time    `json:"updated_at"`
}

// RenewalInfo is a CA's suggested renewal window for one issued
// certificate (RFC 9773 §4.2), as fetched by the scheduler: it governs the
// renewal of the certificate expiring at ExpiresAt only.
type RenewalInfo struct {
	WindowStart    time.Time `json:"window_start"`
	WindowEnd      time.Time `json:"window_end"`
	ExplanationURL string    `json:"explanation_url,omitempty"`
	// RetryAfter is the earliest time to ask the CA again (its Retry-After).
	RetryAfter time.Time `json:"retry_after"`
	FetchedAt  time.Time `json:"fetched_at"`
	// ExpiresAt is the expiry of the certificate the window is for.
	ExpiresAt time.Time `json:"expires_at"`
}

// CertificateVersion is one issued certificate of a managed certificate.
type CertificateVersion struct {
	ID                 string    `json:"id"`
	CertificateID      string    `json:"certificate_id"`
	SerialNumber       string    `json:"serial_number"`
	NotBefore          time.Time `json:"not_before"`
	NotAfter           time.Time `json:"not_after"`
	FingerprintSHA256  string    `json:"fingerprint_sha256"`
	PEMChain           string    `json:"pem_chain"`
	CSRPEM             string    `json:"csr_pem"`
	CreatedAt          time.Time `json:"created_at"`
	KeyAlgorithm       string    `json:"key_algorithm,omitempty"`
	SignatureAlgorithm string    `json:"signature_algorithm,omitempty"`
	WeakKey            bool      `json:"weak_key,omitempty"`
}

// Target is a deployment target served by an agent.
type Target struct {
	ID        string          `json:"id"`
	Name      string          `json:"name"`
	Type      TargetType      `json:"type"`
	AgentID   string          `json:"agent_id"`
	Config    json.RawMessage `json:"config"`
	Enabled   bool            `json:"enabled"`
	CreatedAt time.Time       `json:"created_at"`
	UpdatedAt time.Time       `json:"updated_at"`
	// SecretsCleared, in the answer to an update only, names the secret
	// fields of the config (an F5 password, an IIS winrm_password) the
	// update cleared: the target moved to another agent, type or
	// destination (host, port, the roots that authenticate it) without
	// them being given again. They are never carried there; a job then
	// fails asking for them until they are.
	SecretsCleared []string `json:"secrets_cleared,omitempty"`
}

// Job is a unit of lifecycle work.
type Job struct {
	ID               string          `json:"id"`
	Type             JobType         `json:"type"`
	CertificateID    string          `json:"certificate_id"`
	TargetID         string          `json:"target_id,omitempty"`
	AgentID          string          `json:"agent_id,omitempty"`
	Status           JobStatus       `json:"status"`
	Attempts         int             `json:"attempts"`
	MaxAttempts      int             `json:"max_attempts"`
	LastError        string          `json:"last_error,omitempty"`
	DeploymentResult json.RawMessage `json:"deployment_result,omitempty"`
	ScheduledAt      time.Time       `json:"scheduled_at"`
	StartedAt        *time.Time      `json:"started_at,omitempty"`
	CompletedAt      *time.Time      `json:"completed_at,omitempty"`
	CreatedAt        time.Time       `json:"created_at"`
	LeaseHolder      string          `json:"lease_holder,omitempty"`
	LeaseExpiresAt   *time.Time      `json:"lease_expires_at,omitempty"`
}

// PolicyRule is a compliance rule.
type PolicyRule struct {
	ID        string          `json:"id"`
	Name      string          `json:"name"`
	Type      PolicyRuleType  `json:"type"`
	Config    json.RawMessage `json:"config"`
	Enabled   bool            `json:"enabled"`
	Severity  Severity        `json:"severity,omitempty"`
	CreatedAt time.Time       `json:"created_at"`
	UpdatedAt time.Time       `json:"updated_at"`
}

// PolicyViolation records that a certificate broke a rule.
type PolicyViolation struct {
	ID            string    `json:"id"`
	CertificateID string    `json:"certificate_id"`
	RuleID        string    `json:"rule_id"`
	Message       string    `json:"message"`
	Severity      Severity  `json:"severity"`
	CreatedAt     time.Time `json:"created_at"`
}

// AuditEvent is an append-only, hash-chained record of a change.
type AuditEvent struct {
	ID           string          `json:"id"`
	Actor        string          `json:"actor"`
	ActorType    ActorType       `json:"actor_type"`
	ActorRole    string          `json:"actor_role,omitempty"`
	Action       string          `json:"action"`
	ResourceType string          `json:"resource_type"`
	ResourceID   string          `json:"resource_id"`
	Details      json.RawMessage `json:"details"`
	Timestamp    time.Time       `json:"timestamp"`
	Seq          uint64          `json:"seq"`
	RaftIndex    uint64          `json:"raft_index"`
	Via          string          `json:"via,omitempty"`      // the node that vouched for the actor of a forwarded write
	Imported     *AuditImport    `json:"imported,omitempty"` // set on an event imported from another system's history
	Chain        string          `json:"chain,omitempty"`
	PrevHash     string          `json:"prev_hash"`
	Hash         string          `json:"hash"`
}

// AuditImport says where an imported audit event came from: the source its
// import's marker event names, and the event's id there.
type AuditImport struct {
	Source string `json:"source"`
	ID     string `json:"id"`
}

// Notification is an alert or event to send.
type Notification struct {
	ID            string             `json:"id"`
	Type          NotificationType   `json:"type"`
	CertificateID string             `json:"certificate_id,omitempty"`
	Channel       Channel            `json:"channel"`
	Recipient     string             `json:"recipient"`
	Message       string             `json:"message"`
	SentAt        *time.Time         `json:"sent_at,omitempty"`
	Status        NotificationStatus `json:"status"`
	Error         string             `json:"error,omitempty"`
	CreatedAt     time.Time          `json:"created_at"`
	Attempts      int                `json:"attempts"`
	NextAttemptAt *time.Time         `json:"next_attempt_at,omitempty"`
	DedupKey      string             `json:"dedup_key,omitempty"`
	Requeues      int                `json:"requeues,omitempty"`
}

// IssuerCA is the answer of GET /api/v1/issuers/{id}/ca: what the dashboard
// shows of an issuer's own CA, read from the CA chain and the CRL the node
// serves at /.well-known/pki. HasMaterial is false for an issuer that has
// not made its CA yet (it does on its first issuance or test) and for one
// whose CA is elsewhere (ACME, Vault, step-ca): the other fields are then
// null. A field is also null when the issuer does not publish that part
// (a chain, a CRL). No key is ever part of it.
type IssuerCA struct {
	IssuerID      string     `json:"issuer_id"`
	HasMaterial   bool       `json:"has_material"`
	CANotAfter    *time.Time `json:"ca_not_after"`   // the issuing CA (first of the chain)
	RootNotAfter  *time.Time `json:"root_not_after"` // the root (last of the chain)
	CRLThisUpdate *time.Time `json:"crl_this_update"`
	CRLNextUpdate *time.Time `json:"crl_next_update"`
	RevokedCount  *int       `json:"revoked_count"` // serials on the CRL
}
