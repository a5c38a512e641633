// Package scheduler is certctl's lifecycle engine. It runs on the leader only
// (started and stopped through node.RunOnLeader) on robfig/cron: the renewal
// check, the job processor and agent health, each deciding by pure functions
// of the time. It claims work through raft with a lease and never writes
// state any other way.
package scheduler
