// Package agent is the runtime of certctl-agent on a host: heartbeat and work
// poll loops, the local key store (keys are made here, kept at 0600 and never
// sent anywhere), CSRs, and deployments through connectors/target. It talks to
// the cluster only through api/client and never links fsm, node or gin.
package agent
