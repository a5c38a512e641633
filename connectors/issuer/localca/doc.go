// Package localca is the Local CA (issuer type GenericCA): a root and an
// intermediate made once per issuer by NewCA, whose private keys exist only
// sealed under the node's key-encryption key, and an Issuer that signs
// leaves from CSRs and CRLs with the intermediate (and, with the root, the
// CRL that covers the intermediate), refusing what a CA should
// not sign (wildcards on public suffixes, IP addresses unless allowed,
// lifetimes above its cap, names outside its constraints). It keeps no
// state between calls: serials, revocations and CRL numbers are the
// caller's, fixed before they go through Raft. See DESIGN.md for its
// invariants.
package localca
