// Package scheduler is certctl's lifecycle engine. It runs on the leader only
// (started and stopped through node.RunOnLeader) on robfig/cron: the renewal
// check, the job processor, agent health and the notifications loop, each
// deciding by pure functions of the time. It claims work through raft with a lease and never writes
// state any other way. Its IssuanceService does the work of issuance and
// renewal jobs through the issuer connectors (the Local CA, its CA made once
// and stored sealed) and signs the CSRs agents send for them; its
// NotifierService sends notifications through the notifier connectors.
package scheduler
