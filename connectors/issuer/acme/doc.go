// Package acme is the ACME issuer connector (RFC 8555), on go-acme/lego: an
// account per issuer (its key made once, sealed under the KEK and stored
// as the issuer's material), orders from a CSR (the agent's or one the
// leader made for a server-side key), revocation with an RFC 5280 reason,
// and HTTP-01 answered from the replicated state by every node. It keeps
// no state of its own and never writes the state except through its
// Challenges dependency; the CA's refusals come back as *issuer.CAError.
package acme
