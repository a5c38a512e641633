// Package pgexport writes the cluster's state into PostgreSQL as the
// original certctl's fourteen tables (same names, columns and types), from a
// state file read at one raft index (fsm.StateFile): a whole sync or the
// difference between two states, in one transaction, with the index it
// reflects recorded in the certctl_export table; or the same as a SQL script
// for psql. Secrets never leave in clear: sealed values stay sealed, other
// values of fields a connector declares secret are redacted, agents carry
// only their key's hash. It never writes to the cluster and never reads the
// network but the database it is handed.
package pgexport
