// Package node wires certctl's replicated state machine (package fsm) to
// hashicorp/raft: storage, transport, bootstrap, join and removal, leader
// forwarding of writes, consistent reads, and leadership hooks.
//
// node owns every raft object and every goroutine it starts; Close stops them
// all. It never interprets a command: what a write means is fsm's business,
// and node must never change state except through the raft log.
package node
