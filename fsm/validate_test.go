package fsm_test

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/certctl/certctl/fsm"
	"github.com/certctl/certctl/fsm/fsmtest"
)

func TestFSM_NewCommandRejectsInvalid(t *testing.T) {
	cert := func(mod func(c *fsm.Certificate)) fsm.Payload {
		c := fsmtest.Certificate("mc-2", "api.example.com")
		mod(&c)
		return &fsm.CreateCertificate{Certificate: c}
	}
	version := func(mod func(v *fsm.CertificateVersion)) fsm.Payload {
		v := fsmtest.Version("ver-1", fsmtest.CertificateID, 1, fsmtest.T0, time.Hour)
		mod(&v)
		return &fsm.RecordVersion{Version: v}
	}
	cases := []struct {
		name    string
		payload fsm.Payload
		field   string
	}{
		{"team without id", &fsm.CreateTeam{Team: fsm.Team{Name: "x"}}, "id"},
		{"team id with a slash", &fsm.CreateTeam{Team: fsm.Team{ID: "a/b", Name: "x"}}, "id"},
		{"team id with dot-dot", &fsm.CreateTeam{Team: fsm.Team{ID: "a..b", Name: "x"}}, "id"},
		{"team id too long", &fsm.CreateTeam{Team: fsm.Team{ID: strings.Repeat("a", fsm.MaxIDLength+1), Name: "x"}}, "id"},
		{"team without name", &fsm.CreateTeam{Team: fsm.Team{ID: "t"}}, "name"},
		{"team name with NUL", &fsm.CreateTeam{Team: fsm.Team{ID: "t", Name: "a\x00b"}}, "name"},
		{"team name not UTF-8", &fsm.CreateTeam{Team: fsm.Team{ID: "t", Name: "\xff"}}, "name"},
		{"owner with a bad email", &fsm.CreateOwner{Owner: fsm.Owner{ID: "o", Name: "x", Email: "Ada <ada@example.com>"}}, "email"},
		{"renewal window of zero days", &fsm.CreateRenewalPolicy{Policy: fsm.RenewalPolicy{ID: "p", Name: "x", RenewalWindowDays: ptr(0)}}, "renewal_window_days"},
		{"negative alert threshold", &fsm.CreateRenewalPolicy{Policy: fsm.RenewalPolicy{ID: "p", Name: "x", AlertThresholdsDays: []int{-1}}}, "alert_thresholds_days"},
		{"unknown issuer type", &fsm.CreateIssuer{Issuer: fsm.Issuer{ID: "i", Name: "x", Type: "Bogus"}}, "type"},
		{"issuer config not an object", &fsm.CreateIssuer{Issuer: fsm.Issuer{ID: "i", Name: "x", Type: "ACME", Config: []byte(`[1]`)}}, "config"},
		{"unknown target type", &fsm.CreateTarget{Target: fsm.Target{ID: "t", Name: "x", Type: "Tomcat"}}, "type"},
		{"unknown rule severity", &fsm.CreatePolicyRule{Rule: fsm.PolicyRule{ID: "r", Name: "x", Type: "AllowedIssuers", Severity: "Fatal"}}, "severity"},
		{"certificate common name with a space", cert(func(c *fsm.Certificate) { c.CommonName = "www example.com" }), "common_name"},
		{"certificate wildcard in the middle", cert(func(c *fsm.Certificate) { c.CommonName = "www.*.example.com" }), "common_name"},
		{"certificate bad SAN", cert(func(c *fsm.Certificate) { c.SANs = []string{"-bad.example.com"} }), "sans"},
		{"certificate without owner", cert(func(c *fsm.Certificate) { c.OwnerID = "" }), "owner_id"},
		{"certificate unknown status", cert(func(c *fsm.Certificate) { c.Status = "Sleeping" }), "status"},
		{"certificate unknown key generation", cert(func(c *fsm.Certificate) { c.KeyGeneration = "hsm" }), "key_generation"},
		{"certificate unknown key type", cert(func(c *fsm.Certificate) { c.KeyType = "DSA-1024" }), "key_type"},
		{"certificate with too many tags", cert(func(c *fsm.Certificate) {
			c.Tags = map[string]string{}
			for i := range fsm.MaxTags + 1 {
				c.Tags[fmt.Sprint("k", i)] = "v"
			}
		}), "tags"},
		{"status unknown", &fsm.SetCertificateStatus{ID: "mc-1", Status: "Sleeping"}, "status"},
		{"server key in the clear", &fsm.RecordVersion{Version: fsmtest.Version("ver-1", fsmtest.CertificateID, 1, fsmtest.T0, time.Hour),
			SealedKey: []byte("\x01-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEIK9z0aZq3n8vQ7mR2xT4wYpL5sK1jH6dN0cB8eF3gU2oAoGCCqGSM49\n-----END EC PRIVATE KEY-----\n")}, "sealed_key"},
		{"server key in DER", &fsm.RecordVersion{Version: fsmtest.Version("ver-1", fsmtest.CertificateID, 1, fsmtest.T0, time.Hour),
			SealedKey: append([]byte{0x30, 0x77, 0x02, 0x01}, make([]byte, 40)...)}, "sealed_key"},
		{"server key agents without a key", &fsm.RecordVersion{Version: fsmtest.Version("ver-1", fsmtest.CertificateID, 1, fsmtest.T0, time.Hour),
			KeyAgentIDs: []string{fsmtest.AgentID}}, "key_agent_ids"},
		{"server key agents unsorted", &fsm.RecordVersion{Version: fsmtest.Version("ver-1", fsmtest.CertificateID, 1, fsmtest.T0, time.Hour),
			SealedKey: append([]byte{0x01}, make([]byte, 40)...), KeyAgentIDs: []string{"ag-b", "ag-a"}}, "key_agent_ids"},
		{"cleared secret still held", &fsm.UpdateTarget{Target: fsm.Target{ID: fsmtest.TargetID, Name: "f5", Type: "F5", AgentID: fsmtest.AgentID,
			Config: json.RawMessage(`{"Password":"sealed:v2:AAAA"}`)}, ClearedSecrets: []string{"password"}}, "cleared_secrets"},
		{"cleared issuer secret still held", &fsm.UpdateIssuer{Issuer: fsm.Issuer{ID: "iss-1", Name: "acme", Type: "ACME",
			Config: json.RawMessage(`{"eab_hmac_key":"x"}`)}, ClearedSecrets: []string{"eab_hmac_key"}}, "cleared_secrets"},
		{"version with a private key", version(func(v *fsm.CertificateVersion) { v.PEMChain += "-----BEGIN PRIVATE KEY-----\n" }), "pem_chain"},
		{"version expiring before it starts", version(func(v *fsm.CertificateVersion) { v.NotAfter = v.NotBefore }), "not_after"},
		{"version with a short fingerprint", version(func(v *fsm.CertificateVersion) { v.FingerprintSHA256 = "abcd" }), "fingerprint_sha256"},
		{"no jobs", &fsm.CreateJobs{}, "jobs"},
		{"job of unknown type", &fsm.CreateJobs{Jobs: []fsm.Job{{ID: "j", Type: "Reboot", CertificateID: "mc-1"}}}, "type"},
		{"job created Running", &fsm.CreateJobs{Jobs: []fsm.Job{{ID: "j", Type: fsm.JobRenewal, CertificateID: "mc-1", Status: fsm.JobRunning}}}, "status"},
		{"job with 101 attempts", &fsm.CreateJobs{Jobs: []fsm.Job{{ID: "j", Type: fsm.JobRenewal, CertificateID: "mc-1", MaxAttempts: 101}}}, "max_attempts"},
		{"claim without a lease", &fsm.ClaimJob{JobID: "j", Holder: "node-1"}, "lease_until"},
		{"claim without a holder", &fsm.ClaimJob{JobID: "j", LeaseUntil: fsmtest.T0}, "holder"},
		{"deployment result not an object", &fsm.CompleteJob{JobID: "j", DeploymentResult: []byte(`"ok"`)}, "deployment_result"},
		{"agent key hash not SHA-256", &fsm.RegisterAgent{Agent: fsm.Agent{ID: "a", Name: "x", Hostname: "h", APIKeyHash: "abc"}}, "api_key_hash"},
		{"no heartbeats", &fsm.RecordHeartbeats{}, "beats"},
		{"heartbeat without time", &fsm.RecordHeartbeats{Beats: []fsm.Heartbeat{{AgentID: "a"}}}, "at"},
		{"notification on an unknown channel", &fsm.CreateNotifications{Notifications: []fsm.Notification{{ID: "n", Type: "Revocation", Channel: "Pager", Message: "m"}}}, "channel"},
		{"notification created sent", &fsm.CreateNotifications{Notifications: []fsm.Notification{{ID: "n", Type: "Revocation", Channel: "Email", Message: "m", Status: "sent"}}}, "status"},
		{"failed notification without retry", &fsm.MarkNotificationFailed{ID: "n", Error: "e"}, "retry_at"},
		{"violation of another certificate", &fsm.RecordViolations{CertificateID: "mc-1", Violations: []fsm.PolicyViolation{fsmtest.Violation("v", "mc-2")}}, "certificate_id"},
		{"API key of an unknown role", &fsm.CreateAPIKey{Key: fsmtest.APIKey("k", "root", "", 1)}, "role"},
		{"agent key without agent", &fsm.CreateAPIKey{Key: fsmtest.APIKey("k", fsm.RoleAgent, "", 1)}, "agent_id"},
		{"operator key with an agent", &fsm.CreateAPIKey{Key: fsmtest.APIKey("k", fsm.RoleOperator, "agent-1", 1)}, "agent_id"},
		{"API key hash not SHA-256", &fsm.CreateAPIKey{Key: fsm.APIKey{ID: "k", Name: "k", Role: fsm.RoleViewer, Hash: "secret"}}, "hash"},
		{"agent registered with another agent's key", &fsm.RegisterAgent{Agent: fsmtest.Agent("agent-2", "web-02"),
			Key: ptr(fsmtest.APIKey("k", fsm.RoleAgent, "agent-1", 1))}, "key"},
		{"revocation for an unknown reason", &fsm.RevokeCertificate{CertificateID: "mc-1", Reason: "boredom"}, "reason"},
		{"member without api address", &fsm.RegisterMember{Member: fsm.Member{NodeID: "n", RaftAddr: "r:1"}}, "api_addr"},
		{"cluster id with a space", &fsm.InitCluster{ClusterID: "a b"}, "cluster_id"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cmd, err := fsm.NewCommand(fsm.Meta{Time: fsmtest.T0}, tc.payload)

			assert.Nil(t, cmd)
			require.ErrorIs(t, err, fsm.ErrInvalid)
			var e *fsm.Error
			require.True(t, errors.As(err, &e))
			assert.Equal(t, tc.field, e.Field)
			assert.Equal(t, fsm.CodeInvalid, fsm.CodeOf(err))
		})
	}

	t.Run("no time", func(t *testing.T) {
		_, err := fsm.NewCommand(fsm.Meta{}, &fsm.CreateTeam{Team: fsmtest.Team("t", "x")})
		assert.ErrorIs(t, err, fsm.ErrInvalid)
	})
}

