// Package client is the typed Go client of certctl's REST API, used by the
// certctl CLI and by certctl-agent. It speaks the wire types of api/wire,
// moves to another member of the cluster when one is down or has no leader,
// and marks every write with an idempotency key so a retried write is applied
// once. It imports only api/wire and the standard library: never the server's
// state machine, raft node or HTTP framework.
package client
