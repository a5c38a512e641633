// Package keywrap seals secrets (the Local CA's private keys, server-generated
// certificate keys, the secret fields of target and issuer configs) with AES-256-GCM under a key-encryption key (KEK) read
// from a file that only its owner may read. It owns the sealed format, which
// lives in the raft log and snapshots (see DESIGN.md), and must never keep a
// KEK or a plaintext anywhere but in the caller's hands (a Box is the
// caller's).
package keywrap
