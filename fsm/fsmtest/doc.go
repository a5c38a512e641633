// Package fsmtest builds fsm state for tests: an FSM on a temporary file, a
// Log that numbers raft entries and applies them to one or more FSMs, fixtures
// for the records most commands refer to, and an in-memory snapshot sink.
// Only tests import it; it never fsyncs unless asked to.
package fsmtest
