package api

import (
	"github.com/certctl/certctl/api/wire"
	"github.com/certctl/certctl/fsm"
	"github.com/gin-gonic/gin"
)

// route is one entry of the routes table: how it is served, who may call it,
// and what the OpenAPI document says of it.
type route struct {
	method  string
	path    string
	access  access
	handler gin.HandlerFunc
	summary string
	tag     string
	// request is the body's type (nil for none); response the answer's
	// type (nil for 204) with status its success code.
	request  any
	response any
	status   int
	query    []string // query parameters the route reads
	// produces is the media type of a string response (text/plain when empty).
	produces string
}

// listQuery are the paging parameters of every list.
var listQuery = []string{"page", "per_page"}

func withList(extra ...string) []string { return append(append([]string{}, listQuery...), extra...) }

// routes is the one table of every route the server serves.
func (s *Server) routes() []route {
	teams := s.teamsResource()
	owners := s.ownersResource()
	issuers := s.issuersResource()
	targets := s.targetsResource()
	rules := s.policyRulesResource()
	rpolicies := s.renewalPoliciesResource()
	status := wire.Status{}
	return []route{
		{method: "GET", path: "/health", access: accessPublic, handler: s.health, summary: "Liveness: the process answers", tag: "health", response: status, status: 200},
		{method: "GET", path: "/ready", access: accessPublic, handler: s.ready, summary: "Readiness: a leader is known and the log is applied (503 otherwise)", tag: "health", response: status, status: 200},
		{method: "GET", path: "/metrics", access: accessRead, handler: s.metrics.handler, summary: "Prometheus metrics", tag: "health", response: "", status: 200},
		{method: "GET", path: "/.well-known/pki/crl/:issuer_id", access: accessPublic, handler: s.issuerCRL, summary: "The issuer's certificate revocation list (DER)", tag: "pki", response: "", status: 200, produces: "application/pkix-crl"},
		{method: "GET", path: "/.well-known/pki/ca/:issuer_id", access: accessPublic, handler: s.issuerCAChain, summary: "The issuer's CA certificates in PEM, the issuing CA first and the root last", tag: "pki", response: "", status: 200, produces: "application/x-pem-file"},
		{method: "GET", path: "/.well-known/pki/crl/:issuer_id/root", access: accessPublic, handler: s.issuerRootCRL, summary: "The CRL (DER) in which a Local CA's root covers its intermediate: the intermediate's CRL distribution point", tag: "pki", response: "", status: 200, produces: "application/pkix-crl"},
		{method: "GET", path: "/.well-known/pki/ca/:issuer_id/intermediate", access: accessPublic, handler: s.issuerCACert("intermediate"), summary: "The issuer's issuing CA certificate (DER): its leaves' AIA caIssuers", tag: "pki", response: "", status: 200, produces: "application/pkix-cert"},
		{method: "GET", path: "/.well-known/pki/ca/:issuer_id/root", access: accessPublic, handler: s.issuerCACert("root"), summary: "The issuer's root CA certificate (DER): its intermediate's AIA caIssuers", tag: "pki", response: "", status: 200, produces: "application/pkix-cert"},
		{method: "GET", path: "/api/v1/openapi.json", access: accessPublic, handler: s.openAPI, summary: "This API's OpenAPI 3 document", tag: "health", response: map[string]any{}, status: 200},

		{method: "GET", path: "/api/v1/certificates", access: accessRead, handler: s.listCertificates, summary: "List certificates", tag: "certificates", response: wire.List[wire.Certificate]{}, status: 200,
			query: withList("status", "environment", "owner_id", "team_id", "issuer_id", "agent_id", "target_id", "key_type", "risk", "expires_before", "expires_after", "q", "sort", "consistency")},
		{method: "POST", path: "/api/v1/certificates/bulk-renew", access: accessWrite, handler: s.bulkRenew, summary: "Renew the certificates named (certificate_ids, at most 1000) or matching every criterion given (owner_id, team_id, issuer_id, agent_id), each as POST /certificates/{id}/renew", tag: "certificates", request: wire.BulkRequest{}, response: wire.BulkRenewResult{}, status: 200},
		{method: "POST", path: "/api/v1/certificates/bulk-revoke", access: accessAdmin, handler: s.bulkRevoke, summary: "Revoke the certificates named (certificate_ids, at most 1000) or matching every criterion given, with one RFC 5280 reason, each as POST /certificates/{id}/revoke", tag: "certificates", request: wire.BulkRequest{}, response: wire.BulkRevokeResult{}, status: 200},
		{method: "POST", path: "/api/v1/certificates", access: accessWrite, handler: s.createCertificate, summary: "Create a managed certificate", tag: "certificates", request: certificateRequest{}, response: wire.Certificate{}, status: 201},
		{method: "GET", path: "/api/v1/certificates/:id", access: accessRead, handler: s.getCertificate, summary: "Get a certificate", tag: "certificates", response: wire.Certificate{}, status: 200, query: []string{"consistency"}},
		{method: "PUT", path: "/api/v1/certificates/:id", access: accessWrite, handler: s.updateCertificate, summary: "Update a certificate", tag: "certificates", request: certificateRequest{}, response: wire.Certificate{}, status: 200},
		{method: "DELETE", path: "/api/v1/certificates/:id", access: accessWrite, handler: s.archiveCertificate, summary: "Archive a certificate", tag: "certificates", status: 204},
		{method: "GET", path: "/api/v1/certificates/:id/versions", access: accessRead, handler: s.listVersions, summary: "List a certificate's issued versions", tag: "certificates", response: wire.List[wire.CertificateVersion]{}, status: 200, query: withList("consistency")},
		{method: "GET", path: "/api/v1/certificates/:id/violations", access: accessRead, handler: s.listCertificateViolations, summary: "List a certificate's policy violations", tag: "certificates", response: wire.List[wire.PolicyViolation]{}, status: 200, query: withList("rule_id")},
		{method: "POST", path: "/api/v1/certificates/:id/renew", access: accessWrite, handler: s.renewCertificate, summary: "Trigger a renewal", tag: "certificates", response: status, status: 202},
		{method: "POST", path: "/api/v1/certificates/:id/deploy", access: accessWrite, handler: s.deployCertificate, summary: "Trigger deployment to the mapped targets, or one", tag: "certificates", request: deployRequest{}, response: status, status: 202},
		{method: "POST", path: "/api/v1/certificates/:id/revoke", access: accessWrite, handler: s.revokeCertificate, summary: "Revoke a certificate (RFC 5280 reason name)", tag: "certificates", request: revokeRequest{}, response: status, status: 200},

		teams.list("/api/v1/teams"), teams.create("/api/v1/teams"), teams.get("/api/v1/teams/:id"), teams.update("/api/v1/teams/:id"), teams.remove("/api/v1/teams/:id"),
		owners.list("/api/v1/owners", "team_id"), owners.create("/api/v1/owners"), owners.get("/api/v1/owners/:id"), owners.update("/api/v1/owners/:id"), owners.remove("/api/v1/owners/:id"),
		issuers.list("/api/v1/issuers"), issuers.create("/api/v1/issuers"), issuers.get("/api/v1/issuers/:id"), issuers.update("/api/v1/issuers/:id"), issuers.remove("/api/v1/issuers/:id"),
		{method: "GET", path: "/api/v1/issuers/:id/ca", access: accessRead, handler: s.issuerCA, summary: "The issuer's own CA: whether it has made it, its issuing CA's and root's expiry, its CRL's this and next update and revoked count (null where it publishes none)", tag: "issuers", response: wire.IssuerCA{}, status: 200},
		{method: "POST", path: "/api/v1/issuers/:id/test", access: accessWrite, handler: s.testIssuer, summary: "Test the issuer's connection to its CA", tag: "issuers", response: status, status: 200},
		targets.list("/api/v1/targets", "agent_id", "type"), targets.create("/api/v1/targets"), targets.get("/api/v1/targets/:id"), targets.update("/api/v1/targets/:id"), targets.remove("/api/v1/targets/:id"),
		rules.list("/api/v1/policies"), rules.create("/api/v1/policies"), rules.get("/api/v1/policies/:id"), rules.update("/api/v1/policies/:id"), rules.remove("/api/v1/policies/:id"),
		{method: "GET", path: "/api/v1/policies/:id/violations", access: accessRead, handler: s.listRuleViolations, summary: "List a policy rule's violations", tag: "policies", response: wire.List[wire.PolicyViolation]{}, status: 200, query: withList("certificate_id")},
		rpolicies.list("/api/v1/renewal-policies"), rpolicies.create("/api/v1/renewal-policies"), rpolicies.get("/api/v1/renewal-policies/:id"), rpolicies.update("/api/v1/renewal-policies/:id"), rpolicies.remove("/api/v1/renewal-policies/:id"),

		{method: "GET", path: "/api/v1/agents", access: accessRead, handler: s.listAgents, summary: "List agents", tag: "agents", response: wire.List[wire.Agent]{}, status: 200, query: withList("status", "version", "os", "consistency")},
		{method: "POST", path: "/api/v1/agents", access: accessWrite, handler: s.registerAgent, summary: "Register an agent; its API key is in the answer, once", tag: "agents", request: agentRequest{}, response: wire.AgentRegistration{}, status: 201},
		{method: "GET", path: "/api/v1/agents/:id", access: accessRead, handler: s.getAgent, summary: "Get an agent", tag: "agents", response: wire.Agent{}, status: 200},
		{method: "DELETE", path: "/api/v1/agents/:id", access: accessWrite, handler: s.retireAgent, summary: "Retire an agent: its key stops working, it gets 410", tag: "agents", status: 204},
		{method: "POST", path: "/api/v1/agents/:id/heartbeat", access: accessAgent, handler: s.heartbeat, summary: "Agent heartbeat", tag: "agent protocol", request: wire.HeartbeatRequest{}, response: status, status: 200},
		{method: "GET", path: "/api/v1/agents/:id/work", access: accessAgent, handler: s.agentWork, summary: "Jobs waiting for this agent", tag: "agent protocol", response: wire.WorkResponse{}, status: 200},
		{method: "POST", path: "/api/v1/agents/:id/csr", access: accessAgent, handler: s.agentCSR, summary: "Submit a CSR for an AwaitingCSR job", tag: "agent protocol", request: wire.CSRRequest{}, response: status, status: 202},
		{method: "GET", path: "/api/v1/agents/:id/certificates/:cert_id", access: accessAgent, handler: s.agentPickup, summary: "Fetch an issued certificate with its chain", tag: "agent protocol", response: wire.CertificatePickup{}, status: 200},
		{method: "POST", path: "/api/v1/agents/:id/jobs/:job_id/status", access: accessAgent, handler: s.agentJobStatus, summary: "Report a job's outcome", tag: "agent protocol", request: wire.JobStatusRequest{}, response: status, status: 200},
		{method: "GET", path: "/api/v1/agents/:id/acme-challenges", access: accessAgent, handler: s.agentACMEChallenges, summary: "ACME HTTP-01 answers this agent serves on its host (issuers with http01_responder agent)", tag: "agent protocol", response: wire.ACMEChallengesResponse{}, status: 200},
		{method: "POST", path: "/api/v1/agents/:id/acme-challenges/:token/served", access: accessAgent, handler: s.agentACMEServed, summary: "Confirm this agent serves an ACME HTTP-01 answer; the order then asks the CA to validate", tag: "agent protocol", response: status, status: 200},

		{method: "GET", path: "/api/v1/jobs", access: accessRead, handler: s.listJobs, summary: "List jobs", tag: "jobs", response: wire.List[wire.Job]{}, status: 200, query: withList("status", "type", "agent_id", "certificate_id", "consistency")},
		{method: "GET", path: "/api/v1/jobs/:id", access: accessRead, handler: s.getJob, summary: "Get a job", tag: "jobs", response: wire.Job{}, status: 200},
		{method: "POST", path: "/api/v1/jobs/:id/cancel", access: accessWrite, handler: s.cancelJob, summary: "Cancel a job", tag: "jobs", response: status, status: 200},

		{method: "GET", path: "/api/v1/audit", access: accessAudit, handler: s.listAudit, summary: "List audit events", tag: "audit", response: wire.List[wire.AuditEvent]{}, status: 200,
			query: withList("actor", "actor_type", "action", "resource_type", "resource_id", "from", "to", "consistency")},
		{method: "GET", path: "/api/v1/audit/verify", access: accessAudit, handler: s.verifyAudit, summary: "Check this node's audit chain (HMAC-SHA256 links under the cluster's audit key); names the first broken link", tag: "audit", response: fsm.AuditVerification{}, status: 200},
		{method: "GET", path: "/api/v1/audit/head", access: accessAudit, handler: s.auditHead, summary: "This node's audit chain head (seq, hash) as of a raft index: the last event written at or below at_index (default: the applied index)", tag: "audit", response: wire.AuditHead{}, status: 200,
			query: []string{"at_index"}},
		{method: "GET", path: "/api/v1/audit/:id", access: accessAudit, handler: s.getAudit, summary: "Get an audit event", tag: "audit", response: wire.AuditEvent{}, status: 200},

		{method: "GET", path: "/api/v1/notifications", access: accessRead, handler: s.listNotifications, summary: "List notifications", tag: "notifications", response: wire.List[wire.Notification]{}, status: 200, query: withList("status", "type", "channel", "certificate_id")},
		{method: "GET", path: "/api/v1/notifications/:id", access: accessRead, handler: s.getNotification, summary: "Get a notification", tag: "notifications", response: wire.Notification{}, status: 200},
		{method: "POST", path: "/api/v1/notifications/:id/retry", access: accessWrite, handler: s.retryNotification, summary: "Put a Failed or Dead notification back to Pending with its attempts reset (409 for any other status)", tag: "notifications", response: status, status: 200},
		{method: "POST", path: "/api/v1/notifications/:id/read", access: accessWrite, handler: s.readNotification, summary: "Mark a notification read", tag: "notifications", response: status, status: 200},

		{method: "GET", path: "/api/v1/stats/summary", access: accessRead, handler: s.statsSummary, tag: "stats", response: wire.StatsSummary{}, status: 200,
			summary: "Overview counts. Certificates: totals leave out Archived; expiring_30d/7d: not Archived or Revoked, expires_at in (now, now+N days]; expired: not Archived or Revoked, expires_at <= now; " +
				"renewal_overdue: Active, Expiring, RenewalInProgress or Failed, not yet expired, past its renewal point (its policy's renewal window, or a third of its current version's lifetime, before expiry), no Issuance or Renewal job open; " +
				"renewal_failed: status Failed; revoked: status Revoked; weak_keys: not Archived or Revoked, current version's key RSA < 2048 bits, ECDSA < P-256, or signed with SHA-1. " +
				"Agents (not retired) by status, version, OS; jobs by status, unfinished ones by type; notifications pending, failed (retried later) and dead (attempts spent, never retried)"},
		{method: "GET", path: "/api/v1/stats/expiration-timeline", access: accessRead, handler: s.expirationTimeline, summary: "Certificates (not Archived or Revoked) expiring in each day or week from now, over days (1..365, default 30)", tag: "stats", response: wire.ExpirationTimeline{}, status: 200, query: []string{"days", "bucket"}},
		{method: "GET", path: "/api/v1/stats/certificates-by-status", access: accessRead, handler: s.certificatesByStatus, summary: "Certificates per status", tag: "stats", response: wire.CertificatesByStatus{}, status: 200},
		{method: "GET", path: "/api/v1/stats/job-trends", access: accessRead, handler: s.jobTrends, summary: "Jobs completed and failed per UTC day, by type, over days (1..365, default 30)", tag: "stats", response: wire.JobTrends{}, status: 200, query: []string{"days"}},
		{method: "GET", path: "/api/v1/stats/issuance-rate", access: accessRead, handler: s.issuanceRate, summary: "Certificate versions recorded per UTC day over days (1..365, default 30)", tag: "stats", response: wire.IssuanceRate{}, status: 200, query: []string{"days"}},
		{method: "GET", path: "/api/v1/stats/attention", access: accessRead, handler: s.attention, summary: "The needs-attention queue: failed renewals and deployments, jobs waiting for a CSR (over 5 minutes) or an offline agent, dead notifications, offline agents; newest first, at most 200, with the total", tag: "stats", response: wire.Attention{}, status: 200},

		{method: "GET", path: "/api/v1/auth/info", access: accessPublic, handler: s.authInfo, summary: "Whether this server requires an API key", tag: "auth", response: map[string]any{}, status: 200},
		{method: "GET", path: "/api/v1/auth/check", access: accessAnyKey, handler: s.authCheck, summary: "Check the presented API key", tag: "auth", response: map[string]any{}, status: 200},
		{method: "GET", path: "/api/v1/auth/keys", access: accessAdmin, handler: s.listKeys, summary: "List API keys (never their secrets)", tag: "auth", response: wire.List[keyView]{}, status: 200, query: listQuery},
		{method: "POST", path: "/api/v1/auth/keys", access: accessAdmin, handler: s.createKey, summary: "Create an API key; its secret is in the answer, once", tag: "auth", request: keyRequest{}, response: keyCreated{}, status: 201},
		{method: "DELETE", path: "/api/v1/auth/keys/:id", access: accessAdmin, handler: s.revokeKey, summary: "Revoke an API key", tag: "auth", status: 204},

		{method: "GET", path: "/api/v1/cluster", access: accessCluster, handler: s.clusterStatus, summary: "Members, leader, raft index and term, health of each node", tag: "cluster", response: wire.ClusterStatus{}, status: 200},
		{method: "GET", path: "/api/v1/cluster/node", access: accessCluster, handler: s.nodeStatus, summary: "This node's raft progress", tag: "cluster", response: map[string]any{}, status: 200},
		{method: "POST", path: "/api/v1/cluster/join", access: accessJoin, handler: gin.WrapH(s.cluster.JoinHandler()), summary: "A new node buys its node certificate with a join token", tag: "cluster", response: map[string]any{}, status: 200},
		{method: "GET", path: "/api/v1/cluster/join-tokens", access: accessAdmin, handler: s.listJoinTokens, summary: "List join tokens (never their secrets)", tag: "cluster", response: wire.List[wire.JoinToken]{}, status: 200, query: listQuery},
		{method: "POST", path: "/api/v1/cluster/join-tokens", access: accessAdmin, handler: s.createJoinToken, summary: "Create a join token (ttl, uses); the token is in the answer, once", tag: "cluster", request: wire.CreateJoinTokenRequest{}, response: wire.JoinTokenCreated{}, status: 201},
		{method: "DELETE", path: "/api/v1/cluster/join-tokens/:id", access: accessAdmin, handler: s.revokeJoinToken, summary: "Revoke a join token", tag: "cluster", status: 204},
		{method: "GET", path: "/api/v1/cluster/snapshot", access: accessAdmin, handler: s.clusterSnapshot, summary: "A snapshot file of the leader's state (certctl snapshot save), streamed; a follower relays the leader's", tag: "cluster", response: "", status: 200, produces: SnapshotMediaType},
		{method: "GET", path: "/.well-known/pki/cluster-ca", access: accessPublic, handler: s.clusterCA, summary: "The cluster CA certificate (PEM) that signs the nodes' certificates", tag: "cluster", status: 200},
		{method: "POST", path: importPath, access: accessAdmin, handler: s.importRecords, summary: "Import a batch of rows read from an original certctl database (certctl import postgres); with dry_run, say what would be imported and refused", tag: "cluster", request: wire.ImportRequest{}, response: wire.ImportResult{}, status: 200},
		{method: "POST", path: snapshotRestorePath, access: accessAdmin, handler: s.restoreSnapshot, summary: "Restore a snapshot file (the body, streamed) into every node, after checking it whole; a refused file changes nothing", tag: "cluster", response: wire.SnapshotRestored{}, status: 200, query: []string{"force_cluster_id"}},
		{method: "DELETE", path: "/api/v1/cluster/members/:id", access: accessAdmin, handler: s.clusterRemove, summary: "Remove a member from the cluster (raft configuration and member record), on the leader", tag: "cluster", status: 204},
		{method: "GET", path: "/api/v1/cluster/peers", access: accessAdmin, handler: s.clusterPeers, summary: "The raft configuration: each peer's addresses, suffrage, leader, last log index and health", tag: "cluster", response: wire.RaftPeers{}, status: 200},
		{method: "POST", path: "/api/v1/cluster/transfer-leader", access: accessAdmin, handler: s.clusterTransferLeader, summary: "Hand leadership to a named voter, or the most up-to-date one, on the leader", tag: "cluster", request: wire.TransferLeaderRequest{}, response: wire.TransferLeaderResponse{}, status: 200},
		{method: "POST", path: "/internal/v1/propose", access: accessInternal, handler: gin.WrapH(s.cluster.ProposeHandler()), summary: "A write forwarded by another node (node certificate)", tag: "cluster", response: map[string]any{}, status: 200},
		{method: "POST", path: "/internal/v1/leave", access: accessInternal, handler: gin.WrapH(s.cluster.LeaveHandler()), summary: "A node stopped for good leaves the cluster (node certificate; leave_on_terminate)", tag: "cluster", response: map[string]any{}, status: 200},
		{method: "POST", path: "/internal/v1/add-voter", access: accessInternal, handler: gin.WrapH(s.cluster.AddVoterHandler()), summary: "A node admitted by a join becomes a voter (node certificate)", tag: "cluster", response: map[string]any{}, status: 200},
	}
}

// statusOK answers an action with {"status": status}.
func statusOK(c *gin.Context, code int, status string) {
	c.JSON(code, wire.Status{Status: status})
}
