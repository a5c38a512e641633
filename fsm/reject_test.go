package fsm_test

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/certctl/certctl/fsm"
	"github.com/certctl/certctl/fsm/fsmtest"
)

// TestFSM_ApplyRejects checks that each domain rejection carries its typed
// error and writes nothing: the replica that got the rejected command must
// hold exactly what its twin holds after a raft no-op at the same index (see
// applyAgainstNoop for why this compares every bucket, meta included).
func TestFSM_ApplyRejects(t *testing.T) {
	createJob := func(jobs ...fsm.Job) func(l *fsmtest.Log) {
		return func(l *fsmtest.Log) { l.Must(&fsm.CreateJobs{Jobs: jobs}) }
	}
	claimedJob := func(j fsm.Job) func(l *fsmtest.Log) {
		return func(l *fsmtest.Log) { claimed(l, j) }
	}
	withCert := func(mod func(c *fsm.Certificate)) fsm.Certificate {
		c := fsmtest.Certificate("mc-2", "api.example.com")
		mod(&c)
		return c
	}
	cases := []struct {
		name    string
		setup   func(l *fsmtest.Log)
		payload fsm.Payload
		want    error
	}{
		// Not found.
		{"UpdateTeam/unknown team", nil, &fsm.UpdateTeam{Team: fsmtest.Team("team-x", "X")}, fsm.ErrNotFound},
		{"DeleteOwner/unknown owner", nil, &fsm.DeleteOwner{ID: "owner-x"}, fsm.ErrNotFound},
		{"CreateOwner/unknown team", nil, &fsm.CreateOwner{Owner: fsmtest.Owner("owner-2", "team-x")}, fsm.ErrNotFound},
		{"CreateTarget/unknown agent", nil, &fsm.CreateTarget{Target: fsmtest.Target("target-2", "t", "agent-x")}, fsm.ErrNotFound},
		{"CreateCertificate/unknown issuer", nil, &fsm.CreateCertificate{Certificate: withCert(func(c *fsm.Certificate) { c.IssuerID = "issuer-x" })}, fsm.ErrNotFound},
		{"CreateCertificate/unknown renewal policy", nil, &fsm.CreateCertificate{Certificate: withCert(func(c *fsm.Certificate) { c.RenewalPolicyID = "policy-x" })}, fsm.ErrNotFound},
		{"CreateCertificate/unknown target", nil, &fsm.CreateCertificate{Certificate: withCert(func(c *fsm.Certificate) { c.TargetIDs = []string{fsmtest.TargetID, "target-x"} })}, fsm.ErrNotFound},
		{"UpdateCertificate/unknown certificate", nil, &fsm.UpdateCertificate{Certificate: fsmtest.Certificate("mc-x", "x.example.com")}, fsm.ErrNotFound},
		{"ArchiveCertificate/unknown certificate", nil, &fsm.ArchiveCertificate{ID: "mc-x"}, fsm.ErrNotFound},
		{"SetCertificateStatus/unknown certificate", nil, &fsm.SetCertificateStatus{ID: "mc-x", Status: fsm.CertActive}, fsm.ErrNotFound},
		{"MapTarget/unknown target", nil, &fsm.MapTarget{CertificateID: fsmtest.CertificateID, TargetID: "target-x"}, fsm.ErrNotFound},
		{"UnmapTarget/not mapped", func(l *fsmtest.Log) {
			l.Must(&fsm.CreateTarget{Target: fsmtest.Target("target-2", "t", fsmtest.AgentID)})
		}, &fsm.UnmapTarget{CertificateID: fsmtest.CertificateID, TargetID: "target-2"}, fsm.ErrNotFound},
		{"RecordVersion/unknown certificate", nil, &fsm.RecordVersion{Version: fsmtest.Version("ver-1", "mc-x", 1, fsmtest.T0, time.Hour)}, fsm.ErrNotFound},
		{"CreateJobs/unknown certificate, all or none", nil, &fsm.CreateJobs{Jobs: []fsm.Job{
			fsmtest.Job("job-1", fsm.JobRenewal), {ID: "job-2", Type: fsm.JobRenewal, CertificateID: "mc-x"},
		}}, fsm.ErrNotFound},
		{"ClaimJob/unknown job", nil, &fsm.ClaimJob{JobID: "job-x", Holder: "node-1", LeaseUntil: at(time.Minute)}, fsm.ErrNotFound},
		{"CompleteJob/unknown job", nil, &fsm.CompleteJob{JobID: "job-x"}, fsm.ErrNotFound},
		{"RemoveMember/unknown member", nil, &fsm.RemoveMember{NodeID: "node-x"}, fsm.ErrNotFound},
		{"SetAgentStatus/unknown agent", nil, &fsm.SetAgentStatus{AgentID: "agent-x", Status: fsm.AgentOnline}, fsm.ErrNotFound},
		{"CreateNotifications/unknown certificate", nil, &fsm.CreateNotifications{Notifications: []fsm.Notification{
			{ID: "n-1", Type: "RenewalFailure", CertificateID: "mc-x", Channel: "Webhook", Message: "m"},
		}}, fsm.ErrNotFound},
		{"MarkNotificationSent/unknown notification", nil, &fsm.MarkNotificationSent{ID: "n-x"}, fsm.ErrNotFound},
		{"CreateAPIKey/unknown agent", nil, &fsm.CreateAPIKey{Key: fsmtest.APIKey("key-1", fsm.RoleAgent, "agent-x", 1)}, fsm.ErrNotFound},
		{"RevokeAPIKey/unknown key", nil, &fsm.RevokeAPIKey{ID: "key-x"}, fsm.ErrNotFound},
		{"RevokeCertificate/unknown certificate", nil, &fsm.RevokeCertificate{CertificateID: "mc-x"}, fsm.ErrNotFound},
		{"RecordViolations/unknown rule", nil, &fsm.RecordViolations{CertificateID: fsmtest.CertificateID, Violations: []fsm.PolicyViolation{
			{ID: "v-1", CertificateID: fsmtest.CertificateID, RuleID: "rule-x", Message: "m", Severity: fsm.SeverityError},
		}}, fsm.ErrNotFound},

		// Conflict.
		{"CreateTeam/duplicate id", nil, &fsm.CreateTeam{Team: fsmtest.Team(fsmtest.TeamID, "Other")}, fsm.ErrConflict},
		{"CreateTeam/duplicate name", nil, &fsm.CreateTeam{Team: fsmtest.Team("team-2", "Platform")}, fsm.ErrConflict},
		{"UpdateTeam/name of another team", func(l *fsmtest.Log) {
			l.Must(&fsm.CreateTeam{Team: fsmtest.Team("team-2", "Security")})
		}, &fsm.UpdateTeam{Team: fsmtest.Team("team-2", "Platform")}, fsm.ErrConflict},
		{"DeleteTeam/referenced by an owner", func(l *fsmtest.Log) {
			l.Must(&fsm.CreateTeam{Team: fsmtest.Team("team-2", "Security")})
			l.Must(&fsm.CreateOwner{Owner: fsmtest.Owner("owner-2", "team-2")})
		}, &fsm.DeleteTeam{ID: "team-2"}, fsm.ErrConflict},
		{"DeleteOwner/referenced by a certificate", nil, &fsm.DeleteOwner{ID: fsmtest.OwnerID}, fsm.ErrConflict},
		{"DeleteIssuer/referenced by a certificate", nil, &fsm.DeleteIssuer{ID: fsmtest.IssuerID}, fsm.ErrConflict},
		{"DeleteRenewalPolicy/referenced by a certificate", nil, &fsm.DeleteRenewalPolicy{ID: fsmtest.RenewalPolicyID}, fsm.ErrConflict},
		{"DeleteTarget/mapped to a certificate", nil, &fsm.DeleteTarget{ID: fsmtest.TargetID}, fsm.ErrConflict},
		{"CreateTarget/same name on the same agent", nil, &fsm.CreateTarget{Target: fsmtest.Target("target-2", "nginx-web-01", fsmtest.AgentID)}, fsm.ErrConflict},
		{"CreateCertificate/duplicate id", nil, &fsm.CreateCertificate{Certificate: fsmtest.Certificate(fsmtest.CertificateID, "x.example.com")}, fsm.ErrConflict},
		{"CreateCertificate/duplicate name", nil, &fsm.CreateCertificate{Certificate: withCert(func(c *fsm.Certificate) { c.Name = "cert mc-1" })}, fsm.ErrConflict},
		{"RegisterAgent/duplicate name", nil, &fsm.RegisterAgent{Agent: fsmtest.Agent("agent-2", "web-01")}, fsm.ErrConflict},
		{"InitCluster/another id", func(l *fsmtest.Log) { l.Must(&fsm.InitCluster{ClusterID: "cluster-a"}) }, &fsm.InitCluster{ClusterID: "cluster-b"}, fsm.ErrConflict},
		{"CreateJobs/duplicate id in the batch", nil, &fsm.CreateJobs{Jobs: []fsm.Job{fsmtest.Job("job-1", fsm.JobRenewal), fsmtest.Job("job-1", fsm.JobRenewal)}}, fsm.ErrConflict},
		{"CreateJobs/existing id", createJob(fsmtest.Job("job-1", fsm.JobRenewal)), &fsm.CreateJobs{Jobs: []fsm.Job{fsmtest.Job("job-1", fsm.JobRenewal)}}, fsm.ErrConflict},
		{"RecordVersion/duplicate fingerprint", func(l *fsmtest.Log) {
			l.Must(&fsm.RecordVersion{Version: fsmtest.Version("ver-1", fsmtest.CertificateID, 7, fsmtest.T0, time.Hour)})
		}, &fsm.RecordVersion{Version: fsmtest.Version("ver-2", fsmtest.CertificateID, 7, fsmtest.T0, time.Hour)}, fsm.ErrConflict},
		{"CreateNotifications/duplicate id", func(l *fsmtest.Log) {
			l.Must(&fsm.CreateNotifications{Notifications: []fsm.Notification{fsmtest.Notification("n-1", "")}})
		}, &fsm.CreateNotifications{Notifications: []fsm.Notification{fsmtest.Notification("n-1", "")}}, fsm.ErrConflict},
		{"RecordViolations/id of another certificate's violation", func(l *fsmtest.Log) {
			l.Must(&fsm.CreateCertificate{Certificate: fsmtest.Certificate("mc-2", "api.example.com")})
			l.Must(&fsm.RecordViolations{CertificateID: "mc-2", Violations: []fsm.PolicyViolation{fsmtest.Violation("v-1", "mc-2")}})
		}, &fsm.RecordViolations{CertificateID: fsmtest.CertificateID, Violations: []fsm.PolicyViolation{fsmtest.Violation("v-1", fsmtest.CertificateID)}}, fsm.ErrConflict},

		{"CreateAPIKey/same secret", func(l *fsmtest.Log) {
			l.Must(&fsm.CreateAPIKey{Key: fsmtest.APIKey("key-1", fsm.RoleViewer, "", 1)})
		}, &fsm.CreateAPIKey{Key: fsmtest.APIKey("key-2", fsm.RoleViewer, "", 1)}, fsm.ErrConflict},
		{"CreateAPIKey/duplicate name", func(l *fsmtest.Log) {
			l.Must(&fsm.CreateAPIKey{Key: fsmtest.APIKey("key-1", fsm.RoleViewer, "", 1)})
		}, &fsm.CreateAPIKey{Key: withName(fsmtest.APIKey("key-2", fsm.RoleViewer, "", 2), "key key-1")}, fsm.ErrConflict},
		{"RegisterAgent/key with a used secret", func(l *fsmtest.Log) {
			l.Must(&fsm.CreateAPIKey{Key: fsmtest.APIKey("key-1", fsm.RoleViewer, "", 1)})
		}, &fsm.RegisterAgent{Agent: fsmtest.Agent("agent-2", "web-02"), Key: ptr(fsmtest.APIKey("key-2", fsm.RoleAgent, "agent-2", 1))}, fsm.ErrConflict},

		// Leases.
		{"CompleteJob/wrong holder", claimedJob(fsmtest.Job("job-1", fsm.JobRenewal)), &fsm.CompleteJob{JobID: "job-1", Holder: "node-2"}, fsm.ErrBadLease},
		{"CompleteJob/lease expired", func(l *fsmtest.Log) {
			claimed(l, fsmtest.Job("job-1", fsm.JobRenewal))
			l.Advance(5 * time.Minute)
		}, &fsm.CompleteJob{JobID: "job-1", Holder: "node-1"}, fsm.ErrBadLease},
		{"CompleteJob/not leased", createJob(fsmtest.Job("job-1", fsm.JobRenewal)), &fsm.CompleteJob{JobID: "job-1", Holder: "node-1"}, fsm.ErrBadLease},
		{"CompleteJob/another agent's job", createJob(fsmtest.DeploymentJob("job-1")), &fsm.CompleteJob{JobID: "job-1", AgentID: "agent-2"}, fsm.ErrBadLease},
		{"FailJob/wrong holder", claimedJob(fsmtest.Job("job-1", fsm.JobRenewal)), &fsm.FailJob{JobID: "job-1", Holder: "node-2", Error: "e"}, fsm.ErrBadLease},
		{"ReleaseLease/wrong holder", claimedJob(fsmtest.Job("job-1", fsm.JobRenewal)), &fsm.ReleaseLease{JobID: "job-1", Holder: "node-2"}, fsm.ErrBadLease},
		{"AwaitCSR/unknown agent", claimedJob(fsmtest.Job("job-1", fsm.JobIssuance)), &fsm.AwaitCSR{JobID: "job-1", Holder: "node-1", AgentID: "agent-9"}, fsm.ErrNotFound},
		{"AwaitCSR/another agent's job", claimedJob(fsmtest.DeploymentJob("job-1")), &fsm.AwaitCSR{JobID: "job-1", Holder: "node-1", AgentID: "agent-9"}, fsm.ErrConflict},
		{"SetIssuerMaterial/other material", func(l *fsmtest.Log) {
			l.Must(&fsm.SetIssuerMaterial{IssuerID: fsmtest.IssuerID, Material: json.RawMessage(`{"kek_id":"k1"}`)})
		}, &fsm.SetIssuerMaterial{IssuerID: fsmtest.IssuerID, Material: json.RawMessage(`{"kek_id":"k2"}`)}, fsm.ErrConflict},
		{"SetIssuerMaterial/unknown issuer", nil, &fsm.SetIssuerMaterial{IssuerID: "issuer-9", Material: json.RawMessage(`{"kek_id":"k1"}`)}, fsm.ErrNotFound},
		{"AwaitCSR/wrong holder", claimedJob(fsmtest.Job("job-1", fsm.JobIssuance)), &fsm.AwaitCSR{JobID: "job-1", Holder: "node-2"}, fsm.ErrBadLease},
		{"ClaimJob/lease in the past", createJob(fsmtest.Job("job-1", fsm.JobRenewal)), &fsm.ClaimJob{JobID: "job-1", Holder: "node-1", LeaseUntil: fsmtest.T0}, fsm.ErrBadLease},
		{"ClaimJob/leased to another", claimedJob(fsmtest.Job("job-1", fsm.JobRenewal)), &fsm.ClaimJob{JobID: "job-1", Holder: "node-2", LeaseUntil: at(time.Hour)}, fsm.ErrLeaseHeld},
		{"ClaimJob/leased to another, one tick before expiry", func(l *fsmtest.Log) {
			claimed(l, fsmtest.Job("job-1", fsm.JobRenewal))
			l.Advance(5*time.Minute - time.Microsecond)
		}, &fsm.ClaimJob{JobID: "job-1", Holder: "node-2", LeaseUntil: at(time.Hour)}, fsm.ErrLeaseHeld},

		// State.
		{"CancelJob/completed", func(l *fsmtest.Log) {
			claimed(l, fsmtest.Job("job-1", fsm.JobRenewal))
			l.Must(&fsm.CompleteJob{JobID: "job-1", Holder: "node-1"})
		}, &fsm.CancelJob{JobID: "job-1"}, fsm.ErrState},
		{"ClaimJob/cancelled", func(l *fsmtest.Log) {
			l.Must(&fsm.CreateJobs{Jobs: []fsm.Job{fsmtest.Job("job-1", fsm.JobRenewal)}})
			l.Must(&fsm.CancelJob{JobID: "job-1"})
		}, &fsm.ClaimJob{JobID: "job-1", Holder: "node-1", LeaseUntil: at(time.Hour)}, fsm.ErrState},
		{"ClaimJob/not due", createJob(fsm.Job{ID: "job-1", Type: fsm.JobRenewal, CertificateID: fsmtest.CertificateID, ScheduledAt: at(time.Hour)}),
			&fsm.ClaimJob{JobID: "job-1", Holder: "node-1", LeaseUntil: at(2 * time.Hour)}, fsm.ErrState},
		{"FailJob/completed", func(l *fsmtest.Log) {
			claimed(l, fsmtest.Job("job-1", fsm.JobRenewal))
			l.Must(&fsm.CompleteJob{JobID: "job-1", Holder: "node-1"})
		}, &fsm.FailJob{JobID: "job-1", Error: "late"}, fsm.ErrState},
		{"SetCertificateStatus/stale from", nil, &fsm.SetCertificateStatus{ID: fsmtest.CertificateID, Status: fsm.CertExpired, From: fsm.CertActive}, fsm.ErrState},
		{"SetCertificateStatus/archived", func(l *fsmtest.Log) { l.Must(&fsm.ArchiveCertificate{ID: fsmtest.CertificateID}) },
			&fsm.SetCertificateStatus{ID: fsmtest.CertificateID, Status: fsm.CertActive}, fsm.ErrState},
		{"UpdateCertificate/archived", func(l *fsmtest.Log) { l.Must(&fsm.ArchiveCertificate{ID: fsmtest.CertificateID}) },
			&fsm.UpdateCertificate{Certificate: fsmtest.Certificate(fsmtest.CertificateID, "www.example.com")}, fsm.ErrState},
		{"RecordVersion/archived", func(l *fsmtest.Log) { l.Must(&fsm.ArchiveCertificate{ID: fsmtest.CertificateID}) },
			&fsm.RecordVersion{Version: fsmtest.Version("ver-1", fsmtest.CertificateID, 1, fsmtest.T0, time.Hour)}, fsm.ErrState},
		{"SetAgentStatus/stale from", nil, &fsm.SetAgentStatus{AgentID: fsmtest.AgentID, Status: fsm.AgentDegraded, From: fsm.AgentOnline}, fsm.ErrState},
		{"CreateAPIKey/retired agent", func(l *fsmtest.Log) { l.Must(&fsm.RetireAgent{AgentID: fsmtest.AgentID}) },
			&fsm.CreateAPIKey{Key: fsmtest.APIKey("key-1", fsm.RoleAgent, fsmtest.AgentID, 1)}, fsm.ErrState},
		{"RevokeCertificate/revoked", func(l *fsmtest.Log) { l.Must(&fsm.RevokeCertificate{CertificateID: fsmtest.CertificateID}) },
			&fsm.RevokeCertificate{CertificateID: fsmtest.CertificateID}, fsm.ErrState},
		{"RevokeCertificate/archived", func(l *fsmtest.Log) { l.Must(&fsm.ArchiveCertificate{ID: fsmtest.CertificateID}) },
			&fsm.RevokeCertificate{CertificateID: fsmtest.CertificateID}, fsm.ErrState},
		{"MarkNotificationSent/already sent", func(l *fsmtest.Log) {
			l.Must(&fsm.CreateNotifications{Notifications: []fsm.Notification{fsmtest.Notification("n-1", "")}})
			l.Must(&fsm.MarkNotificationSent{ID: "n-1"})
		}, &fsm.MarkNotificationSent{ID: "n-1"}, fsm.ErrState},
		{"MarkNotificationFailed/dead", func(l *fsmtest.Log) {
			l.Must(&fsm.CreateNotifications{Notifications: []fsm.Notification{fsmtest.Notification("n-1", "")}})
			l.Must(&fsm.MarkNotificationFailed{ID: "n-1", Error: "e", Dead: true})
		}, &fsm.MarkNotificationFailed{ID: "n-1", Error: "e", RetryAt: ptr(at(time.Hour))}, fsm.ErrState},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a, b, l := twins(t)
			if tc.setup != nil {
				tc.setup(l)
			}

			res := applyAgainstNoop(t, a, b, l.Entry(tc.payload))

			require.Error(t, res.Err)
			assert.ErrorIs(t, res.Err, tc.want)
			var e *fsm.Error
			require.True(t, errors.As(res.Err, &e), "%T is not a *fsm.Error", res.Err)
			assert.Contains(t, e.Error(), "fsm: ")
			assert.NotEmpty(t, e.Message, "a rejection carries a reason")
			assert.Nil(t, res.Value)
			assert.Equal(t, stateHash(t, b), stateHash(t, a), "a rejected command changed the state")
		})
	}
}

