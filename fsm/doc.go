// Package fsm is certctl's replicated state machine: the domain types of the
// fourteen tables, the semantic commands that change them, and their storage in
// one bbolt file with secondary indexes and an HMAC-chained audit trail.
//
// Apply is deterministic: every varying input (ids, timestamps, serials) is fixed
// by the proposer and travels in the command. This package never touches the
// network, reads a clock, draws randomness or does I/O beyond its bbolt file.
//
// fsm imports nothing of certctl's with one exception: the typed enums of
// api/wire (statuses, job and key types, issuer and target types, rule kinds),
// which the API, the scheduler and the agent share; api/wire imports nothing
// of ours in turn.
package fsm
