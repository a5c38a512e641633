package notifier

import (
	"errors"
	"fmt"
)

// Sentinels, matched with errors.Is. The typed errors below match them too.
var (
	// ErrInvalidConfig: a notifier's config is unusable (*ConfigError).
	ErrInvalidConfig = errors.New("notifier: invalid config")
	// ErrNoNotifier: no notifier is configured for a channel
	// (*NoNotifierError).
	ErrNoNotifier = errors.New("notifier: no notifier configured")
	// ErrDelivery: the channel refused or could not take a message
	// (*DeliveryError).
	ErrDelivery = errors.New("notifier: delivery failed")
)

// ConfigError is an invalid field of a notifier's config.
type ConfigError struct {
	// Field is the config's field name, e.g. "smtp_host".
	Field string
	// Reason says what is wrong, for a person.
	Reason string
}

func (e *ConfigError) Error() string {
	return fmt.Sprintf("notifier: invalid config: %s: %s", e.Field, e.Reason)
}

// Is makes a *ConfigError match ErrInvalidConfig.
func (e *ConfigError) Is(target error) bool { return target == ErrInvalidConfig }

// Configf returns a *ConfigError for field.
func Configf(field, format string, args ...any) error {
	return &ConfigError{Field: field, Reason: fmt.Sprintf(format, args...)}
}

// NoNotifierError says that a channel has no notifier configured on this
// node, so nothing was sent.
type NoNotifierError struct {
	// Channel is the channel asked for, e.g. "Slack".
	Channel string
}

func (e *NoNotifierError) Error() string {
	return "notifier: no notifier configured for channel " + e.Channel
}

// Is makes a *NoNotifierError match ErrNoNotifier.
func (e *NoNotifierError) Is(target error) bool { return target == ErrNoNotifier }

// DeliveryError is a message the channel did not accept.
type DeliveryError struct {
	// Channel is the notifier's channel, e.g. "Webhook".
	Channel string
	// Reason says what happened, e.g. "HTTP 503 Service Unavailable".
	Reason string
	// Err is the cause, if any (a network or protocol error).
	Err error
}

func (e *DeliveryError) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("notifier: %s: %s: %v", e.Channel, e.Reason, e.Err)
	}
	return fmt.Sprintf("notifier: %s: %s", e.Channel, e.Reason)
}

// Is makes a *DeliveryError match ErrDelivery.
func (e *DeliveryError) Is(target error) bool { return target == ErrDelivery }

// Unwrap returns the cause.
func (e *DeliveryError) Unwrap() error { return e.Err }
