// Package issuer declares what certctl asks of a certificate authority: the
// Issuer interface with its request and result types, the optional
// capabilities (CRLSigner, RootCRLSigner, ChainProvider, and MaterialMaker
// for a type that needs material made once), typed errors, and the Registry
// of Connectors that builds an issuer from its stored type and config and
// tells which config fields are secret. It also holds what every issuer shares (serial
// numbers, revocation reasons, CSR checks, key generation). It must never
// import the state machine or keep mutable package-level state.
package issuer
