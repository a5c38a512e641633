package fsmtest

import (
	"time"

	"github.com/certctl/certctl/api/wire"
	"github.com/certctl/certctl/fsm"
)

// The ids of the records Seed creates.
const (
	TeamID          = "team-1"
	OwnerID         = "owner-1"
	IssuerID        = "issuer-1"
	RenewalPolicyID = "policy-1"
	AgentID         = "agent-1"
	TargetID        = "target-1"
	RuleID          = "rule-1"
	CertificateID   = "mc-1"
)

// Seed creates one of each record a certificate and its jobs refer to: team,
// owner, issuer, renewal policy, agent, target (served by the agent), policy
// rule, and certificate mc-1 mapped to the target. It writes SeedAuditEvents
// audit events.
func Seed(l *Log) {
	l.t.Helper()
	l.Must(&fsm.CreateTeam{Team: Team(TeamID, "Platform")})
	l.Must(&fsm.CreateOwner{Owner: Owner(OwnerID, TeamID)})
	l.Must(&fsm.CreateIssuer{Issuer: Issuer(IssuerID, "Local CA")})
	l.Must(&fsm.CreateRenewalPolicy{Policy: RenewalPolicy(RenewalPolicyID, "Default")})
	l.Must(&fsm.RegisterAgent{Agent: Agent(AgentID, "web-01")})
	l.Must(&fsm.CreateTarget{Target: Target(TargetID, "nginx-web-01", AgentID)})
	l.Must(&fsm.CreatePolicyRule{Rule: Rule(RuleID, "Allowed issuers")})
	c := Certificate(CertificateID, "www.example.com")
	c.RenewalPolicyID = RenewalPolicyID
	c.TargetIDs = []string{TargetID}
	l.Must(&fsm.CreateCertificate{Certificate: c})
}

// SeedAuditEvents is the number of audit events Seed writes.
const SeedAuditEvents = 8

// Team returns a valid team.
func Team(id, name string) fsm.Team { return fsm.Team{ID: id, Name: name, Description: "team " + name} }

// Owner returns a valid owner of team teamID ("" for none).
func Owner(id, teamID string) fsm.Owner {
	return fsm.Owner{ID: id, Name: "Owner " + id, Email: id + "@example.com", TeamID: teamID}
}

// Issuer returns a valid GenericCA issuer.
func Issuer(id, name string) fsm.Issuer {
	return fsm.Issuer{ID: id, Name: name, Type: wire.IssuerGenericCA, Config: []byte(`{"url":"https://ca.example.com"}`), Enabled: true}
}

// RenewalPolicy returns a valid renewal policy renewing 30 days ahead.
func RenewalPolicy(id, name string) fsm.RenewalPolicy {
	days := 30
	return fsm.RenewalPolicy{ID: id, Name: name, RenewalWindowDays: &days, AutoRenew: true, MaxRetries: 3,
		RetryIntervalMinutes: 60, AlertThresholdsDays: []int{30, 14, 7}}
}

// Agent returns a valid agent named name.
func Agent(id, name string) fsm.Agent {
	return fsm.Agent{ID: id, Name: name, Hostname: name + ".example.com"}
}

// Target returns a valid NGINX target served by agentID.
func Target(id, name, agentID string) fsm.Target {
	return fsm.Target{ID: id, Name: name, Type: wire.TargetNGINX, AgentID: agentID, Config: []byte(`{"cert_path":"/etc/nginx/tls.crt"}`), Enabled: true}
}

// Rule returns a valid AllowedIssuers policy rule.
func Rule(id, name string) fsm.PolicyRule {
	return fsm.PolicyRule{ID: id, Name: name, Type: wire.PolicyAllowedIssuers, Config: []byte(`{"allowed_issuer_ids":["issuer-1"]}`),
		Enabled: true, Severity: fsm.SeverityWarning}
}

// Certificate returns a valid production certificate owned by the seeded
// owner and team, issued by the seeded issuer, with no targets.
func Certificate(id, commonName string) fsm.Certificate {
	return fsm.Certificate{ID: id, Name: "cert " + id, CommonName: commonName, SANs: []string{commonName},
		Environment: "production", OwnerID: OwnerID, TeamID: TeamID, IssuerID: IssuerID,
		Tags: map[string]string{"app": "web"}}
}

// Job returns a valid Pending job for the seeded certificate, due at once.
func Job(id string, typ wire.JobType) fsm.Job {
	return fsm.Job{ID: id, Type: typ, CertificateID: CertificateID}
}

// DeploymentJob returns a valid Pending deployment of the seeded certificate
// to the seeded target by the seeded agent.
func DeploymentJob(id string) fsm.Job {
	return fsm.Job{ID: id, Type: fsm.JobDeployment, CertificateID: CertificateID, TargetID: TargetID, AgentID: AgentID}
}

// Version returns a valid certificate version of certID valid from notBefore
// for lifetime; n makes its serial and fingerprint unique.
func Version(id, certID string, n int, notBefore time.Time, lifetime time.Duration) fsm.CertificateVersion {
	fp := hex64(n)
	return fsm.CertificateVersion{ID: id, CertificateID: certID, SerialNumber: fp[48:], NotBefore: notBefore,
		NotAfter: notBefore.Add(lifetime), FingerprintSHA256: fp,
		PEMChain: "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"}
}

// APIKey returns a valid API key with role, for agentID when role is
// fsm.RoleAgent; n makes the hash of its secret unique.
func APIKey(id, role, agentID string, n int) fsm.APIKey {
	return fsm.APIKey{ID: id, Name: "key " + id, Role: role, AgentID: agentID, Hash: hex64(n), Prefix: "cc_" + id}
}

// hex64 is n as 64 hexadecimal digits: a stand-in SHA-256.
func hex64(n int) string {
	h := []byte("0000000000000000000000000000000000000000000000000000000000000000")
	for i, s := 63, n; i >= 0 && s > 0; i, s = i-1, s/16 {
		h[i] = "0123456789abcdef"[s%16]
	}
	return string(h)
}

// Notification returns a valid pending e-mail expiration warning about the
// seeded certificate, deduplicated by key ("" for none).
func Notification(id, key string) fsm.Notification {
	return fsm.Notification{ID: id, Type: wire.NotificationExpirationWarning, CertificateID: CertificateID, Channel: wire.ChannelEmail,
		Recipient: "owner-1@example.com", Message: "www.example.com expires soon", DedupKey: key}
}

// Violation returns a valid warning of the seeded rule against certID.
func Violation(id, certID string) fsm.PolicyViolation {
	return fsm.PolicyViolation{ID: id, CertificateID: certID, RuleID: RuleID, Message: "issuer not allowed", Severity: fsm.SeverityWarning}
}
