package fsm_test

import (
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	bolt "go.etcd.io/bbolt"

	"github.com/certctl/certctl/fsm"
	"github.com/certctl/certctl/fsm/fsmtest"
)

// TestFSM_LifecycleRequestsRefuse checks each refusal of the lifecycle's
// requests: its code, the message a person acts on, and that nothing but
// the applied index changed.
func TestFSM_LifecycleRequestsRefuse(t *testing.T) {
	cert := fsmtest.CertificateID
	version := func(l *fsmtest.Log) {
		l.Must(&fsm.RecordVersion{Version: fsmtest.Version("ver-1", cert, 1, fsmtest.T0, 90*24*time.Hour)})
	}
	archived := func(l *fsmtest.Log) { l.Must(&fsm.ArchiveCertificate{ID: cert}) }
	revoked := func(l *fsmtest.Log) { l.Must(&fsm.RequestRevocation{CertificateID: cert}) }
	expired := func(l *fsmtest.Log) {
		l.Must(&fsm.RecordVersion{Version: fsmtest.Version("ver-0", cert, 1, at(-100*24*time.Hour), 10*24*time.Hour)})
		l.Must(&fsm.SetCertificateStatus{ID: cert, Status: fsm.CertExpired})
	}
	cases := []struct {
		name    string
		setup   func(l *fsmtest.Log)
		payload fsm.Payload
		code    fsm.Code
		message string
	}{
		{"RequestRenewal/unknown certificate", nil, &fsm.RequestRenewal{CertificateID: "mc-x", JobID: "job-r"},
			fsm.CodeNotFound, `certificate "mc-x" not found`},
		{"RequestRenewal/archived", archived, &fsm.RequestRenewal{CertificateID: cert, JobID: "job-r"},
			fsm.CodeState, `certificate "mc-1" is Archived and cannot be renewed; create a new certificate instead`},
		{"RequestRenewal/revoked", revoked, &fsm.RequestRenewal{CertificateID: cert, JobID: "job-r"},
			fsm.CodeState, `certificate "mc-1" is Revoked and cannot be renewed; create a new certificate instead`},
		{"RequestRenewal/the same job again, finished", func(l *fsmtest.Log) {
			l.Must(&fsm.RequestRenewal{CertificateID: cert, JobID: "job-1"})
			l.Must(&fsm.CancelJob{JobID: "job-1"})
		}, &fsm.RequestRenewal{CertificateID: cert, JobID: "job-1"}, fsm.CodeConflict, `job "job-1" already exists`},
		{"RequestRenewal/enforced rule, when asked to check", func(l *fsmtest.Log) {
			r := fsmtest.Rule("rule-2", "Only issuer-2")
			r.Config, r.Severity = []byte(`{"allowed_issuer_ids":["issuer-2"]}`), fsm.SeverityError
			l.Must(&fsm.CreatePolicyRule{Rule: r})
		}, &fsm.RequestRenewal{CertificateID: cert, JobID: "job-r", CheckPolicies: true}, fsm.CodePolicy, ""},

		{"RequestDeployment/archived", func(l *fsmtest.Log) { version(l); archived(l) }, &fsm.RequestDeployment{CertificateID: cert, JobID: "job-d"},
			fsm.CodeState, `certificate "mc-1" is Archived and cannot be deployed; create a new certificate instead`},
		{"RequestDeployment/revoked", func(l *fsmtest.Log) { version(l); revoked(l) }, &fsm.RequestDeployment{CertificateID: cert, JobID: "job-d"},
			fsm.CodeState, `certificate "mc-1" is Revoked and cannot be deployed; create a new certificate instead`},
		{"RequestDeployment/never issued", nil, &fsm.RequestDeployment{CertificateID: cert, JobID: "job-d"},
			fsm.CodeState, `certificate "mc-1" has not been issued yet; renew it first`},
		{"RequestDeployment/target not mapped", func(l *fsmtest.Log) {
			version(l)
			l.Must(&fsm.CreateTarget{Target: fsmtest.Target("target-2", "t2", fsmtest.AgentID)})
		}, &fsm.RequestDeployment{CertificateID: cert, TargetID: "target-2", JobID: "job-d"},
			fsm.CodeInvalid, `target target-2 is not mapped to certificate mc-1; map it first (target_ids)`},
		{"RequestDeployment/no target", func(l *fsmtest.Log) {
			version(l)
			l.Must(&fsm.UnmapTarget{CertificateID: cert, TargetID: fsmtest.TargetID})
		}, &fsm.RequestDeployment{CertificateID: cert, JobID: "job-d"},
			fsm.CodeState, `certificate "mc-1" is mapped to no target; set target_ids first`},
		{"RequestDeployment/job exists", func(l *fsmtest.Log) {
			version(l)
			l.Must(&fsm.CreateJobs{Jobs: []fsm.Job{fsmtest.Job("job-d", fsm.JobRenewal)}})
		}, &fsm.RequestDeployment{CertificateID: cert, JobID: "job-d"}, fsm.CodeConflict, `job "job-d" already exists`},

		{"RequestRevocation/revoked", revoked, &fsm.RequestRevocation{CertificateID: cert},
			fsm.CodeState, `certificate "mc-1" is already revoked`},
		{"RequestRevocation/archived", archived, &fsm.RequestRevocation{CertificateID: cert},
			fsm.CodeState, `certificate "mc-1" is archived`},

		{"EndExpiryWatch/not expired", version, &fsm.EndExpiryWatch{CertificateID: cert, ExpiresAt: at(90 * 24 * time.Hour)},
			fsm.CodeState, `certificate "mc-1" is Active, not Expired`},
		{"EndExpiryWatch/another expiry", expired, &fsm.EndExpiryWatch{CertificateID: cert, ExpiresAt: at(time.Hour)},
			fsm.CodeState, `certificate "mc-1" does not expire at ` + at(time.Hour).Format(time.RFC3339)},
		{"EndExpiryWatch/renewal open", func(l *fsmtest.Log) {
			expired(l)
			l.Must(&fsm.RequestRenewal{CertificateID: cert, JobID: "job-r"})
		}, &fsm.EndExpiryWatch{CertificateID: cert, ExpiresAt: at(-90 * 24 * time.Hour)},
			fsm.CodeState, `certificate "mc-1" has an open Renewal job job-r (Pending); wait for it to finish, or cancel it (POST /api/v1/jobs/job-r/cancel)`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a, b, l := twins(t)
			if tc.setup != nil {
				tc.setup(l)
			}
			res := applyAgainstNoop(t, a, b, l.Entry(tc.payload))
			var e *fsm.Error
			require.True(t, errors.As(res.Err, &e), "%v is not a *fsm.Error", res.Err)
			assert.Equal(t, tc.code, e.Code)
			if tc.message != "" {
				assert.Equal(t, tc.message, e.Message)
			} else {
				assert.Contains(t, e.Message, "rule-2")
			}
			assert.Nil(t, res.Value)
			assert.Equal(t, stateHash(t, b), stateHash(t, a), "a refused request changed the state")
		})
	}
}

