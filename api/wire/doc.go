// Package wire holds the JSON shapes of certctl's REST API: the original
// certctl's field names, shared by the server, the Go client, the CLI and the
// agent. It imports nothing of certctl's, so the agent can link it without the
// server's state machine.
package wire
