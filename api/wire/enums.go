package wire

// The closed sets of the wire format, spelled as the original spelled them
// (notification statuses in lower case, as the original stored them). Each is
// a string type, so its JSON is the plain string; a decoded value may still
// be outside the set (or in another case) until the server validates it.

// CertificateStatus is the lifecycle status of a managed certificate.
type CertificateStatus string

const (
	CertificatePending           CertificateStatus = "Pending"
	CertificateActive            CertificateStatus = "Active"
	CertificateExpiring          CertificateStatus = "Expiring"
	CertificateExpired           CertificateStatus = "Expired"
	CertificateRenewalInProgress CertificateStatus = "RenewalInProgress"
	CertificateFailed            CertificateStatus = "Failed"
	CertificateRevoked           CertificateStatus = "Revoked"
	CertificateArchived          CertificateStatus = "Archived"
)

// CertificateStatuses lists every CertificateStatus.
func CertificateStatuses() []CertificateStatus {
	return []CertificateStatus{CertificatePending, CertificateActive, CertificateExpiring, CertificateExpired,
		CertificateRenewalInProgress, CertificateFailed, CertificateRevoked, CertificateArchived}
}

// JobType is what a job does.
type JobType string

const (
	JobIssuance   JobType = "Issuance"
	JobRenewal    JobType = "Renewal"
	JobDeployment JobType = "Deployment"
	JobValidation JobType = "Validation"
)

// JobTypes lists every JobType.
func JobTypes() []JobType { return []JobType{JobIssuance, JobRenewal, JobDeployment, JobValidation} }

// JobStatus is where a job is in its life. Completed, Failed and Cancelled
// are final.
type JobStatus string

const (
	JobPending     JobStatus = "Pending"
	JobAwaitingCSR JobStatus = "AwaitingCSR"
	JobRunning     JobStatus = "Running"
	JobCompleted   JobStatus = "Completed"
	JobFailed      JobStatus = "Failed"
	JobCancelled   JobStatus = "Cancelled"
)

// JobStatuses lists every JobStatus.
func JobStatuses() []JobStatus {
	return []JobStatus{JobPending, JobAwaitingCSR, JobRunning, JobCompleted, JobFailed, JobCancelled}
}

// AgentStatus is an agent's health as its heartbeats tell it.
type AgentStatus string

const (
	AgentOnline   AgentStatus = "Online"
	AgentOffline  AgentStatus = "Offline"
	AgentDegraded AgentStatus = "Degraded"
)

// AgentStatuses lists every AgentStatus.
func AgentStatuses() []AgentStatus { return []AgentStatus{AgentOnline, AgentOffline, AgentDegraded} }

// ActorType is who made a change recorded in the audit trail.
type ActorType string

const (
	ActorUser   ActorType = "User"
	ActorSystem ActorType = "System"
	ActorAgent  ActorType = "Agent"
)

// ActorTypes lists every ActorType.
func ActorTypes() []ActorType { return []ActorType{ActorUser, ActorSystem, ActorAgent} }

// Severity is how much a policy rule's violation weighs: Error and Critical
// refuse what violates them, Warning only reports it.
type Severity string

const (
	SeverityWarning  Severity = "Warning"
	SeverityError    Severity = "Error"
	SeverityCritical Severity = "Critical"
)

// Severities lists every Severity.
func Severities() []Severity { return []Severity{SeverityWarning, SeverityError, SeverityCritical} }

// PolicyRuleType is the kind of check a policy rule makes.
type PolicyRuleType string

const (
	PolicyAllowedIssuers      PolicyRuleType = "AllowedIssuers"
	PolicyAllowedDomains      PolicyRuleType = "AllowedDomains"
	PolicyRequiredMetadata    PolicyRuleType = "RequiredMetadata"
	PolicyAllowedEnvironments PolicyRuleType = "AllowedEnvironments"
	PolicyRenewalLeadTime     PolicyRuleType = "RenewalLeadTime"
	PolicyCertificateLifetime PolicyRuleType = "CertificateLifetime"
)

// PolicyRuleTypes lists every PolicyRuleType.
func PolicyRuleTypes() []PolicyRuleType {
	return []PolicyRuleType{PolicyAllowedIssuers, PolicyAllowedDomains, PolicyRequiredMetadata,
		PolicyAllowedEnvironments, PolicyRenewalLeadTime, PolicyCertificateLifetime}
}

