// Package issuer declares what certctl asks of a certificate authority: the
// Issuer interface with its request and result types, the optional CRLSigner
// and ChainProvider capabilities, typed errors, and the Registry that builds
// an issuer from its stored type and config. It also holds what every issuer
// shares (serial numbers, revocation reasons, CSR checks, key generation). It
// must never import the state machine or keep mutable package-level state.
package issuer
