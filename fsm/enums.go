package fsm

import "strings"

// Enumerations as strings on the wire, spelled as the original spelled them.
const (
	CertPending           = "Pending"
	CertActive            = "Active"
	CertExpiring          = "Expiring"
	CertExpired           = "Expired"
	CertRenewalInProgress = "RenewalInProgress"
	CertFailed            = "Failed"
	CertRevoked           = "Revoked"
	CertArchived          = "Archived"

	JobIssuance   = "Issuance"
	JobRenewal    = "Renewal"
	JobDeployment = "Deployment"
	JobValidation = "Validation"

	JobPending     = "Pending"
	JobAwaitingCSR = "AwaitingCSR"
	JobRunning     = "Running"
	JobCompleted   = "Completed"
	JobFailed      = "Failed"
	JobCancelled   = "Cancelled"

	AgentOnline   = "Online"
	AgentOffline  = "Offline"
	AgentDegraded = "Degraded"

	ActorUser   = "User"
	ActorSystem = "System"
	ActorAgent  = "Agent"

	SeverityWarning  = "Warning"
	SeverityError    = "Error"
	SeverityCritical = "Critical"

	NotifyPending = "pending"
	NotifySent    = "sent"
	NotifyFailed  = "failed"
	NotifyRead    = "read"
	NotifyDead    = "dead"
)

// Enum is a closed set of strings, matched case-insensitively and normalised to
// its canonical spelling, as later releases of the original accepted them.
type Enum []string

// Canonical returns the canonical spelling of s and whether s is in the set.
func (e Enum) Canonical(s string) (string, bool) {
	for _, v := range e {
		if strings.EqualFold(v, s) {
			return v, true
		}
	}
	return "", false
}

// The closed sets of the wire format.
var (
	CertificateStatuses = Enum{CertPending, CertActive, CertExpiring, CertExpired, CertRenewalInProgress, CertFailed, CertRevoked, CertArchived}
	JobTypes            = Enum{JobIssuance, JobRenewal, JobDeployment, JobValidation}
	JobStatuses         = Enum{JobPending, JobAwaitingCSR, JobRunning, JobCompleted, JobFailed, JobCancelled}
	AgentStatuses       = Enum{AgentOnline, AgentOffline, AgentDegraded}
	ActorTypes          = Enum{ActorUser, ActorSystem, ActorAgent}
	Severities          = Enum{SeverityWarning, SeverityError, SeverityCritical}
	NotificationTypes   = Enum{"ExpirationWarning", "RenewalSuccess", "RenewalFailure", "DeploymentSuccess", "DeploymentFailure", "PolicyViolation", "Revocation", "AgentOffline"}
	Channels            = Enum{"Email", "Webhook", "Slack", "Teams"}
	NotificationStatus  = Enum{NotifyPending, NotifySent, NotifyFailed, NotifyRead, NotifyDead}
	IssuerTypes         = Enum{"GenericCA", "ACME", "VaultPKI", "StepCA"}
	TargetTypes         = Enum{"NGINX", "F5", "IIS", "Apache", "HAProxy", "Files"}
	// KeyTypes are the private keys an agent (or the server) makes for a
	// certificate; connectors/issuer spells them the same.
	KeyTypes = Enum{"ECDSA-P256", "ECDSA-P384", "RSA-2048", "RSA-3072", "RSA-4096", "Ed25519"}
)