// NotificationType is what a notification is about.
type NotificationType string

const (
	NotificationExpirationWarning NotificationType = "ExpirationWarning"
	NotificationRenewalSuccess    NotificationType = "RenewalSuccess"
	NotificationRenewalFailure    NotificationType = "RenewalFailure"
	NotificationDeploymentSuccess NotificationType = "DeploymentSuccess"
	NotificationDeploymentFailure NotificationType = "DeploymentFailure"
	NotificationPolicyViolation   NotificationType = "PolicyViolation"
	NotificationRevocation        NotificationType = "Revocation"
	NotificationAgentOffline      NotificationType = "AgentOffline"
)

// NotificationTypes lists every NotificationType.
func NotificationTypes() []NotificationType {
	return []NotificationType{NotificationExpirationWarning, NotificationRenewalSuccess, NotificationRenewalFailure,
		NotificationDeploymentSuccess, NotificationDeploymentFailure, NotificationPolicyViolation,
		NotificationRevocation, NotificationAgentOffline}
}

// Channel is how a notification is sent.
type Channel string

const (
	ChannelEmail   Channel = "Email"
	ChannelWebhook Channel = "Webhook"
	ChannelSlack   Channel = "Slack"
	ChannelTeams   Channel = "Teams"
)

// Channels lists every Channel.
func Channels() []Channel { return []Channel{ChannelEmail, ChannelWebhook, ChannelSlack, ChannelTeams} }

// NotificationStatus is where a notification is in its delivery.
type NotificationStatus string

const (
	NotificationPending NotificationStatus = "pending"
	NotificationSent    NotificationStatus = "sent"
	NotificationFailed  NotificationStatus = "failed"
	NotificationRead    NotificationStatus = "read"
	// NotificationDead: the retry budget is spent (ours).
	NotificationDead NotificationStatus = "dead"
)

// NotificationStatuses lists every NotificationStatus.
func NotificationStatuses() []NotificationStatus {
	return []NotificationStatus{NotificationPending, NotificationSent, NotificationFailed, NotificationRead, NotificationDead}
}

// IssuerType is the kind of certificate authority an issuer connects to.
type IssuerType string

const (
	IssuerGenericCA IssuerType = "GenericCA" // the built-in Local CA
	IssuerACME      IssuerType = "ACME"
	IssuerVaultPKI  IssuerType = "VaultPKI"
	IssuerStepCA    IssuerType = "StepCA"
)

// IssuerTypes lists every IssuerType.
func IssuerTypes() []IssuerType {
	return []IssuerType{IssuerGenericCA, IssuerACME, IssuerVaultPKI, IssuerStepCA}
}

// TargetType is the kind of server a target deploys to.
type TargetType string

const (
	TargetNGINX   TargetType = "NGINX"
	TargetF5      TargetType = "F5"
	TargetIIS     TargetType = "IIS"
	TargetApache  TargetType = "Apache"
	TargetHAProxy TargetType = "HAProxy"
	TargetFiles   TargetType = "Files"
)

// TargetTypes lists every TargetType.
func TargetTypes() []TargetType {
	return []TargetType{TargetNGINX, TargetF5, TargetIIS, TargetApache, TargetHAProxy, TargetFiles}
}

// KeyGeneration says where a certificate's private key is made (ours): on
// the agent's host (the default, also when empty) or on the server.
type KeyGeneration string

const (
	KeyGenerationAgent  KeyGeneration = "agent"
	KeyGenerationServer KeyGeneration = "server"
)

// KeyGenerations lists every KeyGeneration.
func KeyGenerations() []KeyGeneration {
	return []KeyGeneration{KeyGenerationAgent, KeyGenerationServer}
}

// KeyType is the private key made for a certificate (ours); empty means
// ECDSA-P256.
type KeyType string

const (
	KeyECDSAP256 KeyType = "ECDSA-P256"
	KeyECDSAP384 KeyType = "ECDSA-P384"
	KeyRSA2048   KeyType = "RSA-2048"
	KeyRSA3072   KeyType = "RSA-3072"
	KeyRSA4096   KeyType = "RSA-4096"
	KeyEd25519   KeyType = "Ed25519"
)

// KeyTypes lists every KeyType.
func KeyTypes() []KeyType {
	return []KeyType{KeyECDSAP256, KeyECDSAP384, KeyRSA2048, KeyRSA3072, KeyRSA4096, KeyEd25519}
}
