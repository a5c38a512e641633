// Package connectors holds certctl's connector interfaces and their
// implementations: issuer/ (certificate authorities), target/ (where
// certificates are deployed) and notifier/ (e-mail, webhooks). Connectors know
// only their own request and response types, never the state machine's.
package connectors
