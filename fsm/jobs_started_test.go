package fsm_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/certctl/certctl/fsm"
	"github.com/certctl/certctl/fsm/fsmtest"
)

// TestStartJob_RunningThenCompleted: the original agent's Running report
// moves its Pending deployment to Running with started_at and one attempt; a
// second report changes nothing; only Completed ends it, counting no second
// attempt, with completed_at after started_at.
func TestStartJob_RunningThenCompleted(t *testing.T) {
	f, l := seeded(t)
	l.Must(&fsm.CreateJobs{Jobs: []fsm.Job{fsmtest.DeploymentJob("job-1")}})
	l.Advance(time.Minute)
	started := l.Now

	require.NoError(t, l.Apply(&fsm.StartJob{JobID: "job-1", AgentID: fsmtest.AgentID}).Err)
	j, err := f.Job("job-1")
	require.NoError(t, err)
	assert.Equal(t, fsm.JobRunning, j.Status)
	assert.Equal(t, ptr(started), j.StartedAt)
	assert.Equal(t, 1, j.Attempts)
	assert.Empty(t, j.LeaseHolder, "an agent takes no lease")
	assert.Nil(t, j.CompletedAt, "Running is not an end")

	l.Advance(time.Second)
	before := stateHash(t, f)
	require.NoError(t, l.Apply(&fsm.StartJob{JobID: "job-1", AgentID: fsmtest.AgentID}).Err, "a repeated report is accepted")
	after := stateHash(t, f)
	delete(before, "meta")
	delete(after, "meta")
	assert.Equal(t, before, after, "a repeated report writes nothing but the applied index")

	l.Advance(time.Minute)
	require.NoError(t, l.Apply(&fsm.CompleteJob{JobID: "job-1", AgentID: fsmtest.AgentID}).Err)
	j, err = f.Job("job-1")
	require.NoError(t, err)
	assert.Equal(t, fsm.JobCompleted, j.Status)
	assert.Equal(t, ptr(started), j.StartedAt, "started_at is the Running report's")
	require.NotNil(t, j.CompletedAt)
	assert.True(t, j.StartedAt.Before(*j.CompletedAt))
	assert.Equal(t, 1, j.Attempts, "Running counted the attempt; Completed counts no other")

	events, err := f.AuditEvents(fsm.AuditFilter{ResourceID: "job-1", Action: "job_started"}, fsm.Page{})
	require.NoError(t, err)
	assert.Equal(t, 1, events.Total, "one job_started event, none for the repeated report")
}

// TestStartJob_Refusals: Running ends nothing and starts only what the
// agent may start.
func TestStartJob_Refusals(t *testing.T) {
	cases := []struct {
		name  string
		setup func(l *fsmtest.Log)
		start fsm.StartJob
		want  error
	}{
		{"unknown job", nil, fsm.StartJob{JobID: "job-none", AgentID: fsmtest.AgentID}, fsm.ErrNotFound},
		{"another agent's job", func(l *fsmtest.Log) {
			l.Must(&fsm.CreateJobs{Jobs: []fsm.Job{fsmtest.DeploymentJob("job-1")}})
		}, fsm.StartJob{JobID: "job-1", AgentID: "agent-other"}, fsm.ErrBadLease},
		{"finished job", func(l *fsmtest.Log) {
			l.Must(&fsm.CreateJobs{Jobs: []fsm.Job{fsmtest.DeploymentJob("job-1")}})
			l.Must(&fsm.CompleteJob{JobID: "job-1", AgentID: fsmtest.AgentID})
		}, fsm.StartJob{JobID: "job-1", AgentID: fsmtest.AgentID}, fsm.ErrState},
		{"job waiting for a CSR", func(l *fsmtest.Log) {
			l.Must(&fsm.CreateJobs{Jobs: []fsm.Job{fsmtest.Job("job-1", fsm.JobRenewal)}})
			l.Must(&fsm.ClaimJob{JobID: "job-1", Holder: "node-1", LeaseUntil: at(5 * time.Minute)})
			l.Must(&fsm.AwaitCSR{JobID: "job-1", Holder: "node-1", AgentID: fsmtest.AgentID})
		}, fsm.StartJob{JobID: "job-1", AgentID: fsmtest.AgentID}, fsm.ErrState},
		{"job leased to the server", func(l *fsmtest.Log) {
			j := fsmtest.Job("job-1", fsm.JobRenewal)
			j.AgentID = fsmtest.AgentID
			l.Must(&fsm.CreateJobs{Jobs: []fsm.Job{j}})
			l.Must(&fsm.ClaimJob{JobID: "job-1", Holder: "node-1", LeaseUntil: at(5 * time.Minute)})
		}, fsm.StartJob{JobID: "job-1", AgentID: fsmtest.AgentID}, fsm.ErrLeaseHeld},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a, b, l := twins(t)
			if tc.setup != nil {
				tc.setup(l)
			}
			res := applyAgainstNoop(t, a, b, l.Entry(&tc.start))
			assert.ErrorIs(t, res.Err, tc.want)
			assert.Equal(t, stateHash(t, b), stateHash(t, a), "a refused report changes nothing")
		})
	}
}