// TestFSM_OneOpenRenewal checks that a renewal asked for while one is open
// writes nothing and answers with the open one, also inside one batch (one
// bbolt transaction), where the second request must see the first one's
// job: the open-jobs index is read with a cursor (fsm/DESIGN.md, hasKey).
func TestFSM_OneOpenRenewal(t *testing.T) {
	a, b, l := twins(t)
	first := l.Entry(&fsm.RequestRenewal{CertificateID: fsmtest.CertificateID, JobID: "job-1"})
	second := l.Entry(&fsm.RequestRenewal{CertificateID: fsmtest.CertificateID, JobID: "job-2"})
	res := fsmtest.ApplyBatch(t, a, first, second)
	fsmtest.ApplyBatch(t, b, first, noopAt(second))
	require.NoError(t, res[0].Err)
	require.NoError(t, res[1].Err)
	assert.Equal(t, res[0].Value, res[1].Value, "the second answers with the first one's job")
	assert.Equal(t, stateHash(t, b), stateHash(t, a), "the second wrote nothing")

	claimed := l.Apply(&fsm.ClaimJob{JobID: "job-1", Holder: "node-1", LeaseUntil: at(time.Minute)})
	require.NoError(t, claimed.Err)
	again := l.Apply(&fsm.RequestRenewal{CertificateID: fsmtest.CertificateID, JobID: "job-3"})
	require.NoError(t, again.Err)
	assert.Equal(t, "job-1", again.Value.(fsm.Job).ID, "a claimed job is still open")
	_, err := a.Job("job-3")
	assert.ErrorIs(t, err, fsm.ErrNotFound)

	f := a
	l.Must(&fsm.CompleteJob{JobID: "job-1", Holder: "node-1"})
	open, err := f.OpenRenewalJob(fsmtest.CertificateID)
	require.NoError(t, err)
	assert.Nil(t, open, "a finished job leaves the index")
	l.Must(&fsm.RequestRenewal{CertificateID: fsmtest.CertificateID, JobID: "job-3"})
}

