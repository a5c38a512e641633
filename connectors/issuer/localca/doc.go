// Package localca is the Local CA (issuer type GenericCA): a root and an
// intermediate made once per issuer by NewCA, whose private keys exist only
// sealed under the node's key-encryption key, and an Issuer that signs
// leaves from CSRs and CRLs with the intermediate. It keeps no state between
// calls: serials, revocations and CRL numbers are the caller's, fixed before
// they go through Raft. See DESIGN.md for its invariants.
package localca
