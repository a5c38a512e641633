package fsm_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/certctl/certctl/api/wire"
	"github.com/certctl/certctl/fsm"
	"github.com/certctl/certctl/fsm/fsmtest"
)

// selfSigned returns a PEM certificate for cn and the hex SHA-256 of its DER.
func selfSigned(t *testing.T, cn string) (string, string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: cn}, DNSNames: []string{cn},
		NotBefore: fsmtest.T0.Add(-time.Hour), NotAfter: fsmtest.T0.Add(90 * 24 * time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	sum := sha256.Sum256(der)
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})), hex.EncodeToString(sum[:])
}

// withDigests fills p's digests as a proposer does: the SHA-256 of each record.
func withDigests(t *testing.T, p *fsm.ImportRecords) *fsm.ImportRecords {
	t.Helper()
	p.Digests = map[string]string{}
	add := func(table, id string, rec any) {
		b, err := json.Marshal(rec)
		require.NoError(t, err)
		sum := sha256.Sum256(b)
		p.Digests[table+"/"+id] = hex.EncodeToString(sum[:])
	}
	for _, r := range p.Teams {
		add(fsm.ImportTeams, r.ID, r)
	}
	for _, r := range p.Owners {
		add(fsm.ImportOwners, r.ID, r)
	}
	for _, r := range p.RenewalPolicies {
		add(fsm.ImportRenewalPolicies, r.ID, r)
	}
	for _, r := range p.Issuers {
		add(fsm.ImportIssuers, r.ID, r)
	}
	for _, r := range p.Agents {
		add(fsm.ImportAgents, r.ID, r)
	}
	for _, r := range p.Targets {
		add(fsm.ImportTargets, r.ID, r)
	}
	for _, r := range p.PolicyRules {
		add(fsm.ImportPolicyRules, r.ID, r)
	}
	for _, r := range p.Certificates {
		add(fsm.ImportCertificates, r.ID, r)
	}
	for _, r := range p.Versions {
		add(fsm.ImportVersions, r.ID, r)
	}
	for _, r := range p.Jobs {
		add(fsm.ImportJobs, r.ID, r)
	}
	for _, r := range p.Violations {
		add(fsm.ImportViolations, r.ID, r)
	}
	for _, r := range p.Notifications {
		add(fsm.ImportNotifications, r.ID, r)
	}
	for _, r := range p.AuditEvents {
		add(fsm.ImportAuditEvents, r.ID, r)
	}
	return p
}

// originalSite is a small database of the original in one import entry.
func originalSite(t *testing.T, agentKey string) *fsm.ImportRecords {
	pemChain, fp := selfSigned(t, "api.example.com")
	sum := sha256.Sum256([]byte(agentKey))
	old := fsmtest.T0.Add(-100 * 24 * time.Hour)
	exp := fsmtest.T0.Add(60 * 24 * time.Hour)
	days := 30
	return &fsm.ImportRecords{
		Source:          "postgres://db.example.com/certctl",
		Teams:           []fsm.Team{{ID: "t-platform", Name: "Platform Engineering", CreatedAt: old, UpdatedAt: old}},
		Owners:          []fsm.Owner{{ID: "o-alice", Name: "Alice", Email: "alice@example.com", TeamID: "t-platform", CreatedAt: old, UpdatedAt: old}},
		RenewalPolicies: []fsm.RenewalPolicy{{ID: "rp-standard", Name: "Standard", RenewalWindowDays: &days, AutoRenew: true, MaxRetries: 3, RetryIntervalMinutes: 60, AlertThresholdsDays: []int{30, 7}}},
		Issuers:         []fsm.Issuer{{ID: "iss-local", Name: "Local", Type: wire.IssuerGenericCA, Config: json.RawMessage(`{"ca_common_name":"Demo CA"}`), Enabled: true}},
		Agents:          []fsm.Agent{{ID: "ag-web", Name: "web-agent", Hostname: "web-01", Status: fsm.AgentOnline, RegisteredAt: old, APIKeyHash: hex.EncodeToString(sum[:])}},
		Targets:         []fsm.Target{{ID: "tgt-nginx", Name: "NGINX", Type: wire.TargetType("NGINX"), AgentID: "ag-web", Config: json.RawMessage(`{"cert_path":"/etc/ssl/c.pem"}`), Enabled: true}},
		PolicyRules:     []fsm.PolicyRule{{ID: "pr-life", Name: "Lifetime", Type: fsm.RuleCertificateLifetime, Config: json.RawMessage(`{"max_days":90}`), Enabled: true}},
		Certificates: []fsm.Certificate{{ID: "mc-api", Name: "api", CommonName: "api.example.com", SANs: []string{"api.example.com"}, Environment: "production",
			OwnerID: "o-alice", TeamID: "t-platform", IssuerID: "iss-local", RenewalPolicyID: "rp-standard", TargetIDs: []string{"tgt-nginx"},
			Status: fsm.CertExpiring, ExpiresAt: &exp, Tags: map[string]string{"tier": "critical"}, CreatedAt: old, UpdatedAt: old}},
		Versions: []fsm.CertificateVersion{{ID: "cv-api-1", CertificateID: "mc-api", SerialNumber: "01", NotBefore: old, NotAfter: exp,
			FingerprintSHA256: fp, PEMChain: pemChain, CreatedAt: old}},
		Jobs:          []fsm.Job{{ID: "job-1", Type: fsm.JobDeployment, CertificateID: "mc-api", TargetID: "tgt-nginx", AgentID: "ag-web", Status: fsm.JobCompleted, Attempts: 1, MaxAttempts: 3, ScheduledAt: old, CreatedAt: old}},
		Violations:    []fsm.PolicyViolation{{ID: "pv-1", CertificateID: "mc-api", RuleID: "pr-life", Message: "too long", Severity: fsm.SeverityWarning, CreatedAt: old}},
		Notifications: []fsm.Notification{{ID: "ne-1", Type: wire.NotificationExpirationWarning, CertificateID: "mc-api", Channel: wire.ChannelEmail, Recipient: "alice@example.com", Message: "expires", Status: fsm.NotifySent, SentAt: &old, CreatedAt: old}},
		AuditEvents: []fsm.AuditEvent{
			{ID: "audit-demo-01", Actor: "alice@example.com", ActorType: fsm.ActorUser, Action: "certificate.created", ResourceType: "certificate", ResourceID: "mc-api", Details: json.RawMessage(`{"common_name":"api.example.com"}`), Timestamp: old},
			{ID: "audit-demo-02", Actor: "system", ActorType: fsm.ActorSystem, Action: "certificate.deployed", ResourceType: "certificate", ResourceID: "mc-api", Timestamp: old.Add(time.Minute)},
		},
	}
}