// TestFSM_ExpiryWatch checks the renewal check's index: a certificate
// enters it with an expiry and a watched status, leaves it when its watch
// ends, and comes back with a new expiry.
func TestFSM_ExpiryWatch(t *testing.T) {
	f, l := seeded(t)
	cert := fsmtest.CertificateID
	horizon := at(365 * 24 * time.Hour)
	assert.Empty(t, scanned(t, f, horizon), "never issued: not watched")
	l.Must(&fsm.RecordVersion{Version: fsmtest.Version("ver-0", cert, 1, at(-100*24*time.Hour), 10*24*time.Hour)})
	assert.Equal(t, []string{cert}, scanned(t, f, horizon))
	assert.Empty(t, scanned(t, f, at(-91*24*time.Hour)), "only up to the horizon")
	l.Must(&fsm.SetCertificateStatus{ID: cert, Status: fsm.CertExpired})
	l.Must(&fsm.EndExpiryWatch{CertificateID: cert, ExpiresAt: at(-90 * 24 * time.Hour)})
	assert.Empty(t, scanned(t, f, horizon))
	l.Must(&fsm.EndExpiryWatch{CertificateID: cert, ExpiresAt: at(-90 * 24 * time.Hour)}) // again: a no-op
	l.Must(&fsm.SetCertificateStatus{ID: cert, Status: fsm.CertFailed})
	assert.Empty(t, scanned(t, f, horizon), "a status change does not bring it back")
	l.Must(&fsm.RecordVersion{Version: fsmtest.Version("ver-1", cert, 2, fsmtest.T0, 90*24*time.Hour)})
	assert.Equal(t, []string{cert}, scanned(t, f, horizon), "a new expiry does")
	l.Must(&fsm.ArchiveCertificate{ID: cert})
	assert.Empty(t, scanned(t, f, horizon), "archived: not watched")
}

// TestFSM_LifecycleIndexesBuiltForOlderFiles checks that a state file
// written before the open-jobs and renewal-check indexes gets them on open,
// the same as a replica that kept them all along.
func TestFSM_LifecycleIndexesBuiltForOlderFiles(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	f := fsmtest.OpenPath(t, path, fsm.Options{NoSync: true})
	l := fsmtest.NewLog(t, f)
	fsmtest.Seed(l)
	l.Must(&fsm.RecordVersion{Version: fsmtest.Version("ver-1", fsmtest.CertificateID, 1, fsmtest.T0, 90*24*time.Hour)})
	l.Must(&fsm.CreateJobs{Jobs: []fsm.Job{fsmtest.Job("job-1", fsm.JobRenewal), fsmtest.DeploymentJob("job-2"), fsmtest.Job("job-3", fsm.JobIssuance)}})
	l.Must(&fsm.CompleteJob{JobID: "job-3"})
	want := stateHash(t, f)
	require.NoError(t, f.Close())

	db, err := bolt.Open(path, 0o600, nil)
	require.NoError(t, err)
	require.NoError(t, db.Update(func(tx *bolt.Tx) error {
		// A file of schema 1, written before the indexes.
		for _, b := range []string{"idx_open_jobs_by_certificate", "idx_renewal_scan", "renewal_scan_ended"} {
			if err := tx.DeleteBucket([]byte(b)); err != nil {
				return err
			}
		}
		return tx.Bucket([]byte("meta")).Put([]byte("schema_version"), u64(1))
	}))
	require.NoError(t, db.Close())

	g := fsmtest.OpenPath(t, path, fsm.Options{NoSync: true})
	assert.Equal(t, want, stateHash(t, g))
	open, err := g.OpenRenewalJob(fsmtest.CertificateID)
	require.NoError(t, err)
	require.NotNil(t, open)
	assert.Equal(t, "job-1", open.ID)
}
