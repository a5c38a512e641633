// Package api serves certctl's REST API on Gin: the original certctl's wire
// format unchanged (paths, field names, envelopes, status codes), plus the
// cluster endpoints. Handlers read the local replica and write through Raft via
// the small interfaces declared here; they never touch bbolt or raft directly.
package api
