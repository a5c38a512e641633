package notifier

import (
	"context"
	"encoding/json"
	"time"
)

// Notifier delivers alerts and events through one channel. Its methods are
// safe for concurrent use. A nil error means the channel accepted the
// message (an SMTP server queued it, a webhook answered 2xx); any error means
// it may not have, and the caller retries later.
type Notifier interface {
	// ValidateConfig checks a config for this kind of notifier without
	// sending anything.
	ValidateConfig(ctx context.Context, config json.RawMessage) error
	// SendAlert delivers an alert: something a person must act on.
	SendAlert(ctx context.Context, a Alert) error
	// SendEvent delivers an event: something that happened, for the record.
	SendEvent(ctx context.Context, e Event) error
}

// Alert is something a person must act on: a certificate about to expire, a
// renewal or deployment that failed, an agent gone silent.
type Alert struct {
	// ID identifies the notification; a receiver may deduplicate by it.
	ID string `json:"id"`
	// Type is the notification type, e.g. "ExpirationWarning".
	Type string `json:"type"`
	// CertificateID, CertificateName and CommonName name the certificate
	// concerned; all empty when the alert concerns none.
	CertificateID   string `json:"certificate_id,omitempty"`
	CertificateName string `json:"certificate_name,omitempty"`
	CommonName      string `json:"common_name,omitempty"`
	// DaysLeft is the number of whole days before ExpiresAt (negative once
	// expired); meaningful only when ExpiresAt is set.
	DaysLeft int `json:"days_left"`
	// ExpiresAt is the certificate's expiry; nil when unknown.
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
	// Message is the text for a person.
	Message string `json:"message"`
	// Link points at the certificate in the dashboard; empty lets the
	// notifier build one from its own base URL, if it has one.
	Link string `json:"link,omitempty"`
	// Recipients are the e-mail addresses concerned, possibly none.
	Recipients []string `json:"recipients,omitempty"`
	// CreatedAt is when the alert was raised.
	CreatedAt time.Time `json:"created_at"`
}

// Event is something that happened, for the record: a renewal or a
// deployment that succeeded, a revocation.
type Event struct {
	ID              string    `json:"id"`
	Type            string    `json:"type"`
	CertificateID   string    `json:"certificate_id,omitempty"`
	CertificateName string    `json:"certificate_name,omitempty"`
	CommonName      string    `json:"common_name,omitempty"`
	Message         string    `json:"message"`
	Link            string    `json:"link,omitempty"`
	Recipients      []string  `json:"recipients,omitempty"`
	CreatedAt       time.Time `json:"created_at"`
}

// eventTypes are the notification types sent as events; every other type is
// an alert.
var eventTypes = map[string]bool{"RenewalSuccess": true, "DeploymentSuccess": true, "Revocation": true}

// IsEvent reports whether notifications of type typ are events (sent with
// SendEvent) rather than alerts.
func IsEvent(typ string) bool { return eventTypes[typ] }