func TestFSM_NewCommandDefaultsAndNormalizes(t *testing.T) {
	cmd, err := fsm.NewCommand(fsm.Meta{Time: fsmtest.T0.In(time.FixedZone("CET", 3600))},
		&fsm.SetCertificateStatus{ID: "mc-1", Status: "ACTIVE", From: "pending"})
	require.NoError(t, err)

	assert.Equal(t, fsm.CommandSetCertificateStatus, cmd.Type)
	assert.Equal(t, "system", cmd.Actor)
	assert.Equal(t, fsm.ActorSystem, cmd.ActorType)
	assert.Equal(t, time.UTC, cmd.Time.Location())
	assert.True(t, cmd.Time.Equal(fsmtest.T0))
	data, err := cmd.Encode()
	require.NoError(t, err)
	_, p, err := fsm.DecodeCommand(data)
	require.NoError(t, err)
	assert.Equal(t, &fsm.SetCertificateStatus{ID: "mc-1", Status: fsm.CertActive, From: fsm.CertPending}, p)
}

// rawCommand builds the bytes of a command envelope by hand, bypassing the
// validation of NewCommand.
func rawCommand(typ fsm.CommandType, payload string) []byte {
	return fmt.Appendf(nil, `{"type":%d,"time":"2025-03-01T12:00:00Z","actor":"a","actor_type":"User","payload":%s}`, typ, payload)
}