func withName(k fsm.APIKey, name string) fsm.APIKey {
	k.Name = name
	return k
}

// TestFSM_ApplyRejectsInsideBatch checks that a rejected command between two
// accepted ones in one batch (one bbolt transaction) changes nothing, while
// its neighbours apply: the same batch yields the same state as the accepted
// commands alone with a no-op in the rejected one's place.
func TestFSM_ApplyRejectsInsideBatch(t *testing.T) {
	a, b, l := twins(t)
	first := l.Entry(&fsm.CreateTeam{Team: fsmtest.Team("team-2", "Security")})
	bad := l.Entry(&fsm.CreateJobs{Jobs: []fsm.Job{
		fsmtest.Job("job-1", fsm.JobRenewal), {ID: "job-2", Type: fsm.JobRenewal, CertificateID: "mc-x"},
	}})
	last := l.Entry(&fsm.CreateTeam{Team: fsmtest.Team("team-3", "Networking")})

	res := fsmtest.ApplyBatch(t, a, first, bad, last)
	fsmtest.ApplyBatch(t, b, first, noopAt(bad), last)

	assert.NoError(t, res[0].Err)
	assert.ErrorIs(t, res[1].Err, fsm.ErrNotFound)
	assert.NoError(t, res[2].Err)
	_, err := a.Job("job-1")
	assert.ErrorIs(t, err, fsm.ErrNotFound, "CreateJobs is all or none")
	assert.Equal(t, stateHash(t, b), stateHash(t, a))
	assert.Equal(t, last.Index, a.AppliedIndex())
}

