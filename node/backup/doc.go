// Package backup reads and writes certctl snapshot files: a magic line with
// the format version, one line of JSON header, then the body, the state file
// (bbolt) exactly as a raft snapshot persists it. The header carries the
// body's size and SHA-256, so a reader checks the body as it streams and
// fails at its end when either differs. It never holds a whole body in
// memory and never talks to a cluster: it reads and writes files and
// streams, and leaves taking the state to fsm and moving it to node and api.
package backup
