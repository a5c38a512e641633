// Package fsm is certctl's replicated state machine: the domain types of the
// fourteen tables, the semantic commands that change them, and their storage in
// one bbolt file with secondary indexes and an HMAC-chained audit trail.
//
// Apply is deterministic: every varying input (ids, timestamps, serials) is fixed
// by the proposer and travels in the command. This package never touches the
// network, reads a clock, draws randomness or does I/O beyond its bbolt file.
package fsm