// TestFSM_ApplyRejectsMalformedEntries feeds Apply bytes that NewCommand
// would never produce. Each is refused with ErrInvalid and writes nothing but
// what a raft no-op writes (see applyAgainstNoop).
func TestFSM_ApplyRejectsMalformedEntries(t *testing.T) {
	cases := []struct {
		name  string
		data  []byte
		field string
	}{
		{"empty", nil, ""},
		{"garbage", []byte("\x00\x01certctl\xff"), ""},
		{"JSON array", []byte(`[1,2,3]`), ""},
		{"truncated JSON", rawCommand(fsm.CommandCreateTeam, `{"team":{"id":"t","name":"x"}}`)[:40], ""},
		{"no time", []byte(`{"type":10,"payload":{"team":{"id":"t","name":"x"}}}`), "time"},
		{"unknown command type", rawCommand(999, `{}`), "type"},
		{"command type zero", rawCommand(fsm.CommandUnknown, `{}`), "type"},
		{"payload not an object", rawCommand(fsm.CommandCreateTeam, `"team"`), "payload"},
		{"payload of wrong field types", rawCommand(fsm.CommandCreateTeam, `{"team":{"id":7}}`), "payload"},
		{"null payload", rawCommand(fsm.CommandCreateTeam, `null`), "id"},
		{"invalid id", rawCommand(fsm.CommandCreateTeam, `{"team":{"id":"../etc","name":"x"}}`), "id"},
		{"control character in a name", rawCommand(fsm.CommandCreateTeam, `{"team":{"id":"t","name":"a\u0007"}}`), "name"},
		{"private key in a version", rawCommand(fsm.CommandRecordVersion,
			`{"version":{"id":"v","certificate_id":"mc-1","serial_number":"1","not_before":"2025-01-01T00:00:00Z","not_after":"2026-01-01T00:00:00Z",`+
				`"fingerprint_sha256":"`+strings.Repeat("ab", 32)+`","pem_chain":"-----BEGIN RSA PRIVATE KEY-----"}}`), "pem_chain"},
		{"server key in the clear in a version", rawCommand(fsm.CommandRecordVersion,
			`{"version":{"id":"v","certificate_id":"mc-1","serial_number":"1","not_before":"2025-01-01T00:00:00Z","not_after":"2026-01-01T00:00:00Z",`+
				`"fingerprint_sha256":"`+strings.Repeat("ab", 32)+`","pem_chain":"-----BEGIN CERTIFICATE-----"},"sealed_key":"`+
				base64.StdEncoding.EncodeToString([]byte("\x01-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg\n-----END PRIVATE KEY-----\n"))+`"}`), "sealed_key"},
		{"too many jobs", rawCommand(fsm.CommandCreateJobs, `{"jobs":[`+strings.Repeat(`{"id":"j","type":"Renewal","certificate_id":"mc-1"},`, fsm.MaxBatch)+
			`{"id":"j","type":"Renewal","certificate_id":"mc-1"}]}`), "jobs"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a, b, l := twins(t)
			e := l.RawEntry(tc.data)

			res := applyAgainstNoop(t, a, b, e)

			require.ErrorIs(t, res.Err, fsm.ErrInvalid)
			var fe *fsm.Error
			require.True(t, errors.As(res.Err, &fe))
			assert.Equal(t, tc.field, fe.Field)
			assert.Equal(t, e.Index, a.AppliedIndex(), "a malformed entry is still consumed")
			assert.Equal(t, stateHash(t, b), stateHash(t, a), "a malformed entry changed the state")
		})
	}
}

// TestFSM_ApplyMalformedEntryWithRequestID checks that an entry whose request
// id cannot even be decoded is not remembered: a valid retry then applies.
func TestFSM_ApplyMalformedEntryWithRequestID(t *testing.T) {
	f, l := seeded(t)
	bad := []byte(`{"type":10,"request_id":"req-1","time":"2025-03-01T12:00:00Z","payload":{"team":{"id":"../x","name":"x"}}}`)
	require.ErrorIs(t, l.ApplyRaw(bad).Err, fsm.ErrInvalid)

	m := l.Meta()
	m.RequestID = "req-1"
	require.NoError(t, l.ApplyWith(m, &fsm.CreateTeam{Team: fsmtest.Team("team-2", "Security")}).Err)

	_, err := f.Team("team-2")
	assert.NoError(t, err)
}
