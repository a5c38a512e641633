// Package issuance is certctl's PKI service: it does the work of the
// scheduler's Issuance and Renewal jobs, signs the CSRs agents send for
// them, opens server-side keys for their agents, and serves issuers' CRLs
// and CA chains, all through the issuer connectors of the one
// issuer.Registry cmd builds. It knows no connector by name: what a type
// can do beyond issuing it learns from the optional capabilities of
// connectors/issuer. It writes state only through raft proposals and never
// stores, logs or answers a plaintext key or secret. See DESIGN.md.
package issuance