// TestFSM_ClaimJobAfterLeaseExpiry checks that a Running job whose lease has
// run out is claimed by another holder, counting a new attempt.
func TestFSM_ClaimJobAfterLeaseExpiry(t *testing.T) {
	f, l := seeded(t)
	claimed(l, fsmtest.Job("job-1", fsm.JobRenewal))
	l.Advance(5 * time.Minute) // the lease ends exactly now

	res := l.Apply(&fsm.ClaimJob{JobID: "job-1", Holder: "node-2", LeaseUntil: at(10 * time.Minute)})

	require.NoError(t, res.Err)
	j, err := f.Job("job-1")
	require.NoError(t, err)
	assert.Equal(t, fsm.JobRunning, j.Status)
	assert.Equal(t, "node-2", j.LeaseHolder)
	assert.Equal(t, 2, j.Attempts)
	assert.Equal(t, ptr(at(10*time.Minute)), j.LeaseExpiresAt)
	assert.Equal(t, ptr(at(5*time.Minute)), j.StartedAt)
	events, err := f.AuditEvents(fsm.AuditFilter{ResourceID: "job-1", Action: "job_claimed"}, fsm.Page{})
	require.NoError(t, err)
	assert.Equal(t, 2, events.Total)
}

// TestFSM_ClaimJobExtendsOwnLease checks that the holder claiming again only
// moves its lease, without counting an attempt or writing an audit event.
func TestFSM_ClaimJobExtendsOwnLease(t *testing.T) {
	f, l := seeded(t)
	claimed(l, fsmtest.Job("job-1", fsm.JobRenewal))
	before := len(auditEvents(t, f))
	l.Advance(time.Minute)

	res := l.Apply(&fsm.ClaimJob{JobID: "job-1", Holder: "node-1", LeaseUntil: at(20 * time.Minute)})

	require.NoError(t, res.Err)
	j, err := f.Job("job-1")
	require.NoError(t, err)
	assert.Equal(t, 1, j.Attempts)
	assert.Equal(t, ptr(at(20*time.Minute)), j.LeaseExpiresAt)
	assert.Equal(t, ptr(fsmtest.T0), j.StartedAt)
	assert.Len(t, auditEvents(t, f), before)
}
