// Package scheduler is certctl's lifecycle engine. It runs on the leader only
// (started and stopped through node.RunOnLeader) on robfig/cron: the renewal
// check, the job processor, agent health and the notifications loop, each
// deciding by pure functions of the time. It claims work through raft with a
// lease and never writes state any other way. The work of issuance and
// renewal jobs is its Issuance's (cmd wires package scheduler/issuance); its
// NotifierService sends notifications through the notifier connectors.
package scheduler