// TestImportRecords_KeepsRecordsAndChainsAudit: one entry with every table
// writes each record as it was (ids, statuses, times), carries the agent's
// key hash over as an agent key, appends the source's audit events after a
// marker naming the source, and leaves a chain that verifies; replicas fed
// the same entry hold identical files.
func TestImportRecords_KeepsRecordsAndChainsAudit(t *testing.T) {
	a, b := fsmtest.OpenKeyed(t), fsmtest.OpenKeyed(t)
	l := fsmtest.NewLog(t, a, b)
	p := withDigests(t, originalSite(t, "original-agent-key"))

	plan, err := a.PlanImport(p, fsm.PlanOptions{CheckText: true})
	require.NoError(t, err)
	require.Empty(t, plan.Refused)
	assert.Equal(t, 1, plan.Tables[fsm.ImportCertificates].New)
	assert.Equal(t, 1, plan.Tables[fsm.ImportMappings].New)
	assert.Equal(t, 2, plan.Tables[fsm.ImportAuditEvents].New)

	l.Must(p)

	c, err := a.Certificate("mc-api")
	require.NoError(t, err)
	assert.Equal(t, fsm.CertExpiring, c.Status)
	assert.Equal(t, []string{"tgt-nginx"}, c.TargetIDs)
	assert.Equal(t, p.Certificates[0].CreatedAt, c.CreatedAt)
	j, err := a.Job("job-1")
	require.NoError(t, err)
	assert.Equal(t, fsm.JobCompleted, j.Status)
	n, err := a.Notification("ne-1")
	require.NoError(t, err)
	assert.Equal(t, fsm.NotifySent, n.Status)
	v, err := a.CertificateVersion("cv-api-1")
	require.NoError(t, err)
	assert.Equal(t, p.Versions[0].PEMChain, v.PEMChain)

	key, err := a.APIKeyByHash(p.Agents[0].APIKeyHash)
	require.NoError(t, err, "the agent's original key hash is a key of the cluster")
	assert.Equal(t, fsm.RoleAgent, key.Role)
	assert.Equal(t, "ag-web", key.AgentID)

	events := auditEvents(t, a)
	require.Len(t, events, 4)
	assert.Equal(t, "audit_imported", events[0].Action, "a marker comes first")
	assert.Equal(t, p.Source, events[0].ResourceID)
	for i, ev := range events[1:3] {
		require.NotNil(t, ev.Imported)
		assert.Equal(t, p.AuditEvents[i].ID, ev.Imported.ID)
		assert.Equal(t, p.Source, ev.Imported.Source)
		assert.Equal(t, p.AuditEvents[i].Action, ev.Action)
		assert.Equal(t, p.AuditEvents[i].Actor, ev.Actor)
		assert.True(t, p.AuditEvents[i].Timestamp.Equal(ev.Timestamp))
	}
	assert.Equal(t, "records_imported", events[3].Action)
	assert.Nil(t, events[3].Imported)
	ver, err := a.VerifyAudit()
	require.NoError(t, err)
	assert.True(t, ver.Valid, "%+v", ver.Break)

	ha, err := a.StateHash()
	require.NoError(t, err)
	hb, err := b.StateHash()
	require.NoError(t, err)
	assert.Equal(t, ha, hb)
}

