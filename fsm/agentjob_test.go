package fsm_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/certctl/certctl/fsm"
	"github.com/certctl/certctl/fsm/fsmtest"
)

// TestAgentReport_CountsTheAttempt: an agent reporting on a deployment it
// was handed Pending has made one attempt, started when it reported; a
// report on a job the server had claimed (a CSR's renewal) counts nothing
// more.
func TestAgentReport_CountsTheAttempt(t *testing.T) {
	f, l := seeded(t)
	require.NoError(t, l.Apply(&fsm.CreateJobs{Jobs: []fsm.Job{fsmtest.DeploymentJob("job-ok"), fsmtest.DeploymentJob("job-bad")}}).Err)
	l.Advance(time.Minute)
	require.NoError(t, l.Apply(&fsm.CompleteJob{JobID: "job-ok", AgentID: fsmtest.AgentID}).Err)
	require.NoError(t, l.Apply(&fsm.FailJob{JobID: "job-bad", AgentID: fsmtest.AgentID, Error: "nginx -t failed"}).Err)
	for _, id := range []string{"job-ok", "job-bad"} {
		j, err := f.Job(id)
		require.NoError(t, err)
		assert.Equal(t, 1, j.Attempts, id)
		require.NotNil(t, j.StartedAt, id)
		assert.Equal(t, l.Now, *j.StartedAt, id)
	}

	require.NoError(t, l.Apply(&fsm.CreateJobs{Jobs: []fsm.Job{fsmtest.Job("job-renew", fsm.JobRenewal)}}).Err)
	require.NoError(t, l.Apply(&fsm.ClaimJob{JobID: "job-renew", Holder: "node-1", LeaseUntil: l.Now.Add(time.Minute)}).Err)
	require.NoError(t, l.Apply(&fsm.AwaitCSR{JobID: "job-renew", Holder: "node-1", AgentID: fsmtest.AgentID}).Err)
	require.NoError(t, l.Apply(&fsm.CompleteJob{JobID: "job-renew", AgentID: fsmtest.AgentID}).Err)
	j, err := f.Job("job-renew")
	require.NoError(t, err)
	assert.Equal(t, 1, j.Attempts, "the claim counted it")
}

// TestOnJobsQueued_CalledAfterJobsAreCreated: the hook runs once per commit
// that created jobs, and not for other commands.
func TestOnJobsQueued_CalledAfterJobsAreCreated(t *testing.T) {
	f, l := seeded(t)
	calls := 0
	f.OnJobsQueued(func() { calls++ })
	require.NoError(t, l.Apply(&fsm.SetCertificateStatus{ID: fsmtest.CertificateID, Status: fsm.CertExpiring}).Err)
	assert.Zero(t, calls)
	require.NoError(t, l.Apply(&fsm.CreateJobs{Jobs: []fsm.Job{fsmtest.DeploymentJob("job-1")}}).Err)
	assert.Equal(t, 1, calls)
	require.Error(t, l.Apply(&fsm.CreateJobs{Jobs: []fsm.Job{fsmtest.DeploymentJob("job-1")}}).Err, "a duplicate id")
	assert.Equal(t, 1, calls, "a refused command queued nothing")
}
