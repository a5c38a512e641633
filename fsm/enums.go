package fsm

import (
	"strings"

	"github.com/certctl/certctl/api/wire"
)

// Enumerations as strings on the wire, spelled as the original spelled them.
// They are api/wire's typed enums (the one import of ours fsm has); these
// names stay for the code that spells them the fsm way.
const (
	CertPending           = wire.CertificatePending
	CertActive            = wire.CertificateActive
	CertExpiring          = wire.CertificateExpiring
	CertExpired           = wire.CertificateExpired
	CertRenewalInProgress = wire.CertificateRenewalInProgress
	CertFailed            = wire.CertificateFailed
	CertRevoked           = wire.CertificateRevoked
	CertArchived          = wire.CertificateArchived

	JobIssuance   = wire.JobIssuance
	JobRenewal    = wire.JobRenewal
	JobDeployment = wire.JobDeployment
	JobValidation = wire.JobValidation

	JobPending     = wire.JobPending
	JobAwaitingCSR = wire.JobAwaitingCSR
	JobRunning     = wire.JobRunning
	JobCompleted   = wire.JobCompleted
	JobFailed      = wire.JobFailed
	JobCancelled   = wire.JobCancelled

	AgentOnline   = wire.AgentOnline
	AgentOffline  = wire.AgentOffline
	AgentDegraded = wire.AgentDegraded

	ActorUser   = wire.ActorUser
	ActorSystem = wire.ActorSystem
	ActorAgent  = wire.ActorAgent

	SeverityWarning  = wire.SeverityWarning
	SeverityError    = wire.SeverityError
	SeverityCritical = wire.SeverityCritical

	NotifyPending = wire.NotificationPending
	NotifySent    = wire.NotificationSent
	NotifyFailed  = wire.NotificationFailed
	NotifyRead    = wire.NotificationRead
	NotifyDead    = wire.NotificationDead
)

// Enum is a closed set of strings, matched case-insensitively and normalised to
// its canonical spelling, as later releases of the original accepted them.
type Enum[T ~string] []T

// Canonical returns the canonical spelling of s and whether s is in the set.
func (e Enum[T]) Canonical(s string) (T, bool) {
	for _, v := range e {
		if strings.EqualFold(string(v), s) {
			return v, true
		}
	}
	return "", false
}

// Strings returns the set's values as strings.
func (e Enum[T]) Strings() []string {
	out := make([]string, len(e))
	for i, v := range e {
		out[i] = string(v)
	}
	return out
}

// The closed sets of the wire format.
var (
	CertificateStatuses = Enum[wire.CertificateStatus](wire.CertificateStatuses())
	JobTypes            = Enum[wire.JobType](wire.JobTypes())
	JobStatuses         = Enum[wire.JobStatus](wire.JobStatuses())
	AgentStatuses       = Enum[wire.AgentStatus](wire.AgentStatuses())
	ActorTypes          = Enum[wire.ActorType](wire.ActorTypes())
	Severities          = Enum[wire.Severity](wire.Severities())
	NotificationTypes   = Enum[wire.NotificationType](wire.NotificationTypes())
	Channels            = Enum[wire.Channel](wire.Channels())
	NotificationStatus  = Enum[wire.NotificationStatus](wire.NotificationStatuses())
	IssuerTypes         = Enum[wire.IssuerType](wire.IssuerTypes())
	TargetTypes         = Enum[wire.TargetType](wire.TargetTypes())
	KeyGenerations      = Enum[wire.KeyGeneration](wire.KeyGenerations())
	// KeyTypes are the private keys an agent (or the server) makes for a
	// certificate; connectors/issuer spells them the same.
	KeyTypes = Enum[wire.KeyType](wire.KeyTypes())
)