// TestImportRecords_AgainIsSame: importing the same rows again writes
// nothing; a row changed since is refused, never written over.
func TestImportRecords_AgainIsSame(t *testing.T) {
	f := fsmtest.Open(t)
	l := fsmtest.NewLog(t, f)
	p := withDigests(t, originalSite(t, "k"))
	l.Must(p)
	before, err := f.StateHash()
	require.NoError(t, err)

	plan, err := f.PlanImport(p, fsm.PlanOptions{})
	require.NoError(t, err)
	assert.Empty(t, plan.Refused)
	assert.Equal(t, 1, plan.Tables[fsm.ImportCertificates].Same)
	assert.Equal(t, 2, plan.Tables[fsm.ImportAuditEvents].Same)
	l.Must(p)
	after, err := f.StateHash()
	require.NoError(t, err)
	delete(before, "meta")
	delete(after, "meta")
	delete(before, "requests")
	delete(after, "requests")
	assert.Equal(t, before, after, "nothing but the applied index and request records changed")

	changed := originalSite(t, "k")
	changed.Teams[0].Description = "renamed since"
	changed = withDigests(t, changed)
	plan, err = f.PlanImport(changed, fsm.PlanOptions{})
	require.NoError(t, err)
	require.NotEmpty(t, plan.Refused)
	assert.Equal(t, fsm.ImportRefusal{Table: fsm.ImportTeams, ID: "t-platform", Field: "id",
		Reason: `id "t-platform" was imported before from a different row; the cluster keeps that one`}, plan.Refused[0])
}

// TestImportRecords_Refusals: a dangling owner, an invalid PEM, an id the
// cluster already holds and a key hash another key has are each named by
// the plan; the entry as a whole is refused and writes nothing, while the
// entry without them applies.
func TestImportRecords_Refusals(t *testing.T) {
	f, l := seeded(t)
	existing := fsmtest.APIKey("key-admin", fsm.RoleAdmin, "", 77)
	l.Must(&fsm.CreateAPIKey{Key: existing})
	p := originalSite(t, "k")
	p.Certificates = append(p.Certificates, fsm.Certificate{ID: "mc-orphan", Name: "orphan", CommonName: "orphan.example.com",
		OwnerID: "o-nobody", TeamID: "t-platform", IssuerID: "iss-local", Status: fsm.CertActive})
	p.Versions[0].PEMChain = "-----BEGIN CERTIFICATE-----\nMIIDemoAPI...\n-----END CERTIFICATE-----"
	p.Teams = append(p.Teams, fsmtest.Team(fsmtest.TeamID, "Someone else's"))
	p.Agents[0].APIKeyHash = existing.Hash
	p = withDigests(t, p)

	plan, err := f.PlanImport(p, fsm.PlanOptions{})
	require.NoError(t, err)
	byID := map[string]fsm.ImportRefusal{}
	for _, r := range plan.Refused {
		byID[r.Table+"/"+r.ID] = r
	}
	assert.Equal(t, "owner_id", byID["managed_certificates/mc-orphan"].Field)
	assert.Contains(t, byID["managed_certificates/mc-orphan"].Reason, `owner_id "o-nobody" is neither in the cluster nor imported`)
	assert.Equal(t, "pem_chain", byID["certificate_versions/cv-api-1"].Field)
	assert.Contains(t, byID["teams/"+fsmtest.TeamID].Reason, "already exists in the cluster")
	assert.Equal(t, "api_key_hash", byID["agents/ag-web"].Field)
	// The agent refused, its target and the mapping to it go too.
	assert.Contains(t, byID["deployment_targets/tgt-nginx"].Reason, `agent_id "ag-web"`)
	assert.Contains(t, byID["certificate_target_mappings/mc-api/tgt-nginx"].Reason, "tgt-nginx", "%+v", plan.Refused)

	before, err := f.StateHash()
	require.NoError(t, err)
	res := l.Apply(p)
	require.Error(t, res.Err)
	assert.Equal(t, fsm.CodeConflict, fsm.CodeOf(res.Err))
	after, err := f.StateHash()
	require.NoError(t, err)
	delete(before, "meta")
	delete(after, "meta")
	delete(before, "requests")
	delete(after, "requests")
	assert.Equal(t, before, after, "a refused entry writes nothing")
	k, err := f.APIKeyByHash(existing.Hash)
	require.NoError(t, err)
	assert.Equal(t, "key-admin", k.ID, "the existing key keeps its hash")
}
