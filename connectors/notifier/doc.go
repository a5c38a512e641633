// Package notifier declares what certctl asks of a notification channel: the
// Notifier interface with its Alert and Event types, typed errors, and the
// Registry that holds the configured notifier of each channel (Email,
// Webhook, ...). Implementations live in subfolders (email, webhook). It must
// never import the state machine or keep mutable package-level state.
package notifier
