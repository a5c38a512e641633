package fsm

// StartJob records an agent's report that it has started a job it was
// handed (the original agent's `{"status":"Running"}`): a Pending job goes
// Running, counts an attempt and stamps started_at; a job the agent already
// reported Running is left as it is. Only CompleteJob and FailJob end a job:
// a Running job without a lease stays the agent's (it is listed in its work
// again, so an agent that restarted mid-deployment picks it up).
type StartJob struct {
	JobID   string `json:"job_id"`
	AgentID string `json:"agent_id"`
}

func (StartJob) CommandType() CommandType { return CommandStartJob }
func (p *StartJob) Validate() error {
	if err := ValidID("job_id", p.JobID); err != nil {
		return err
	}
	return ValidID("agent_id", p.AgentID)
}
func (p *StartJob) apply(t *txn) (any, error) {
	s := jobStore{t}
	old, err := s.get(p.JobID)
	if err != nil {
		return nil, err
	}
	if err := jobOwner(old, "", p.AgentID, t.now()); err != nil {
		return nil, err
	}
	switch {
	case old.Status == JobRunning && old.LeaseHolder == "":
		return *old, nil // reported again: nothing changes
	case old.Status == JobRunning:
		return nil, &Error{Code: CodeLeaseHeld, Resource: "job", ID: old.ID,
			Message: "job " + old.ID + " is being worked by " + old.LeaseHolder + ", not by agent " + p.AgentID}
	case old.Status != JobPending:
		return nil, statef("job", old.ID, "job %q is %s: an agent can start only a Pending job (a job waiting for a CSR needs the CSR)", old.ID, old.Status)
	}
	j, now := *old, t.now()
	j.Status, j.StartedAt = JobRunning, &now
	j.Attempts++
	s.put(old, &j)
	t.audit("job_started", "job", j.ID, map[string]any{"agent_id": p.AgentID, "attempt": j.Attempts})
	return j, nil
}
