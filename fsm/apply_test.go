package fsm_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/certctl/certctl/api/wire"
	"github.com/certctl/certctl/fsm"
	"github.com/certctl/certctl/fsm/fsmtest"
)

// auditWant is what a test expects of one audit event.
type auditWant struct{ Action, ResourceType, ResourceID string }

// applyCase is one successful command: setup runs on top of fsmtest.Seed,
// payload is applied at the next index, check reads the effect back through
// the query methods, and audit lists exactly the events the command writes.
type applyCase struct {
	name    string
	setup   func(l *fsmtest.Log)
	payload fsm.Payload
	check   func(t *testing.T, f *fsm.FSM, res *fsm.ApplyResult)
	audit   []auditWant
}

func claimed(l *fsmtest.Log, jobs ...fsm.Job) {
	l.Must(&fsm.CreateJobs{Jobs: jobs})
	for _, j := range jobs {
		l.Must(&fsm.ClaimJob{JobID: j.ID, Holder: "node-1", LeaseUntil: at(5 * time.Minute)})
	}
}

var clusterCA = fsm.ClusterCA{CertPEM: "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n", SealedKey: "c2VhbGVk", Fingerprint: hash64("ca")}

// hash64 is the hex SHA-256 of s.
func hash64(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// joinWith admits nodeID with the secret whose hash token id holds.
func joinWith(id, secret, nodeID string) *fsm.ConsumeJoinToken {
	return &fsm.ConsumeJoinToken{ID: id, Hash: hash64(secret), Member: fsm.Member{NodeID: nodeID, RaftAddr: "10.0.0.2:7000", APIAddr: "10.0.0.2:8443"},
		CertSerial: "0a", CertNotAfter: at(90 * 24 * time.Hour)}
}

func applyCases() []applyCase {
	member := fsm.Member{NodeID: "node-2", RaftAddr: "10.0.0.2:7000", APIAddr: "https://10.0.0.2:8443"}
	maxOne := fsmtest.Job("job-1", fsm.JobRenewal)
	maxOne.MaxAttempts = 1
	// sweep's Since is set by its case's setup to the index of the rule change.
	sweep := &fsm.ReevaluatePolicies{Since: 1, CertIDs: []string{fsmtest.CertificateID}}
	return []applyCase{
		{
			name:    "InitCluster",
			payload: &fsm.InitCluster{ClusterID: "cluster-a"},
			check: func(t *testing.T, f *fsm.FSM, _ *fsm.ApplyResult) {
				id, err := f.ClusterID()
				require.NoError(t, err)
				assert.Equal(t, "cluster-a", id)
			},
			audit: []auditWant{{"cluster_initialized", "cluster", "cluster-a"}},
		},
		{
			name:    "RegisterMember",
			payload: &fsm.RegisterMember{Member: member},
			check: func(t *testing.T, f *fsm.FSM, _ *fsm.ApplyResult) {
				m, err := f.Member("node-2")
				require.NoError(t, err)
				assert.Equal(t, fsm.Member{NodeID: "node-2", RaftAddr: "10.0.0.2:7000", APIAddr: "https://10.0.0.2:8443", JoinedAt: fsmtest.T0}, m)
			},
			audit: []auditWant{{"member_joined", "cluster_member", "node-2"}},
		},
		{
			name: "RegisterMember/new address",
			setup: func(l *fsmtest.Log) {
				l.Must(&fsm.RegisterMember{Member: member})
				l.Advance(time.Hour)
			},
			payload: &fsm.RegisterMember{Member: fsm.Member{NodeID: "node-2", RaftAddr: "10.0.0.2:7000", APIAddr: "https://node-2:8443"}},
			check: func(t *testing.T, f *fsm.FSM, _ *fsm.ApplyResult) {
				m, err := f.Member("node-2")
				require.NoError(t, err)
				assert.Equal(t, "https://node-2:8443", m.APIAddr)
				assert.Equal(t, fsmtest.T0, m.JoinedAt, "joined_at is kept")
			},
			audit: []auditWant{{"member_updated", "cluster_member", "node-2"}},
		},
		{
			name:    "RemoveMember",
			setup:   func(l *fsmtest.Log) { l.Must(&fsm.RegisterMember{Member: member}) },
			payload: &fsm.RemoveMember{NodeID: "node-2"},
			check: func(t *testing.T, f *fsm.FSM, _ *fsm.ApplyResult) {
				_, err := f.Member("node-2")
				assert.ErrorIs(t, err, fsm.ErrNotFound)
				members, err := f.Members()
				require.NoError(t, err)
				assert.Empty(t, members)
			},
			audit: []auditWant{{"member_removed", "cluster_member", "node-2"}},
		},
		{
			name: "RemoveMember/revokes its node certificates",
			setup: func(l *fsmtest.Log) {
				l.Must(&fsm.RegisterMember{Member: member})
				l.Must(&fsm.RecordNodeCert{NodeID: "node-2", Serial: "0a", NotAfter: at(90 * 24 * time.Hour)})
				l.Must(&fsm.RecordNodeCert{NodeID: "node-2", Serial: "0b", NotAfter: at(120 * 24 * time.Hour)})
			},
			payload: &fsm.RemoveMember{NodeID: "node-2"},
			check: func(t *testing.T, f *fsm.FSM, _ *fsm.ApplyResult) {
				for _, s := range []string{"0a", "0b"} {
					revoked, err := f.NodeCertRevoked(s)
					require.NoError(t, err)
					assert.True(t, revoked, s)
				}
				revoked, err := f.NodeCertRevoked("0c")
				require.NoError(t, err)
				assert.False(t, revoked)
			},
			audit: []auditWant{{"member_removed", "cluster_member", "node-2"}},
		},
		{
			name:    "SetClusterCA",
			payload: &fsm.SetClusterCA{CA: clusterCA},
			check: func(t *testing.T, f *fsm.FSM, _ *fsm.ApplyResult) {
				ca, err := f.ClusterCA()
				require.NoError(t, err)
				assert.Equal(t, clusterCA, ca)
			},
			audit: []auditWant{{"cluster_ca_created", "cluster", ""}},
		},
		{
			name:    "CreateJoinToken",
			payload: &fsm.CreateJoinToken{ID: "jt-1", Hash: hash64("a"), TTL: time.Hour, Uses: 2},
			check: func(t *testing.T, f *fsm.FSM, _ *fsm.ApplyResult) {
				l, err := f.JoinTokens(fsm.Page{})
				require.NoError(t, err)
				require.Equal(t, 1, l.Total)
				assert.Equal(t, fsm.JoinToken{ID: "jt-1", Hash: hash64("a"), CreatedAt: fsmtest.T0, CreatedBy: "tester",
					ExpiresAt: fsmtest.T0.Add(time.Hour), Uses: 2, UsesLeft: 2}, l.Items[0])
			},
			audit: []auditWant{{"join_token_created", "join_token", "jt-1"}},
		},
		{
			name: "RevokeJoinToken",
			setup: func(l *fsmtest.Log) {
				l.Must(&fsm.CreateJoinToken{ID: "jt-1", Hash: hash64("a"), TTL: time.Hour, Uses: 2})
			},
			payload: &fsm.RevokeJoinToken{ID: "jt-1"},
			check: func(t *testing.T, f *fsm.FSM, _ *fsm.ApplyResult) {
				l, err := f.JoinTokens(fsm.Page{})
				require.NoError(t, err)
				require.NotNil(t, l.Items[0].RevokedAt)
			},
			audit: []auditWant{{"join_token_revoked", "join_token", "jt-1"}},
		},
		{
			name: "ConsumeJoinToken",
			setup: func(l *fsmtest.Log) {
				l.Must(&fsm.CreateJoinToken{ID: "jt-1", Hash: hash64("a"), TTL: time.Hour, Uses: 2})
			},
			payload: joinWith("jt-1", "a", "node-2"),
			check: func(t *testing.T, f *fsm.FSM, _ *fsm.ApplyResult) {
				l, err := f.JoinTokens(fsm.Page{})
				require.NoError(t, err)
				assert.Equal(t, 1, l.Items[0].UsesLeft)
				assert.Equal(t, []string{"node-2"}, l.Items[0].UsedBy)
				m, err := f.Member("node-2")
				require.NoError(t, err)
				assert.Equal(t, "10.0.0.2:7000", m.RaftAddr)
				assert.Equal(t, []string{"0a"}, m.CertSerials)
			},
			audit: []auditWant{{"join_token_used", "join_token", "jt-1"}, {"member_joined", "cluster_member", "node-2"}, {"node_certificate_issued", "cluster_member", "node-2"}},
		},
		{
			name:    "RecordNodeCert",
			setup:   func(l *fsmtest.Log) { l.Must(&fsm.RegisterMember{Member: member}) },
			payload: &fsm.RecordNodeCert{NodeID: "node-2", Serial: "0a", NotAfter: at(90 * 24 * time.Hour)},
			check: func(t *testing.T, f *fsm.FSM, _ *fsm.ApplyResult) {
				m, err := f.Member("node-2")
				require.NoError(t, err)
				assert.Equal(t, []string{"0a"}, m.CertSerials)
				assert.Equal(t, member.APIAddr, m.APIAddr, "addresses kept")
			},
			audit: []auditWant{{"node_certificate_issued", "cluster_member", "node-2"}},
		},
		{
			name:    "CreateTeam",
			payload: &fsm.CreateTeam{Team: fsmtest.Team("team-2", "Security")},
			check: func(t *testing.T, f *fsm.FSM, res *fsm.ApplyResult) {
				want := fsm.Team{ID: "team-2", Name: "Security", Description: "team Security", CreatedAt: fsmtest.T0, UpdatedAt: fsmtest.T0}
				assert.Equal(t, want, res.Value)
				got, err := f.Team("team-2")
				require.NoError(t, err)
				assert.Equal(t, want, *got)
				teams, err := f.Teams(fsm.Page{})
				require.NoError(t, err)
				assert.Equal(t, 2, teams.Total)
			},
			audit: []auditWant{{"team_created", "team", "team-2"}},
		},
		{
			name:    "UpdateTeam",
			setup:   func(l *fsmtest.Log) { l.Advance(time.Hour) },
			payload: &fsm.UpdateTeam{Team: fsm.Team{ID: fsmtest.TeamID, Name: "Platform Engineering"}},
			check: func(t *testing.T, f *fsm.FSM, _ *fsm.ApplyResult) {
				got, err := f.Team(fsmtest.TeamID)
				require.NoError(t, err)
				assert.Equal(t, fsm.Team{ID: fsmtest.TeamID, Name: "Platform Engineering", CreatedAt: fsmtest.T0, UpdatedAt: at(time.Hour)}, *got)
			},
			audit: []auditWant{{"team_updated", "team", fsmtest.TeamID}},
		},
		{
			name:    "DeleteTeam",
			setup:   func(l *fsmtest.Log) { l.Must(&fsm.CreateTeam{Team: fsmtest.Team("team-2", "Security")}) },
			payload: &fsm.DeleteTeam{ID: "team-2"},
			check: func(t *testing.T, f *fsm.FSM, _ *fsm.ApplyResult) {
				_, err := f.Team("team-2")
				assert.ErrorIs(t, err, fsm.ErrNotFound)
				teams, err := f.Teams(fsm.Page{})
				require.NoError(t, err)
				assert.Equal(t, 1, teams.Total)
			},
			audit: []auditWant{{"team_deleted", "team", "team-2"}},
		},
		{
			name:    "CreateOwner",
			payload: &fsm.CreateOwner{Owner: fsmtest.Owner("owner-2", fsmtest.TeamID)},
			check: func(t *testing.T, f *fsm.FSM, _ *fsm.ApplyResult) {
				got, err := f.Owner("owner-2")
				require.NoError(t, err)
				assert.Equal(t, "owner-2@example.com", got.Email)
				owners, err := f.Owners(fsm.OwnerFilter{TeamID: fsmtest.TeamID}, fsm.Page{})
				require.NoError(t, err)
				assert.Equal(t, 2, owners.Total)
			},
			audit: []auditWant{{"owner_created", "owner", "owner-2"}},
		},
		{
			name:    "UpdateOwner",
			payload: &fsm.UpdateOwner{Owner: fsm.Owner{ID: fsmtest.OwnerID, Name: "Ada", Email: "ada@example.com"}},
			check: func(t *testing.T, f *fsm.FSM, _ *fsm.ApplyResult) {
				got, err := f.Owner(fsmtest.OwnerID)
				require.NoError(t, err)
				assert.Equal(t, "Ada", got.Name)
				assert.Equal(t, "ada@example.com", got.Email)
				assert.Empty(t, got.TeamID)
				owners, err := f.Owners(fsm.OwnerFilter{TeamID: fsmtest.TeamID}, fsm.Page{})
				require.NoError(t, err)
				assert.Zero(t, owners.Total)
			},
			audit: []auditWant{{"owner_updated", "owner", fsmtest.OwnerID}},
		},
		{
			name:    "DeleteOwner",
			setup:   func(l *fsmtest.Log) { l.Must(&fsm.CreateOwner{Owner: fsmtest.Owner("owner-2", fsmtest.TeamID)}) },
			payload: &fsm.DeleteOwner{ID: "owner-2"},
			check: func(t *testing.T, f *fsm.FSM, _ *fsm.ApplyResult) {
				_, err := f.Owner("owner-2")
				assert.ErrorIs(t, err, fsm.ErrNotFound)
			},
			audit: []auditWant{{"owner_deleted", "owner", "owner-2"}},
		},
		{
			name:    "CreateRenewalPolicy",
			payload: &fsm.CreateRenewalPolicy{Policy: fsmtest.RenewalPolicy("policy-2", "Aggressive")},
			check: func(t *testing.T, f *fsm.FSM, _ *fsm.ApplyResult) {
				got, err := f.RenewalPolicy("policy-2")
				require.NoError(t, err)
				require.NotNil(t, got.RenewalWindowDays)
				assert.Equal(t, 30, *got.RenewalWindowDays)
				assert.Equal(t, []int{30, 14, 7}, got.AlertThresholdsDays)
				list, err := f.RenewalPolicies(fsm.Page{})
				require.NoError(t, err)
				assert.Equal(t, 2, list.Total)
			},
			audit: []auditWant{{"renewal_policy_created", "renewal_policy", "policy-2"}},
		},
		{
			name:    "UpdateRenewalPolicy",
			payload: &fsm.UpdateRenewalPolicy{Policy: fsm.RenewalPolicy{ID: fsmtest.RenewalPolicyID, Name: "Default", MaxRetries: 5}},
			check: func(t *testing.T, f *fsm.FSM, _ *fsm.ApplyResult) {
				got, err := f.RenewalPolicy(fsmtest.RenewalPolicyID)
				require.NoError(t, err)
				assert.Nil(t, got.RenewalWindowDays, "unset: renew with a third of the lifetime left")
				assert.False(t, got.AutoRenew)
				assert.Equal(t, 5, got.MaxRetries)
			},
			audit: []auditWant{{"renewal_policy_updated", "renewal_policy", fsmtest.RenewalPolicyID}},
		},
		{
			name: "DeleteRenewalPolicy",
			setup: func(l *fsmtest.Log) {
				l.Must(&fsm.CreateRenewalPolicy{Policy: fsmtest.RenewalPolicy("policy-2", "Aggressive")})
			},
			payload: &fsm.DeleteRenewalPolicy{ID: "policy-2"},
			check: func(t *testing.T, f *fsm.FSM, _ *fsm.ApplyResult) {
				_, err := f.RenewalPolicy("policy-2")
				assert.ErrorIs(t, err, fsm.ErrNotFound)
			},
			audit: []auditWant{{"renewal_policy_deleted", "renewal_policy", "policy-2"}},
		},
		{
			name:    "CreateIssuer",
			payload: &fsm.CreateIssuer{Issuer: fsm.Issuer{ID: "issuer-2", Name: "Let's Encrypt", Type: "acme", Config: json.RawMessage(`{"directory":"https://acme.example/dir"}`)}},
			check: func(t *testing.T, f *fsm.FSM, _ *fsm.ApplyResult) {
				got, err := f.Issuer("issuer-2")
				require.NoError(t, err)
				assert.Equal(t, wire.IssuerACME, got.Type, "type is stored in its canonical spelling")
				assert.JSONEq(t, `{"directory":"https://acme.example/dir"}`, string(got.Config))
				list, err := f.Issuers(fsm.Page{})
				require.NoError(t, err)
				assert.Equal(t, 2, list.Total)
			},
			audit: []auditWant{{"issuer_created", "issuer", "issuer-2"}},
		},
		{
			name: "UpdateIssuer",
			payload: &fsm.UpdateIssuer{Issuer: func() fsm.Issuer {
				i := fsmtest.Issuer(fsmtest.IssuerID, "Local CA")
				i.Enabled = false
				return i
			}()},
			check: func(t *testing.T, f *fsm.FSM, _ *fsm.ApplyResult) {
				got, err := f.Issuer(fsmtest.IssuerID)
				require.NoError(t, err)
				assert.False(t, got.Enabled)
			},
			audit: []auditWant{{"issuer_updated", "issuer", fsmtest.IssuerID}},
		},
		{
			name:    "DeleteIssuer",
			setup:   func(l *fsmtest.Log) { l.Must(&fsm.CreateIssuer{Issuer: fsmtest.Issuer("issuer-2", "Other CA")}) },
			payload: &fsm.DeleteIssuer{ID: "issuer-2"},
			check: func(t *testing.T, f *fsm.FSM, _ *fsm.ApplyResult) {
				_, err := f.Issuer("issuer-2")
				assert.ErrorIs(t, err, fsm.ErrNotFound)
			},
			audit: []auditWant{{"issuer_deleted", "issuer", "issuer-2"}},
		},
		{
			name:    "CreateTarget",
			payload: &fsm.CreateTarget{Target: fsmtest.Target("target-2", "haproxy-web-01", fsmtest.AgentID)},
			check: func(t *testing.T, f *fsm.FSM, _ *fsm.ApplyResult) {
				got, err := f.Target("target-2")
				require.NoError(t, err)
				assert.Equal(t, fsmtest.AgentID, got.AgentID)
				list, err := f.Targets(fsm.TargetFilter{AgentID: fsmtest.AgentID}, fsm.Page{})
				require.NoError(t, err)
				assert.Equal(t, 2, list.Total)
			},
			audit: []auditWant{{"target_created", "target", "target-2"}},
		},
		{
			name:    "UpdateTarget",
			payload: &fsm.UpdateTarget{Target: fsm.Target{ID: fsmtest.TargetID, Name: "nginx-web-01", Type: "nginx", AgentID: fsmtest.AgentID}},
			check: func(t *testing.T, f *fsm.FSM, _ *fsm.ApplyResult) {
				got, err := f.Target(fsmtest.TargetID)
				require.NoError(t, err)
				assert.False(t, got.Enabled)
				assert.Equal(t, wire.TargetNGINX, got.Type)
			},
			audit: []auditWant{{"target_updated", "target", fsmtest.TargetID}},
		},
		{
			name: "UpdateTarget clearing its secrets",
			payload: &fsm.UpdateTarget{Target: fsm.Target{ID: fsmtest.TargetID, Name: "nginx-web-01", Type: "F5", AgentID: fsmtest.AgentID,
				Config: json.RawMessage(`{"host":"bigip-2","password":""}`)}, ClearedSecrets: []string{"password"}},
			check: func(t *testing.T, f *fsm.FSM, _ *fsm.ApplyResult) {
				events := auditEvents(t, f)
				last := events[len(events)-1]
				assert.JSONEq(t, `{"fields":["password"],"agent_id":"`+fsmtest.AgentID+`"}`, string(last.Details))
			},
			audit: []auditWant{{"target_updated", "target", fsmtest.TargetID}, {"target_secrets_cleared", "target", fsmtest.TargetID}},
		},
		{
			name: "DeleteTarget",
			setup: func(l *fsmtest.Log) {
				l.Must(&fsm.CreateTarget{Target: fsmtest.Target("target-2", "haproxy", fsmtest.AgentID)})
			},
			payload: &fsm.DeleteTarget{ID: "target-2"},
			check: func(t *testing.T, f *fsm.FSM, _ *fsm.ApplyResult) {
				_, err := f.Target("target-2")
				assert.ErrorIs(t, err, fsm.ErrNotFound)
			},
			audit: []auditWant{{"target_deleted", "target", "target-2"}},
		},
		{
			name:    "CreatePolicyRule",
			payload: &fsm.CreatePolicyRule{Rule: fsm.PolicyRule{ID: "rule-2", Name: "Allowed domains", Type: "alloweddomains", Config: json.RawMessage(`{"allowed_domains":["example.com"]}`), Severity: "critical"}},
			check: func(t *testing.T, f *fsm.FSM, _ *fsm.ApplyResult) {
				got, err := f.PolicyRule("rule-2")
				require.NoError(t, err)
				assert.Equal(t, wire.PolicyAllowedDomains, got.Type)
				assert.Equal(t, fsm.SeverityCritical, got.Severity)
				list, err := f.PolicyRules(fsm.Page{})
				require.NoError(t, err)
				assert.Equal(t, 2, list.Total)
			},
			audit: []auditWant{{"policy_rule_created", "policy_rule", "rule-2"}},
		},
		{
			name:    "UpdatePolicyRule",
			payload: &fsm.UpdatePolicyRule{Rule: fsm.PolicyRule{ID: fsmtest.RuleID, Name: "Allowed issuers", Type: "AllowedIssuers", Config: json.RawMessage(`{"allowed_issuer_ids":[]}`)}},
			check: func(t *testing.T, f *fsm.FSM, _ *fsm.ApplyResult) {
				got, err := f.PolicyRule(fsmtest.RuleID)
				require.NoError(t, err)
				assert.False(t, got.Enabled)
				assert.Empty(t, got.Severity)
			},
			audit: []auditWant{{"policy_rule_updated", "policy_rule", fsmtest.RuleID}},
		},
		{
			name:    "DeletePolicyRule",
			setup:   func(l *fsmtest.Log) { l.Must(&fsm.CreatePolicyRule{Rule: fsmtest.Rule("rule-2", "Other")}) },
			payload: &fsm.DeletePolicyRule{ID: "rule-2"},
			check: func(t *testing.T, f *fsm.FSM, _ *fsm.ApplyResult) {
				_, err := f.PolicyRule("rule-2")
				assert.ErrorIs(t, err, fsm.ErrNotFound)
			},
			audit: []auditWant{{"policy_rule_deleted", "policy_rule", "rule-2"}},
		},
		{
			name: "DeletePolicyRule/clears its violations",
			setup: func(l *fsmtest.Log) {
				l.Must(&fsm.RecordViolations{CertificateID: fsmtest.CertificateID, Violations: []fsm.PolicyViolation{fsmtest.Violation("v-1", fsmtest.CertificateID)}})
			},
			payload: &fsm.DeletePolicyRule{ID: fsmtest.RuleID},
			check: func(t *testing.T, f *fsm.FSM, _ *fsm.ApplyResult) {
				_, err := f.PolicyRule(fsmtest.RuleID)
				assert.ErrorIs(t, err, fsm.ErrNotFound)
				l, err := f.Violations(fsm.ViolationFilter{CertificateID: fsmtest.CertificateID}, fsm.Page{})
				require.NoError(t, err)
				assert.Zero(t, l.Total, "the certificate's violations of the rule are gone")
				all, err := f.Violations(fsm.ViolationFilter{}, fsm.Page{})
				require.NoError(t, err)
				assert.Zero(t, all.Total)
			},
			audit: []auditWant{{"policy_violations_cleared", "policy_rule", fsmtest.RuleID}, {"policy_rule_deleted", "policy_rule", fsmtest.RuleID}},
		},
		{
			name: "CreateCertificate",
			payload: &fsm.CreateCertificate{Certificate: func() fsm.Certificate {
				c := fsmtest.Certificate("mc-2", "api.example.com")
				c.TargetIDs = []string{fsmtest.TargetID, fsmtest.TargetID}
				return c
			}()},
			check: func(t *testing.T, f *fsm.FSM, res *fsm.ApplyResult) {
				got, err := f.Certificate("mc-2")
				require.NoError(t, err)
				assert.Equal(t, fsm.CertPending, got.Status)
				assert.Equal(t, []string{fsmtest.TargetID}, got.TargetIDs, "target ids are deduplicated")
				assert.Equal(t, fsmtest.T0, got.CreatedAt)
				assert.Equal(t, "mc-2", res.Value.(fsm.Certificate).ID)
				list, err := f.Certificates(fsm.CertificateFilter{}, fsm.Page{})
				require.NoError(t, err)
				assert.Equal(t, 2, list.Total)
			},
			audit: []auditWant{{"certificate_created", "certificate", "mc-2"}},
		},
		{
			name: "CreateCertificate/violating a rule",
			payload: &fsm.CreateCertificate{Certificate: func() fsm.Certificate {
				c := fsmtest.Certificate("mc-2", "api.example.com")
				c.IssuerID = "issuer-2"
				return c
			}()},
			setup: func(l *fsmtest.Log) { l.Must(&fsm.CreateIssuer{Issuer: fsmtest.Issuer("issuer-2", "Other CA")}) },
			check: func(t *testing.T, f *fsm.FSM, _ *fsm.ApplyResult) {
				l, err := f.Violations(fsm.ViolationFilter{CertificateID: "mc-2"}, fsm.Page{})
				require.NoError(t, err)
				require.Len(t, l.Items, 1)
				assert.Equal(t, "pv-mc-2-"+fsmtest.RuleID, l.Items[0].ID)
				assert.Equal(t, fsm.SeverityWarning, l.Items[0].Severity)
			},
			audit: []auditWant{
				{"certificate_created", "certificate", "mc-2"},
				{"policy_evaluated", "certificate", "mc-2"},
				{"notification_queued", "notification", "ne-pv-mc-2-" + fsmtest.RuleID + "-10"},
			},
		},
		{
			name: "UpdateCertificate",
			setup: func(l *fsmtest.Log) {
				l.Must(&fsm.SetCertificateStatus{ID: fsmtest.CertificateID, Status: fsm.CertActive})
				l.Advance(time.Minute)
			},
			payload: &fsm.UpdateCertificate{Certificate: func() fsm.Certificate {
				c := fsmtest.Certificate(fsmtest.CertificateID, "www.example.com")
				c.Name, c.Environment, c.Status = "www", "staging", fsm.CertFailed
				return c
			}()},
			check: func(t *testing.T, f *fsm.FSM, _ *fsm.ApplyResult) {
				got, err := f.Certificate(fsmtest.CertificateID)
				require.NoError(t, err)
				assert.Equal(t, "www", got.Name)
				assert.Equal(t, "staging", got.Environment)
				assert.Equal(t, fsm.CertActive, got.Status, "status belongs to the lifecycle and is kept")
				assert.Empty(t, got.TargetIDs, "mappings are replaced")
				assert.Empty(t, got.RenewalPolicyID)
				assert.Equal(t, fsmtest.T0, got.CreatedAt)
				assert.Equal(t, at(time.Minute), got.UpdatedAt)
			},
			audit: []auditWant{{"certificate_updated", "certificate", fsmtest.CertificateID}},
		},
		{
			name:    "ArchiveCertificate",
			payload: &fsm.ArchiveCertificate{ID: fsmtest.CertificateID},
			check: func(t *testing.T, f *fsm.FSM, _ *fsm.ApplyResult) {
				got, err := f.Certificate(fsmtest.CertificateID)
				require.NoError(t, err)
				assert.Equal(t, fsm.CertArchived, got.Status)
				list, err := f.Certificates(fsm.CertificateFilter{Status: "archived"}, fsm.Page{})
				require.NoError(t, err)
				assert.Equal(t, 1, list.Total)
			},
			audit: []auditWant{{"certificate_archived", "certificate", fsmtest.CertificateID}},
		},
		{
			name:    "SetCertificateStatus",
			payload: &fsm.SetCertificateStatus{ID: fsmtest.CertificateID, Status: "expiring", From: "pending", Reason: "14 days left"},
			check: func(t *testing.T, f *fsm.FSM, _ *fsm.ApplyResult) {
				got, err := f.Certificate(fsmtest.CertificateID)
				require.NoError(t, err)
				assert.Equal(t, fsm.CertExpiring, got.Status)
				assert.Equal(t, "14 days left", got.StatusReason)
				counts, err := f.CertificatesByStatusCount()
				require.NoError(t, err)
				assert.Equal(t, map[wire.CertificateStatus]int{fsm.CertExpiring: 1}, counts)
			},
			audit: []auditWant{{"certificate_status_changed", "certificate", fsmtest.CertificateID}},
		},
		{
			name: "MapTarget",
			setup: func(l *fsmtest.Log) {
				l.Must(&fsm.CreateTarget{Target: fsmtest.Target("target-2", "haproxy", fsmtest.AgentID)})
			},
			payload: &fsm.MapTarget{CertificateID: fsmtest.CertificateID, TargetID: "target-2"},
			check: func(t *testing.T, f *fsm.FSM, _ *fsm.ApplyResult) {
				got, err := f.Certificate(fsmtest.CertificateID)
				require.NoError(t, err)
				assert.Equal(t, []string{fsmtest.TargetID, "target-2"}, got.TargetIDs)
			},
			audit: []auditWant{{"certificate_target_mapped", "certificate", fsmtest.CertificateID}},
		},
		{
			name:    "UnmapTarget",
			payload: &fsm.UnmapTarget{CertificateID: fsmtest.CertificateID, TargetID: fsmtest.TargetID},
			check: func(t *testing.T, f *fsm.FSM, _ *fsm.ApplyResult) {
				got, err := f.Certificate(fsmtest.CertificateID)
				require.NoError(t, err)
				assert.Empty(t, got.TargetIDs)
			},
			audit: []auditWant{{"certificate_target_unmapped", "certificate", fsmtest.CertificateID}},
		},
		{
			name:    "RecordVersion",
			payload: &fsm.RecordVersion{Version: fsmtest.Version("ver-1", fsmtest.CertificateID, 1, fsmtest.T0, 90*24*time.Hour)},
			check: func(t *testing.T, f *fsm.FSM, _ *fsm.ApplyResult) {
				got, err := f.Certificate(fsmtest.CertificateID)
				require.NoError(t, err)
				assert.Equal(t, fsm.CertActive, got.Status)
				require.NotNil(t, got.ExpiresAt)
				assert.Equal(t, at(90*24*time.Hour), *got.ExpiresAt)
				require.NotNil(t, got.LastRenewalAt)
				assert.Equal(t, fsmtest.T0, *got.LastRenewalAt)
				v, err := f.CertificateVersion("ver-1")
				require.NoError(t, err)
				assert.Equal(t, fsmtest.CertificateID, v.CertificateID)
				list, err := f.CertificateVersions(fsmtest.CertificateID, fsm.Page{})
				require.NoError(t, err)
				assert.Equal(t, 1, list.Total)
			},
			audit: []auditWant{{"certificate_issued", "certificate", fsmtest.CertificateID}},
		},
		{
			name: "RecordVersion with a sealed server key",
			payload: &fsm.RecordVersion{Version: fsmtest.Version("ver-1", fsmtest.CertificateID, 1, fsmtest.T0, 90*24*time.Hour), SealedKey: sealedKey,
				KeyAgentIDs: []string{fsmtest.AgentID}},
			check: func(t *testing.T, f *fsm.FSM, _ *fsm.ApplyResult) {
				k, err := f.ServerKey(fsmtest.CertificateID)
				require.NoError(t, err)
				assert.Equal(t, sealedKey, k.SealedKey)
				assert.Equal(t, "ver-1", k.VersionID)
				assert.Equal(t, []string{fsmtest.AgentID}, k.AgentIDs, "the agents the key was made for are recorded with it")
				v, err := f.CertificateVersion("ver-1")
				require.NoError(t, err)
				assert.NotContains(t, v.CSRPEM+v.PEMChain, "PRIVATE KEY")
				events := auditEvents(t, f)
				last := events[len(events)-1]
				assert.NotContains(t, string(last.Details), "sealed")
				assert.Contains(t, string(last.Details), `"agent_ids":["`+fsmtest.AgentID+`"]`)
			},
			audit: []auditWant{{"certificate_issued", "certificate", fsmtest.CertificateID}, {"server_key_recorded", "certificate", fsmtest.CertificateID}},
		},
		{
			name: "RecordVersion without a key drops the older version's",
			setup: func(l *fsmtest.Log) {
				l.Must(&fsm.RecordVersion{Version: fsmtest.Version("ver-1", fsmtest.CertificateID, 1, fsmtest.T0, 90*24*time.Hour), SealedKey: sealedKey})
			},
			payload: &fsm.RecordVersion{Version: fsmtest.Version("ver-2", fsmtest.CertificateID, 2, fsmtest.T0, 90*24*time.Hour)},
			check: func(t *testing.T, f *fsm.FSM, _ *fsm.ApplyResult) {
				_, err := f.ServerKey(fsmtest.CertificateID)
				assert.ErrorIs(t, err, fsm.ErrNotFound)
			},
			audit: []auditWant{{"certificate_issued", "certificate", fsmtest.CertificateID}},
		},
		{
			name:    "CreateJobs",
			payload: &fsm.CreateJobs{Jobs: []fsm.Job{fsmtest.Job("job-1", "renewal"), fsmtest.DeploymentJob("job-2")}},
			check: func(t *testing.T, f *fsm.FSM, res *fsm.ApplyResult) {
				assert.Len(t, res.Value, 2)
				j, err := f.Job("job-1")
				require.NoError(t, err)
				assert.Equal(t, fsm.JobRenewal, j.Type)
				assert.Equal(t, fsm.JobPending, j.Status)
				assert.Equal(t, fsm.DefaultMaxAttempts, j.MaxAttempts)
				assert.Equal(t, fsmtest.T0, j.ScheduledAt)
				all, err := f.Jobs(fsm.JobFilter{}, fsm.Page{})
				require.NoError(t, err)
				assert.Equal(t, 2, all.Total)
				byAgent, err := f.Jobs(fsm.JobFilter{AgentID: fsmtest.AgentID}, fsm.Page{})
				require.NoError(t, err)
				assert.Equal(t, 1, byAgent.Total)
			},
			audit: []auditWant{{"job_created", "job", "job-1"}, {"job_created", "job", "job-2"}},
		},
		{
			name:    "ClaimJob",
			setup:   func(l *fsmtest.Log) { l.Must(&fsm.CreateJobs{Jobs: []fsm.Job{fsmtest.Job("job-1", fsm.JobRenewal)}}) },
			payload: &fsm.ClaimJob{JobID: "job-1", Holder: "node-1", LeaseUntil: at(5 * time.Minute)},
			check: func(t *testing.T, f *fsm.FSM, _ *fsm.ApplyResult) {
				j, err := f.Job("job-1")
				require.NoError(t, err)
				assert.Equal(t, fsm.JobRunning, j.Status)
				assert.Equal(t, 1, j.Attempts)
				assert.Equal(t, "node-1", j.LeaseHolder)
				assert.Equal(t, ptr(at(5*time.Minute)), j.LeaseExpiresAt)
				assert.Equal(t, ptr(fsmtest.T0), j.StartedAt)
				running, err := f.Jobs(fsm.JobFilter{Status: fsm.JobRunning}, fsm.Page{})
				require.NoError(t, err)
				assert.Equal(t, 1, running.Total)
				c, err := f.Certificate(fsmtest.CertificateID)
				require.NoError(t, err)
				assert.Equal(t, fsm.CertRenewalInProgress, c.Status, "a renewal being worked on shows on its certificate")
			},
			audit: []auditWant{{"job_claimed", "job", "job-1"}, {"certificate_status_changed", "certificate", fsmtest.CertificateID}},
		},
		{
			name: "CancelJob/settles its certificate",
			setup: func(l *fsmtest.Log) {
				l.Must(&fsm.CreateJobs{Jobs: []fsm.Job{fsmtest.Job("job-1", fsm.JobRenewal)}})
				l.Must(&fsm.ClaimJob{JobID: "job-1", Holder: "node-1", LeaseUntil: at(5 * time.Minute)})
			},
			payload: &fsm.CancelJob{JobID: "job-1"},
			check: func(t *testing.T, f *fsm.FSM, _ *fsm.ApplyResult) {
				c, err := f.Certificate(fsmtest.CertificateID)
				require.NoError(t, err)
				assert.Equal(t, fsm.CertPending, c.Status, "never issued: back to Pending")
			},
			audit: []auditWant{{"job_cancelled", "job", "job-1"}, {"certificate_status_changed", "certificate", fsmtest.CertificateID}},
		},
		{
			name: "CompleteJob",
			setup: func(l *fsmtest.Log) {
				claimed(l, fsmtest.DeploymentJob("job-2"))
				l.Advance(time.Minute)
			},
			payload: &fsm.CompleteJob{JobID: "job-2", Holder: "node-1", DeploymentResult: json.RawMessage(`{"reloaded":true}`)},
			check: func(t *testing.T, f *fsm.FSM, _ *fsm.ApplyResult) {
				j, err := f.Job("job-2")
				require.NoError(t, err)
				assert.Equal(t, fsm.JobCompleted, j.Status)
				assert.Equal(t, ptr(at(time.Minute)), j.CompletedAt)
				assert.Empty(t, j.LeaseHolder)
				assert.Nil(t, j.LeaseExpiresAt)
				assert.JSONEq(t, `{"reloaded":true}`, string(j.DeploymentResult))
				c, err := f.Certificate(fsmtest.CertificateID)
				require.NoError(t, err)
				assert.Equal(t, ptr(at(time.Minute)), c.LastDeploymentAt, "a deployment stamps its certificate")
			},
			audit: []auditWant{{"job_completed", "job", "job-2"}},
		},
		{
			name: "ImportRecords",
			payload: &fsm.ImportRecords{Source: "postgres://db.example.com/certctl", Teams: []fsm.Team{fsmtest.Team("t-imported", "Imported")},
				Digests: map[string]string{"teams/t-imported": hash64("t-imported")}},
			check: func(t *testing.T, f *fsm.FSM, _ *fsm.ApplyResult) {
				tm, err := f.Team("t-imported")
				require.NoError(t, err)
				assert.Equal(t, "Imported", tm.Name)
			},
			audit: []auditWant{{"records_imported", "import", "postgres://db.example.com/certctl"}},
		},
		{
			name:    "StartJob",
			setup:   func(l *fsmtest.Log) { l.Must(&fsm.CreateJobs{Jobs: []fsm.Job{fsmtest.DeploymentJob("job-2")}}) },
			payload: &fsm.StartJob{JobID: "job-2", AgentID: fsmtest.AgentID},
			check: func(t *testing.T, f *fsm.FSM, _ *fsm.ApplyResult) {
				j, err := f.Job("job-2")
				require.NoError(t, err)
				assert.Equal(t, fsm.JobRunning, j.Status)
				assert.Equal(t, ptr(fsmtest.T0), j.StartedAt)
				assert.Equal(t, 1, j.Attempts)
			},
			audit: []auditWant{{"job_started", "job", "job-2"}},
		},
		{
			name:    "FailJob/retry",
			setup:   func(l *fsmtest.Log) { claimed(l, fsmtest.Job("job-1", fsm.JobRenewal)) },
			payload: &fsm.FailJob{JobID: "job-1", Holder: "node-1", Error: "issuer unreachable", RetryAt: ptr(at(10 * time.Minute))},
			check: func(t *testing.T, f *fsm.FSM, _ *fsm.ApplyResult) {
				j, err := f.Job("job-1")
				require.NoError(t, err)
				assert.Equal(t, fsm.JobPending, j.Status)
				assert.Equal(t, at(10*time.Minute), j.ScheduledAt)
				assert.Equal(t, "issuer unreachable", j.LastError)
				assert.Equal(t, 1, j.Attempts)
				assert.Empty(t, j.LeaseHolder)
				assert.Nil(t, j.CompletedAt)
			},
			audit: []auditWant{{"job_retry_scheduled", "job", "job-1"}},
		},
		{
			name:    "FailJob/final",
			setup:   func(l *fsmtest.Log) { claimed(l, maxOne) },
			payload: &fsm.FailJob{JobID: "job-1", Holder: "node-1", Error: "issuer unreachable", RetryAt: ptr(at(10 * time.Minute))},
			check: func(t *testing.T, f *fsm.FSM, _ *fsm.ApplyResult) {
				j, err := f.Job("job-1")
				require.NoError(t, err)
				assert.Equal(t, fsm.JobFailed, j.Status, "no attempts left: failed for good")
				assert.Equal(t, ptr(fsmtest.T0), j.CompletedAt)
			},
			audit: []auditWant{{"job_failed", "job", "job-1"}},
		},
		{
			name:    "CancelJob",
			setup:   func(l *fsmtest.Log) { l.Must(&fsm.CreateJobs{Jobs: []fsm.Job{fsmtest.Job("job-1", fsm.JobRenewal)}}) },
			payload: &fsm.CancelJob{JobID: "job-1"},
			check: func(t *testing.T, f *fsm.FSM, _ *fsm.ApplyResult) {
				j, err := f.Job("job-1")
				require.NoError(t, err)
				assert.Equal(t, fsm.JobCancelled, j.Status)
				assert.Equal(t, ptr(fsmtest.T0), j.CompletedAt)
			},
			audit: []auditWant{{"job_cancelled", "job", "job-1"}},
		},
		{
			name:    "AwaitCSR",
			setup:   func(l *fsmtest.Log) { claimed(l, fsmtest.Job("job-1", fsm.JobIssuance)) },
			payload: &fsm.AwaitCSR{JobID: "job-1", Holder: "node-1"},
			check: func(t *testing.T, f *fsm.FSM, _ *fsm.ApplyResult) {
				j, err := f.Job("job-1")
				require.NoError(t, err)
				assert.Equal(t, fsm.JobAwaitingCSR, j.Status)
				assert.Empty(t, j.LeaseHolder)
				assert.Nil(t, j.LeaseExpiresAt)
			},
			audit: []auditWant{{"job_awaiting_csr", "job", "job-1"}},
		},
		{
			name:    "AwaitCSR/agent",
			setup:   func(l *fsmtest.Log) { claimed(l, fsmtest.Job("job-1", fsm.JobRenewal)) },
			payload: &fsm.AwaitCSR{JobID: "job-1", Holder: "node-1", AgentID: fsmtest.AgentID},
			check: func(t *testing.T, f *fsm.FSM, _ *fsm.ApplyResult) {
				j, err := f.Job("job-1")
				require.NoError(t, err)
				assert.Equal(t, fsm.JobAwaitingCSR, j.Status)
				assert.Equal(t, fsmtest.AgentID, j.AgentID)
				l, err := f.Jobs(fsm.JobFilter{AgentID: fsmtest.AgentID, Status: fsm.JobAwaitingCSR}, fsm.Page{})
				require.NoError(t, err)
				require.Len(t, l.Items, 1, "the job is found by its agent")
				assert.Equal(t, "job-1", l.Items[0].ID)
			},
			audit: []auditWant{{"job_awaiting_csr", "job", "job-1"}},
		},
		{
			name:    "SetIssuerMaterial",
			payload: &fsm.SetIssuerMaterial{IssuerID: fsmtest.IssuerID, Material: json.RawMessage(`{"key_type": "ECDSA-P384", "kek_id": "k1", "root_key_sealed": "AQID"}`)},
			check: func(t *testing.T, f *fsm.FSM, res *fsm.ApplyResult) {
				m, err := f.IssuerMaterial(fsmtest.IssuerID)
				require.NoError(t, err)
				assert.JSONEq(t, `{"key_type":"ECDSA-P384","kek_id":"k1","root_key_sealed":"AQID"}`, string(m))
				ev := auditEvents(t, f)
				details := string(ev[len(ev)-1].Details)
				assert.NotContains(t, details, "AQID", "no sealed key in the audit trail")
				assert.Contains(t, details, "ECDSA-P384")
			},
			audit: []auditWant{{"issuer_material_created", "issuer", fsmtest.IssuerID}},
		},
		{
			name: "PutACMEChallenge",
			payload: &fsm.PutACMEChallenge{Challenge: fsm.ACMEChallenge{Token: "tok_A-1", KeyAuthorization: "tok_A-1.thumb",
				IssuerID: fsmtest.IssuerID, ExpiresAt: at(10 * time.Minute)}},
			check: func(t *testing.T, f *fsm.FSM, _ *fsm.ApplyResult) {
				got, ok := f.ACMEChallengeAnswer("tok_A-1", at(time.Minute))
				require.True(t, ok)
				assert.Equal(t, "tok_A-1.thumb", got)
				_, ok = f.ACMEChallengeAnswer("tok_A-1", at(10*time.Minute))
				assert.False(t, ok, "an expired answer is not served")
				_, ok = f.ACMEChallengeAnswer("other", at(time.Minute))
				assert.False(t, ok, "an unknown token has no answer")
			},
			audit: []auditWant{{"acme_challenge_published", "issuer", fsmtest.IssuerID}},
		},
		{
			name: "DeleteACMEChallenge",
			setup: func(l *fsmtest.Log) {
				l.Must(&fsm.PutACMEChallenge{Challenge: fsm.ACMEChallenge{Token: "tok", KeyAuthorization: "tok.thumb",
					IssuerID: fsmtest.IssuerID, ExpiresAt: at(10 * time.Minute)}})
			},
			payload: &fsm.DeleteACMEChallenge{Token: "tok"},
			check: func(t *testing.T, f *fsm.FSM, _ *fsm.ApplyResult) {
				_, ok := f.ACMEChallengeAnswer("tok", at(time.Minute))
				assert.False(t, ok, "a deleted answer is not served")
			},
			audit: []auditWant{{"acme_challenge_removed", "issuer", fsmtest.IssuerID}},
		},
		{
			name: "ConfirmACMEChallenge",
			setup: func(l *fsmtest.Log) {
				l.Must(&fsm.PutACMEChallenge{Challenge: fsm.ACMEChallenge{Token: "tok", KeyAuthorization: "tok.thumb",
					IssuerID: fsmtest.IssuerID, ExpiresAt: at(10 * time.Minute), Responder: fsm.ACMEResponderAgent, CertificateID: fsmtest.CertificateID}})
			},
			payload: &fsm.ConfirmACMEChallenge{Token: "tok", AgentID: fsmtest.AgentID},
			check: func(t *testing.T, f *fsm.FSM, _ *fsm.ApplyResult) {
				by, ok := f.ACMEChallengeServedBy("tok")
				assert.True(t, ok)
				assert.Equal(t, fsmtest.AgentID, by)
			},
			audit: []auditWant{{"acme_challenge_served", "certificate", fsmtest.CertificateID}},
		},
		{
			name:    "ReleaseLease",
			setup:   func(l *fsmtest.Log) { claimed(l, fsmtest.Job("job-1", fsm.JobRenewal)) },
			payload: &fsm.ReleaseLease{JobID: "job-1", Holder: "node-1"},
			check: func(t *testing.T, f *fsm.FSM, _ *fsm.ApplyResult) {
				j, err := f.Job("job-1")
				require.NoError(t, err)
				assert.Equal(t, fsm.JobPending, j.Status)
				assert.Zero(t, j.Attempts, "a released lease is not a failed attempt")
				assert.Empty(t, j.LeaseHolder)
			},
			audit: []auditWant{{"job_lease_released", "job", "job-1"}},
		},
		{
			name:    "RegisterAgent",
			payload: &fsm.RegisterAgent{Agent: fsmtest.Agent("agent-2", "web-02")},
			check: func(t *testing.T, f *fsm.FSM, _ *fsm.ApplyResult) {
				a, err := f.Agent("agent-2")
				require.NoError(t, err)
				assert.Equal(t, fsm.AgentOffline, a.Status)
				assert.Equal(t, fsmtest.T0, a.RegisteredAt)
				list, err := f.Agents(fsm.AgentFilter{}, fsm.Page{})
				require.NoError(t, err)
				assert.Equal(t, 2, list.Total)
			},
			audit: []auditWant{{"agent_registered", "agent", "agent-2"}},
		},
		{
			name: "RegisterAgent/with its key",
			payload: &fsm.RegisterAgent{Agent: fsmtest.Agent("agent-2", "web-02"),
				Key: ptr(fsmtest.APIKey("key-2", fsm.RoleAgent, "agent-2", 2))},
			check: func(t *testing.T, f *fsm.FSM, _ *fsm.ApplyResult) {
				k, err := f.APIKey("key-2")
				require.NoError(t, err)
				assert.Equal(t, "agent-2", k.AgentID)
				_, err = f.Agent("agent-2")
				assert.NoError(t, err)
			},
			audit: []auditWant{{"agent_registered", "agent", "agent-2"}, {"api_key_created", "api_key", "key-2"}},
		},
		{
			name: "RecordHeartbeats",
			payload: &fsm.RecordHeartbeats{Beats: []fsm.Heartbeat{
				{AgentID: fsmtest.AgentID, At: at(-time.Second), Version: "1.2.0"},
				{AgentID: "agent-unknown", At: fsmtest.T0},
			}},
			check: func(t *testing.T, f *fsm.FSM, res *fsm.ApplyResult) {
				assert.Equal(t, 1, res.Value, "unknown agents are skipped")
				a, err := f.Agent(fsmtest.AgentID)
				require.NoError(t, err)
				assert.Equal(t, fsm.AgentOnline, a.Status)
				assert.Equal(t, ptr(at(-time.Second)), a.LastHeartbeatAt)
				assert.Equal(t, "1.2.0", a.Version)
			},
			audit: []auditWant{{"heartbeats_recorded", "agent", ""}},
		},
		{
			name: "SetAgentStatus",
			setup: func(l *fsmtest.Log) {
				l.Must(&fsm.RecordHeartbeats{Beats: []fsm.Heartbeat{{AgentID: fsmtest.AgentID, At: fsmtest.T0}}})
			},
			payload: &fsm.SetAgentStatus{AgentID: fsmtest.AgentID, Status: "degraded", From: fsm.AgentOnline},
			check: func(t *testing.T, f *fsm.FSM, _ *fsm.ApplyResult) {
				a, err := f.Agent(fsmtest.AgentID)
				require.NoError(t, err)
				assert.Equal(t, fsm.AgentDegraded, a.Status)
				list, err := f.Agents(fsm.AgentFilter{Status: "Degraded"}, fsm.Page{})
				require.NoError(t, err)
				assert.Equal(t, 1, list.Total)
			},
			audit: []auditWant{{"agent_status_changed", "agent", fsmtest.AgentID}},
		},
		{
			name:    "RetireAgent",
			payload: &fsm.RetireAgent{AgentID: fsmtest.AgentID},
			check: func(t *testing.T, f *fsm.FSM, _ *fsm.ApplyResult) {
				a, err := f.Agent(fsmtest.AgentID)
				require.NoError(t, err)
				assert.Equal(t, ptr(fsmtest.T0), a.RetiredAt)
				assert.Equal(t, fsm.AgentOffline, a.Status)
			},
			audit: []auditWant{{"agent_retired", "agent", fsmtest.AgentID}},
		},
		{
			name: "RetireAgent/revokes its keys",
			setup: func(l *fsmtest.Log) {
				l.Must(&fsm.CreateAPIKey{Key: fsmtest.APIKey("key-1", fsm.RoleAgent, fsmtest.AgentID, 1)})
				l.Must(&fsm.CreateAPIKey{Key: fsmtest.APIKey("key-2", fsm.RoleAgent, fsmtest.AgentID, 2)})
				l.Must(&fsm.RevokeAPIKey{ID: "key-1"})
			},
			payload: &fsm.RetireAgent{AgentID: fsmtest.AgentID},
			check: func(t *testing.T, f *fsm.FSM, _ *fsm.ApplyResult) {
				k, err := f.APIKey("key-2")
				require.NoError(t, err)
				assert.Equal(t, ptr(fsmtest.T0), k.RevokedAt)
				byHash, err := f.APIKeyByHash(k.Hash)
				require.NoError(t, err, "a revoked key is still found, to say why it fails")
				assert.NotNil(t, byHash.RevokedAt)
			},
			audit: []auditWant{{"agent_retired", "agent", fsmtest.AgentID}, {"api_key_revoked", "api_key", "key-2"}},
		},
		{
			name:    "CreateAPIKey",
			payload: &fsm.CreateAPIKey{Key: fsmtest.APIKey("key-1", "Operator", "", 1)},
			check: func(t *testing.T, f *fsm.FSM, _ *fsm.ApplyResult) {
				k, err := f.APIKey("key-1")
				require.NoError(t, err)
				assert.Equal(t, fsm.RoleOperator, k.Role, "the role is stored in its canonical spelling")
				assert.Equal(t, fsmtest.T0, k.CreatedAt)
				byHash, err := f.APIKeyByHash(k.Hash)
				require.NoError(t, err)
				assert.Equal(t, "key-1", byHash.ID)
				list, err := f.APIKeys(fsm.Page{})
				require.NoError(t, err)
				assert.Equal(t, 1, list.Total)
			},
			audit: []auditWant{{"api_key_created", "api_key", "key-1"}},
		},
		{
			name:    "CreateAPIKey/agent key",
			payload: &fsm.CreateAPIKey{Key: fsmtest.APIKey("key-1", fsm.RoleAgent, fsmtest.AgentID, 1)},
			check: func(t *testing.T, f *fsm.FSM, _ *fsm.ApplyResult) {
				k, err := f.APIKey("key-1")
				require.NoError(t, err)
				assert.Equal(t, fsmtest.AgentID, k.AgentID)
			},
			audit: []auditWant{{"api_key_created", "api_key", "key-1"}},
		},
		{
			name: "RevokeAPIKey",
			setup: func(l *fsmtest.Log) {
				l.Must(&fsm.CreateAPIKey{Key: fsmtest.APIKey("key-1", fsm.RoleViewer, "", 1)})
			},
			payload: &fsm.RevokeAPIKey{ID: "key-1"},
			check: func(t *testing.T, f *fsm.FSM, _ *fsm.ApplyResult) {
				k, err := f.APIKey("key-1")
				require.NoError(t, err, "a revoked key is kept for the audit trail")
				assert.Equal(t, ptr(fsmtest.T0), k.RevokedAt)
				byHash, err := f.APIKeyByHash(k.Hash)
				require.NoError(t, err, "a revoked key is still found, to say why it fails")
				assert.NotNil(t, byHash.RevokedAt)
				n, err := f.APIKeyCount()
				require.NoError(t, err)
				assert.Equal(t, 1, n)
			},
			audit: []auditWant{{"api_key_revoked", "api_key", "key-1"}},
		},
		{
			name: "RevokeCertificate",
			setup: func(l *fsmtest.Log) {
				l.Must(&fsm.RecordVersion{Version: fsmtest.Version("ver-0", fsmtest.CertificateID, 1, at(-100*24*time.Hour), 10*24*time.Hour)})
				l.Must(&fsm.RecordVersion{Version: fsmtest.Version("ver-1", fsmtest.CertificateID, 2, fsmtest.T0, 90*24*time.Hour)})
			},
			payload: &fsm.RevokeCertificate{CertificateID: fsmtest.CertificateID, Reason: "keycompromise"},
			check: func(t *testing.T, f *fsm.FSM, res *fsm.ApplyResult) {
				serial := fsmtest.Version("", "", 2, fsmtest.T0, time.Hour).SerialNumber
				assert.Equal(t, []string{serial}, res.Value, "an expired version is not listed")
				c, err := f.Certificate(fsmtest.CertificateID)
				require.NoError(t, err)
				assert.Equal(t, fsm.CertRevoked, c.Status)
				assert.Equal(t, "keyCompromise", c.StatusReason)
				revs, err := f.Revocations(fsmtest.IssuerID)
				require.NoError(t, err)
				assert.Equal(t, []fsm.Revocation{{IssuerID: fsmtest.IssuerID, SerialNumber: serial, CertificateID: fsmtest.CertificateID,
					VersionID: "ver-1", Reason: "keyCompromise", RevokedAt: fsmtest.T0}}, revs)
			},
			audit: []auditWant{{"certificate_revoked", "certificate", fsmtest.CertificateID}},
		},
		{
			name:    "RequestRenewal",
			payload: &fsm.RequestRenewal{CertificateID: fsmtest.CertificateID, JobID: "job-r"},
			check: func(t *testing.T, f *fsm.FSM, res *fsm.ApplyResult) {
				want := fsm.Job{ID: "job-r", Type: fsm.JobRenewal, CertificateID: fsmtest.CertificateID, Status: fsm.JobPending,
					MaxAttempts: 4, ScheduledAt: fsmtest.T0, CreatedAt: fsmtest.T0}
				assert.Equal(t, want, res.Value, "the attempts are the renewal policy's retries plus one")
				open, err := f.OpenRenewalJob(fsmtest.CertificateID)
				require.NoError(t, err)
				assert.Equal(t, &want, open)
			},
			audit: []auditWant{{"job_created", "job", "job-r"}},
		},
		{
			name: "RequestDeployment",
			setup: func(l *fsmtest.Log) {
				l.Must(&fsm.RecordVersion{Version: fsmtest.Version("ver-1", fsmtest.CertificateID, 1, fsmtest.T0, 90*24*time.Hour)})
			},
			payload: &fsm.RequestDeployment{CertificateID: fsmtest.CertificateID, JobID: "job-d"},
			check: func(t *testing.T, f *fsm.FSM, res *fsm.ApplyResult) {
				assert.Equal(t, []fsm.Job{{ID: "job-d", Type: fsm.JobDeployment, CertificateID: fsmtest.CertificateID, TargetID: fsmtest.TargetID,
					AgentID: fsmtest.AgentID, Status: fsm.JobPending, MaxAttempts: fsm.DefaultMaxAttempts, ScheduledAt: fsmtest.T0, CreatedAt: fsmtest.T0}}, res.Value)
			},
			audit: []auditWant{{"job_created", "job", "job-d"}},
		},
		{
			name: "RequestRevocation",
			setup: func(l *fsmtest.Log) {
				l.Must(&fsm.RecordVersion{Version: fsmtest.Version("ver-1", fsmtest.CertificateID, 1, fsmtest.T0, 90*24*time.Hour)})
				l.Must(&fsm.CreateJobs{Jobs: []fsm.Job{fsmtest.Job("job-1", fsm.JobRenewal), fsmtest.DeploymentJob("job-2")}})
				l.Must(&fsm.CreateJobs{Jobs: []fsm.Job{fsmtest.Job("job-3", fsm.JobRenewal)}})
				l.Must(&fsm.CancelJob{JobID: "job-3"})
			},
			payload: &fsm.RequestRevocation{CertificateID: fsmtest.CertificateID, Reason: "superseded"},
			check: func(t *testing.T, f *fsm.FSM, res *fsm.ApplyResult) {
				serial := fsmtest.Version("", "", 1, fsmtest.T0, time.Hour).SerialNumber
				assert.Equal(t, fsm.RevocationResult{SerialNumbers: []string{serial}, CancelledJobIDs: []string{"job-2", "job-1"}}, res.Value,
					"its open jobs are cancelled, slot by slot; a finished one is left alone")
				for _, id := range []string{"job-1", "job-2"} {
					j, err := f.Job(id)
					require.NoError(t, err)
					assert.Equal(t, fsm.JobCancelled, j.Status, id)
				}
				c, err := f.Certificate(fsmtest.CertificateID)
				require.NoError(t, err)
				assert.Equal(t, fsm.CertRevoked, c.Status)
				open, err := f.OpenRenewalJob(fsmtest.CertificateID)
				require.NoError(t, err)
				assert.Nil(t, open)
			},
			audit: []auditWant{{"job_cancelled", "job", "job-2"}, {"job_cancelled", "job", "job-1"}, {"certificate_revoked", "certificate", fsmtest.CertificateID}},
		},
		{
			name: "EndExpiryWatch",
			setup: func(l *fsmtest.Log) {
				l.Must(&fsm.RecordVersion{Version: fsmtest.Version("ver-1", fsmtest.CertificateID, 1, at(-100*24*time.Hour), 10*24*time.Hour)})
				l.Must(&fsm.SetCertificateStatus{ID: fsmtest.CertificateID, Status: fsm.CertExpired})
			},
			payload: &fsm.EndExpiryWatch{CertificateID: fsmtest.CertificateID, ExpiresAt: at(-90 * 24 * time.Hour)},
			check: func(t *testing.T, f *fsm.FSM, _ *fsm.ApplyResult) {
				assert.Empty(t, scanned(t, f, at(time.Hour)), "the renewal check no longer reads it")
				c, err := f.Certificate(fsmtest.CertificateID)
				require.NoError(t, err)
				assert.Equal(t, fsm.CertExpired, c.Status, "it stays listed as Expired")
			},
			audit: []auditWant{{"certificate_expiry_watch_ended", "certificate", fsmtest.CertificateID}},
		},
		{
			name: "SetRenewalInfo",
			setup: func(l *fsmtest.Log) {
				l.Must(&fsm.RecordVersion{Version: fsmtest.Version("ver-1", fsmtest.CertificateID, 1, at(-10*24*time.Hour), 90*24*time.Hour)})
			},
			payload: &fsm.SetRenewalInfo{CertificateID: fsmtest.CertificateID, Info: wire.RenewalInfo{
				WindowStart: at(24 * time.Hour), WindowEnd: at(25 * time.Hour), ExplanationURL: "https://ca.example/why",
				RetryAfter: at(6 * time.Hour), FetchedAt: at(0), ExpiresAt: at(80 * 24 * time.Hour)}},
			check: func(t *testing.T, f *fsm.FSM, _ *fsm.ApplyResult) {
				c, err := f.Certificate(fsmtest.CertificateID)
				require.NoError(t, err)
				require.NotNil(t, c.RenewalInfo)
				assert.Equal(t, "https://ca.example/why", c.RenewalInfo.ExplanationURL)
				assert.True(t, fsm.RenewalInfoValid(c))
				assert.Empty(t, renewalInfoDue(t, f, at(24*time.Hour)), "not before the window")
				assert.Equal(t, []string{fsmtest.CertificateID}, renewalInfoDue(t, f, at(25*time.Hour)), "due inside the window")
			},
			audit: []auditWant{{"certificate_renewal_info_set", "certificate", fsmtest.CertificateID}},
		},
		{
			name: "CreateNotifications",
			setup: func(l *fsmtest.Log) {
				l.Must(&fsm.CreateNotifications{Notifications: []fsm.Notification{fsmtest.Notification("n-1", "mc-1/threshold/30")}})
			},
			payload: &fsm.CreateNotifications{Notifications: []fsm.Notification{
				fsmtest.Notification("n-2", "mc-1/threshold/30"), // key seen before: skipped
				fsmtest.Notification("n-3", "mc-1/threshold/14"),
				fsmtest.Notification("n-4", "mc-1/threshold/14"), // key seen earlier in the batch: skipped
				fsmtest.Notification("n-5", ""),
			}},
			check: func(t *testing.T, f *fsm.FSM, res *fsm.ApplyResult) {
				assert.Equal(t, []string{"n-3", "n-5"}, res.Value)
				for _, id := range []string{"n-2", "n-4"} {
					_, err := f.Notification(id)
					assert.ErrorIs(t, err, fsm.ErrNotFound, id)
				}
				n, err := f.Notification("n-3")
				require.NoError(t, err)
				assert.Equal(t, fsm.NotifyPending, n.Status)
				assert.Equal(t, fsmtest.T0, n.CreatedAt)
				list, err := f.Notifications(fsm.NotificationFilter{Status: fsm.NotifyPending}, fsm.Page{})
				require.NoError(t, err)
				assert.Equal(t, 3, list.Total)
			},
			audit: []auditWant{{"notification_queued", "notification", "n-3"}, {"notification_queued", "notification", "n-5"}},
		},
		{
			name: "MarkNotificationSent",
			setup: func(l *fsmtest.Log) {
				l.Must(&fsm.CreateNotifications{Notifications: []fsm.Notification{fsmtest.Notification("n-1", "")}})
			},
			payload: &fsm.MarkNotificationSent{ID: "n-1"},
			check: func(t *testing.T, f *fsm.FSM, _ *fsm.ApplyResult) {
				n, err := f.Notification("n-1")
				require.NoError(t, err)
				assert.Equal(t, fsm.NotifySent, n.Status)
				assert.Equal(t, ptr(fsmtest.T0), n.SentAt)
				assert.Equal(t, 1, n.Attempts)
			},
			audit: []auditWant{{"notification_sent", "notification", "n-1"}},
		},
		{
			name: "MarkNotificationFailed/retry",
			setup: func(l *fsmtest.Log) {
				l.Must(&fsm.CreateNotifications{Notifications: []fsm.Notification{fsmtest.Notification("n-1", "")}})
			},
			payload: &fsm.MarkNotificationFailed{ID: "n-1", Error: "smtp: 451 try later", RetryAt: ptr(at(5 * time.Minute))},
			check: func(t *testing.T, f *fsm.FSM, _ *fsm.ApplyResult) {
				n, err := f.Notification("n-1")
				require.NoError(t, err)
				assert.Equal(t, fsm.NotifyFailed, n.Status)
				assert.Equal(t, ptr(at(5*time.Minute)), n.NextAttemptAt)
				assert.Equal(t, "smtp: 451 try later", n.Error)
				assert.Equal(t, 1, n.Attempts)
			},
			audit: []auditWant{{"notification_failed", "notification", "n-1"}},
		},
		{
			name: "MarkNotificationFailed/dead",
			setup: func(l *fsmtest.Log) {
				l.Must(&fsm.CreateNotifications{Notifications: []fsm.Notification{fsmtest.Notification("n-1", "")}})
			},
			payload: &fsm.MarkNotificationFailed{ID: "n-1", Error: "smtp: 550 no such user", Dead: true},
			check: func(t *testing.T, f *fsm.FSM, _ *fsm.ApplyResult) {
				n, err := f.Notification("n-1")
				require.NoError(t, err)
				assert.Equal(t, fsm.NotifyDead, n.Status)
				assert.Nil(t, n.NextAttemptAt)
				list, err := f.Notifications(fsm.NotificationFilter{Status: fsm.NotifyDead}, fsm.Page{})
				require.NoError(t, err)
				assert.Equal(t, 1, list.Total)
			},
			audit: []auditWant{{"notification_dead", "notification", "n-1"}},
		},
		{
			name: "MarkNotificationRead",
			setup: func(l *fsmtest.Log) {
				l.Must(&fsm.CreateNotifications{Notifications: []fsm.Notification{fsmtest.Notification("n-1", "")}})
			},
			payload: &fsm.MarkNotificationRead{ID: "n-1"},
			check: func(t *testing.T, f *fsm.FSM, _ *fsm.ApplyResult) {
				n, err := f.Notification("n-1")
				require.NoError(t, err)
				assert.Equal(t, fsm.NotifyRead, n.Status)
			},
			audit: []auditWant{{"notification_read", "notification", "n-1"}},
		},
		{
			name: "RequeueNotification",
			setup: func(l *fsmtest.Log) {
				l.Must(&fsm.CreateNotifications{Notifications: []fsm.Notification{fsmtest.Notification("n-1", "")}})
				l.Must(&fsm.MarkNotificationFailed{ID: "n-1", Error: "smtp: 550 no such user", Dead: true})
			},
			payload: &fsm.RequeueNotification{ID: "n-1"},
			check: func(t *testing.T, f *fsm.FSM, _ *fsm.ApplyResult) {
				n, err := f.Notification("n-1")
				require.NoError(t, err)
				assert.Equal(t, fsm.NotifyPending, n.Status)
				assert.Equal(t, 0, n.Attempts, "attempts start again")
				assert.Equal(t, 1, n.Requeues)
				assert.Nil(t, n.NextAttemptAt, "due at once")
				for st, want := range map[wire.NotificationStatus]int{fsm.NotifyDead: 0, fsm.NotifyPending: 1} {
					list, err := f.Notifications(fsm.NotificationFilter{Status: st}, fsm.Page{})
					require.NoError(t, err)
					assert.Equal(t, want, list.Total, "%s", st)
				}
			},
			audit: []auditWant{{"notification_requeued", "notification", "n-1"}},
		},
		{
			name: "RecordViolations",
			setup: func(l *fsmtest.Log) {
				l.Must(&fsm.RecordViolations{CertificateID: fsmtest.CertificateID, Violations: []fsm.PolicyViolation{
					fsmtest.Violation("v-1", fsmtest.CertificateID), fsmtest.Violation("v-2", fsmtest.CertificateID),
				}})
			},
			payload: &fsm.RecordViolations{CertificateID: fsmtest.CertificateID, Violations: []fsm.PolicyViolation{
				fsmtest.Violation("v-3", fsmtest.CertificateID),
			}},
			check: func(t *testing.T, f *fsm.FSM, res *fsm.ApplyResult) {
				assert.Equal(t, 1, res.Value)
				assertViolations(t, f, "v-3")
			},
			audit: []auditWant{{"policy_evaluated", "certificate", fsmtest.CertificateID}},
		},
		{
			name: "RecordViolations/same ids",
			setup: func(l *fsmtest.Log) {
				l.Must(&fsm.RecordViolations{CertificateID: fsmtest.CertificateID, Violations: []fsm.PolicyViolation{
					fsmtest.Violation("v-1", fsmtest.CertificateID),
				}})
			},
			payload: &fsm.RecordViolations{CertificateID: fsmtest.CertificateID, Violations: []fsm.PolicyViolation{
				fsmtest.Violation("v-1", fsmtest.CertificateID), fsmtest.Violation("v-2", fsmtest.CertificateID),
			}},
			check: func(t *testing.T, f *fsm.FSM, _ *fsm.ApplyResult) {
				assertViolations(t, f, "v-1", "v-2")
			},
			audit: []auditWant{{"policy_evaluated", "certificate", fsmtest.CertificateID}},
		},
		{
			name: "RecordViolations/clear",
			setup: func(l *fsmtest.Log) {
				l.Must(&fsm.RecordViolations{CertificateID: fsmtest.CertificateID, Violations: []fsm.PolicyViolation{
					fsmtest.Violation("v-1", fsmtest.CertificateID),
				}})
			},
			payload: &fsm.RecordViolations{CertificateID: fsmtest.CertificateID},
			check: func(t *testing.T, f *fsm.FSM, _ *fsm.ApplyResult) {
				assertViolations(t, f)
			},
			audit: []auditWant{{"policy_evaluated", "certificate", fsmtest.CertificateID}},
		},
		{
			// The seeded certificate breaks a rule changed after it: the
			// sweep's one batch reports it and ends the sweep.
			name: "ReevaluatePolicies",
			setup: func(l *fsmtest.Log) {
				rule := fsmtest.Rule(fsmtest.RuleID, "Allowed issuers")
				rule.Config = []byte(`{"allowed_issuer_ids":["issuer-other"]}`)
				l.Must(&fsm.UpdatePolicyRule{Rule: rule, Sweep: true})
				sweep.Since = l.Index
			},
			payload: sweep,
			check: func(t *testing.T, f *fsm.FSM, _ *fsm.ApplyResult) {
				assertViolations(t, f, "pv-"+fsmtest.CertificateID+"-"+fsmtest.RuleID)
				s, err := f.PolicySweep()
				require.NoError(t, err)
				assert.Nil(t, s, "the sweep is over")
			},
			audit: []auditWant{
				{"policy_evaluated", "certificate", fsmtest.CertificateID},
				{"notification_queued", "notification", "ne-pv-mc-1-" + fsmtest.RuleID + "-10"},
				{"policy_reevaluated", "policy_rule", ""},
			},
		},
	}
}

// assertViolations checks that the seeded certificate and rule have exactly
// the violations ids, through both indexes.
func assertViolations(t *testing.T, f *fsm.FSM, ids ...string) {
	t.Helper()
	for _, flt := range []fsm.ViolationFilter{{CertificateID: fsmtest.CertificateID}, {RuleID: fsmtest.RuleID}, {}} {
		list, err := f.Violations(flt, fsm.Page{})
		require.NoError(t, err)
		got := []string{}
		for _, v := range list.Items {
			got = append(got, v.ID)
		}
		if ids == nil {
			ids = []string{}
		}
		assert.Equal(t, ids, got, "%+v", flt)
		assert.Equal(t, len(ids), list.Total, "%+v", flt)
	}
}

func TestFSM_ApplyCommands(t *testing.T) {
	for _, tc := range applyCases() {
		t.Run(tc.name, func(t *testing.T) {
			f, l := seeded(t)
			if tc.setup != nil {
				tc.setup(l)
			}
			before := len(auditEvents(t, f))

			res := l.Apply(tc.payload)

			require.NoError(t, res.Err)
			assert.Equal(t, l.Index, f.AppliedIndex())
			tc.check(t, f, res)
			events := auditEvents(t, f)[before:]
			got := make([]auditWant, len(events))
			for i, ev := range events {
				got[i] = auditWant{ev.Action, ev.ResourceType, ev.ResourceID}
				assert.Equal(t, l.Index, ev.RaftIndex, "event %d", ev.Seq)
				assert.Equal(t, l.Now, ev.Timestamp, "event %d", ev.Seq)
				assert.Equal(t, "tester", ev.Actor, "event %d", ev.Seq)
				assert.Equal(t, fsm.ActorUser, ev.ActorType, "event %d", ev.Seq)
			}
			assert.Equal(t, tc.audit, got)
		})
	}
}

// TestFSM_ApplyCommandsCoverEveryType fails when a command type is added
// without a success case in applyCases.
func TestFSM_ApplyCommandsCoverEveryType(t *testing.T) {
	covered := map[fsm.CommandType]bool{}
	for _, tc := range applyCases() {
		covered[tc.payload.CommandType()] = true
	}
	for n := 1; n <= math.MaxUint16; n++ {
		ct := fsm.CommandType(n)
		if ct.String() == fmt.Sprintf("CommandType(%d)", n) {
			continue
		}
		assert.True(t, covered[ct], "command %s (%d) has no case in applyCases", ct, n)
	}
}

// TestFSM_ApplyIdempotentCommands checks the commands that succeed without
// writing anything when their effect is already in place.
func TestFSM_ApplyIdempotentCommands(t *testing.T) {
	cases := []struct {
		name    string
		setup   func(l *fsmtest.Log)
		payload fsm.Payload
	}{
		{"InitCluster/same id", func(l *fsmtest.Log) { l.Must(&fsm.InitCluster{ClusterID: "c"}) }, &fsm.InitCluster{ClusterID: "c"}},
		{"RegisterMember/same addresses", func(l *fsmtest.Log) {
			l.Must(&fsm.RegisterMember{Member: fsm.Member{NodeID: "n", RaftAddr: "r:1", APIAddr: "a:1"}})
		}, &fsm.RegisterMember{Member: fsm.Member{NodeID: "n", RaftAddr: "r:1", APIAddr: "a:1"}}},
		{"ArchiveCertificate/archived", func(l *fsmtest.Log) { l.Must(&fsm.ArchiveCertificate{ID: fsmtest.CertificateID}) },
			&fsm.ArchiveCertificate{ID: fsmtest.CertificateID}},
		{"SetCertificateStatus/same", nil, &fsm.SetCertificateStatus{ID: fsmtest.CertificateID, Status: fsm.CertPending}},
		{"MapTarget/mapped", nil, &fsm.MapTarget{CertificateID: fsmtest.CertificateID, TargetID: fsmtest.TargetID}},
		{"SetAgentStatus/same", nil, &fsm.SetAgentStatus{AgentID: fsmtest.AgentID, Status: fsm.AgentOffline}},
		{"RetireAgent/retired", func(l *fsmtest.Log) { l.Must(&fsm.RetireAgent{AgentID: fsmtest.AgentID}) },
			&fsm.RetireAgent{AgentID: fsmtest.AgentID}},
		{"RecordHeartbeats/only unknown agents", nil, &fsm.RecordHeartbeats{Beats: []fsm.Heartbeat{{AgentID: "ghost", At: fsmtest.T0}}}},
		{"RecordViolations/nothing to clear", nil, &fsm.RecordViolations{CertificateID: fsmtest.CertificateID}},
		{"RecordViolations/same set", func(l *fsmtest.Log) {
			l.Must(&fsm.RecordViolations{CertificateID: fsmtest.CertificateID, Violations: []fsm.PolicyViolation{fsmtest.Violation("v-1", fsmtest.CertificateID)}})
			l.Advance(time.Hour)
		}, &fsm.RecordViolations{CertificateID: fsmtest.CertificateID, Violations: []fsm.PolicyViolation{fsmtest.Violation("v-1", fsmtest.CertificateID)}}},
		{"RevokeAPIKey/revoked", func(l *fsmtest.Log) {
			l.Must(&fsm.CreateAPIKey{Key: fsmtest.APIKey("key-1", fsm.RoleViewer, "", 1)})
			l.Must(&fsm.RevokeAPIKey{ID: "key-1"})
		}, &fsm.RevokeAPIKey{ID: "key-1"}},
		{"SetIssuerMaterial/same", func(l *fsmtest.Log) {
			l.Must(&fsm.SetIssuerMaterial{IssuerID: fsmtest.IssuerID, Material: json.RawMessage(`{"kek_id":"k1"}`)})
		}, &fsm.SetIssuerMaterial{IssuerID: fsmtest.IssuerID, Material: json.RawMessage(`{"kek_id": "k1"}`)}},
		{"MarkNotificationRead/read", func(l *fsmtest.Log) {
			l.Must(&fsm.CreateNotifications{Notifications: []fsm.Notification{fsmtest.Notification("n-1", "")}})
			l.Must(&fsm.MarkNotificationRead{ID: "n-1"})
		}, &fsm.MarkNotificationRead{ID: "n-1"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a, b, l := twins(t)
			if tc.setup != nil {
				tc.setup(l)
			}
			res := applyAgainstNoop(t, a, b, l.Entry(tc.payload))
			require.NoError(t, res.Err)
			assert.Equal(t, stateHash(t, b), stateHash(t, a), "the command wrote something")
		})
	}
}

// sealedKey looks like a keywrap value: format version 1, nonce, ciphertext, tag.
var sealedKey = append([]byte{0x01}, bytes.Repeat([]byte{0xa5}, 60)...)

// A join token is checked where every node agrees: in the state machine.
func TestFSM_ConsumeJoinTokenRefusals(t *testing.T) {
	f := fsmtest.Open(t)
	l := fsmtest.NewLog(t, f)
	l.Must(&fsm.CreateJoinToken{ID: "jt-1", Hash: hash64("a"), TTL: time.Hour, Uses: 1})
	l.Must(&fsm.CreateJoinToken{ID: "jt-2", Hash: hash64("b"), TTL: time.Hour, Uses: 3})
	l.Must(&fsm.CreateJoinToken{ID: "jt-3", Hash: hash64("c"), TTL: time.Minute, Uses: 3})

	unauthorized := func(p fsm.Payload, want string) {
		t.Helper()
		err := l.Apply(p).Err
		require.ErrorIs(t, err, fsm.ErrUnauthorized)
		assert.Contains(t, err.Error(), want)
	}
	unauthorized(joinWith("jt-1", "wrong", "n2"), "unknown")
	unauthorized(joinWith("jt-9", "a", "n2"), "unknown")
	l.Must(joinWith("jt-1", "a", "n2"))
	unauthorized(joinWith("jt-1", "a", "n3"), "used up")
	l.Must(&fsm.RevokeJoinToken{ID: "jt-2"})
	unauthorized(joinWith("jt-2", "b", "n3"), "revoked")
	l.Advance(2 * time.Minute)
	unauthorized(joinWith("jt-3", "c", "n3"), "expired")

	toks, err := f.JoinTokens(fsm.Page{})
	require.NoError(t, err)
	require.Len(t, toks.Items, 3)
	assert.Equal(t, []string{"n2"}, toks.Items[0].UsedBy, "refused uses leave no trace")
	assert.Equal(t, 3, toks.Items[2].UsesLeft)
}

// The cluster CA is written once; a node certificate revoked with its node
// is never recorded again.
func TestFSM_ClusterCAWrittenOnce(t *testing.T) {
	l := fsmtest.NewLog(t, fsmtest.Open(t))
	l.Must(&fsm.SetClusterCA{CA: clusterCA})
	l.Must(&fsm.SetClusterCA{CA: clusterCA})
	other := clusterCA
	other.Fingerprint = hash64("other")
	require.ErrorIs(t, l.Apply(&fsm.SetClusterCA{CA: other}).Err, fsm.ErrConflict)
	plain := clusterCA
	plain.SealedKey = "-----BEGIN EC PRIVATE KEY-----"
	_, err := fsm.NewCommand(fsm.Meta{Time: fsmtest.T0}, &fsm.SetClusterCA{CA: plain})
	require.ErrorIs(t, err, fsm.ErrInvalid)

	l.Must(&fsm.RegisterMember{Member: fsm.Member{NodeID: "n2", RaftAddr: "a:1", APIAddr: "a:2"}})
	l.Must(&fsm.RecordNodeCert{NodeID: "n2", Serial: "0a", NotAfter: fsmtest.T0.Add(time.Hour)})
	l.Must(&fsm.RemoveMember{NodeID: "n2"})
	require.ErrorIs(t, l.Apply(&fsm.RecordNodeCert{NodeID: "n2", Serial: "0a", NotAfter: fsmtest.T0.Add(time.Hour)}).Err, fsm.ErrState)
}
