package fsm_test

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/certctl/certctl/fsm"
	"github.com/certctl/certctl/fsm/fsmtest"
)

// mixedLog returns the entries of n pseudo-random commands of every kind on
// top of fsmtest.Seed: many refer to records that do not exist or are in the
// wrong state and are rejected, some are malformed bytes or raft no-ops, and
// some reuse a request id. The same seed always gives the same entries.
func mixedLog(t testing.TB, seed uint64, n int) []*raft.Log {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, seed^0x5eed))
	rec := fsmtest.NewLog(t) // builds entries only
	var entries []*raft.Log
	add := func(p fsm.Payload) {
		m := rec.Meta()
		if rng.IntN(10) == 0 {
			m.RequestID = fmt.Sprint("req-", rng.IntN(20)) // a small pool: some ids repeat
		}
		entries = append(entries, rec.EntryWith(m, p))
	}
	for _, p := range seedPayloads() {
		add(p)
	}
	// Rules that random certificates and versions break, so that policy
	// evaluation (violations and their notifications) is part of the log.
	add(&fsm.CreatePolicyRule{Rule: fsm.PolicyRule{ID: "rule-tags", Name: "Tags", Type: "RequiredMetadata",
		Config: []byte(`{"required_keys":["cost_center"]}`), Enabled: true}})
	add(&fsm.CreatePolicyRule{Rule: fsm.PolicyRule{ID: "rule-life", Name: "Lifetime", Type: "CertificateLifetime",
		Config: []byte(`{"max_days":45}`), Enabled: true, Severity: fsm.SeverityError}})
	pick := func(prefix string, k int) string { return fmt.Sprint(prefix, rng.IntN(k)) }
	for len(entries) < n {
		rec.Advance(time.Duration(rng.IntN(120)) * time.Second)
		switch rng.IntN(23) {
		case 0:
			add(&fsm.CreateTeam{Team: fsmtest.Team(pick("team-", 6), pick("Team ", 6))})
		case 1:
			add(&fsm.CreateOwner{Owner: fsmtest.Owner(pick("owner-", 6), pick("team-", 6))})
		case 2, 3:
			c := fsmtest.Certificate(pick("mc-", 20), fmt.Sprintf("h%d.example.com", rng.IntN(1000)))
			if rng.IntN(2) == 0 {
				c.OwnerID, c.TeamID = pick("owner-", 6), pick("team-", 6)
			}
			if rng.IntN(2) == 0 {
				c.TargetIDs = []string{fsmtest.TargetID}
			}
			if rng.IntN(3) == 0 {
				c.Tags["cost_center"] = "42"
			}
			if rng.IntN(3) == 0 {
				add(&fsm.UpdateCertificate{Certificate: c})
			} else {
				add(&fsm.CreateCertificate{Certificate: c})
			}
		case 4:
			add(&fsm.SetCertificateStatus{ID: pick("mc-", 20), Status: fsm.CertificateStatuses[rng.IntN(len(fsm.CertificateStatuses))]})
		case 5:
			add(&fsm.RecordVersion{Version: fsmtest.Version(pick("ver-", 60), pick("mc-", 20), rng.IntN(80)+1, rec.Now, time.Duration(rng.IntN(90)+1)*24*time.Hour)})
		case 6:
			add(&fsm.CreateJobs{Jobs: []fsm.Job{{ID: pick("job-", 20), Type: fsm.JobRenewal, CertificateID: pick("mc-", 20)}}})
		case 7:
			add(&fsm.ClaimJob{JobID: pick("job-", 20), Holder: pick("node-", 3), LeaseUntil: rec.Now.Add(time.Duration(rng.IntN(300)+1) * time.Second)})
		case 8:
			add(&fsm.CompleteJob{JobID: pick("job-", 20), Holder: pick("node-", 3)})
		case 9:
			add(&fsm.FailJob{JobID: pick("job-", 20), Holder: pick("node-", 3), Error: "boom", RetryAt: ptr(rec.Now.Add(time.Minute))})
		case 10:
			add(&fsm.RecordHeartbeats{Beats: []fsm.Heartbeat{{AgentID: pick("agent-", 3), At: rec.Now}, {AgentID: fsmtest.AgentID, At: rec.Now}}})
		case 11:
			n := fsmtest.Notification(pick("n-", 40), pick("key-", 10))
			n.CertificateID = pick("mc-", 5)
			add(&fsm.CreateNotifications{Notifications: []fsm.Notification{n}})
		case 12:
			cert := pick("mc-", 5)
			var vs []fsm.PolicyViolation
			for range rng.IntN(3) {
				vs = append(vs, fsmtest.Violation(pick("v-", 10), cert))
			}
			add(&fsm.RecordViolations{CertificateID: cert, Violations: vs})
		case 13:
			add(&fsm.DeleteTeam{ID: pick("team-", 6)})
		case 14:
			entries = append(entries, rec.RawEntry([]byte(fmt.Sprintf(`{"type":%d,"time":"x"}`, rng.IntN(80)))))
		case 15:
			entries = append(entries, rec.Noop())
		case 16:
			add(&fsm.MapTarget{CertificateID: pick("mc-", 20), TargetID: fsmtest.TargetID})
		case 17:
			add(&fsm.UnmapTarget{CertificateID: pick("mc-", 20), TargetID: fsmtest.TargetID})
		case 18:
			add(&fsm.CancelJob{JobID: pick("job-", 20)})
		case 19:
			add(&fsm.MarkNotificationSent{ID: pick("n-", 40)})
		case 20:
			add(&fsm.RevokeCertificate{CertificateID: pick("mc-", 20), Reason: "superseded"})
		case 21:
			n := rng.IntN(10)
			add(&fsm.CreateAPIKey{Key: fsmtest.APIKey(fmt.Sprint("key-", n), fsm.RoleAgent, pick("agent-", 3), n+1)})
		case 22:
			add(&fsm.RevokeAPIKey{ID: pick("key-", 10)})
		}
	}
	return entries
}

// seedPayloads are the commands of fsmtest.Seed, for logs built without an FSM.
func seedPayloads() []fsm.Payload {
	c := fsmtest.Certificate(fsmtest.CertificateID, "www.example.com")
	c.RenewalPolicyID = fsmtest.RenewalPolicyID
	c.TargetIDs = []string{fsmtest.TargetID}
	return []fsm.Payload{
		&fsm.CreateTeam{Team: fsmtest.Team(fsmtest.TeamID, "Platform")},
		&fsm.CreateOwner{Owner: fsmtest.Owner(fsmtest.OwnerID, fsmtest.TeamID)},
		&fsm.CreateIssuer{Issuer: fsmtest.Issuer(fsmtest.IssuerID, "Local CA")},
		&fsm.CreateRenewalPolicy{Policy: fsmtest.RenewalPolicy(fsmtest.RenewalPolicyID, "Default")},
		&fsm.RegisterAgent{Agent: fsmtest.Agent(fsmtest.AgentID, "web-01")},
		&fsm.CreateTarget{Target: fsmtest.Target(fsmtest.TargetID, "nginx-web-01", fsmtest.AgentID)},
		&fsm.CreatePolicyRule{Rule: fsmtest.Rule(fsmtest.RuleID, "Allowed issuers")},
		&fsm.CreateCertificate{Certificate: c},
	}
}

// TestFSM_Determinism feeds two FSMs the same log, one in batches of varying
// sizes and one entry at a time: every result and every bucket must agree.
// Both keep a keyed audit chain, as the nodes of a cluster do.
func TestFSM_Determinism(t *testing.T) {
	entries := mixedLog(t, 1, 400)
	batched, single := fsmtest.OpenKeyed(t), fsmtest.OpenKeyed(t)

	var batchedRes []*fsm.ApplyResult
	rng := rand.New(rand.NewPCG(7, 7))
	for rest := entries; len(rest) > 0; {
		n := min(1+rng.IntN(64), len(rest))
		batchedRes = append(batchedRes, fsmtest.ApplyBatch(t, batched, rest[:n]...)...)
		rest = rest[n:]
	}
	var singleRes []*fsm.ApplyResult
	for _, e := range entries {
		singleRes = append(singleRes, fsmtest.ApplyBatch(t, single, e)[0])
	}

	accepted, rejected := 0, 0
	for i := range entries {
		assert.Equal(t, errString(singleRes[i].Err), errString(batchedRes[i].Err), "entry %d", entries[i].Index)
		if batchedRes[i].Err == nil {
			accepted++
		} else {
			rejected++
		}
	}
	// The log must exercise both paths for the comparison to mean something.
	t.Logf("%d entries: %d accepted, %d rejected", len(entries), accepted, rejected)
	assert.Greater(t, accepted, 80)
	assert.Greater(t, rejected, 80)
	hb, hs := stateHash(t, batched), stateHash(t, single)
	assert.Equal(t, hs, hb)
	for _, b := range []string{"managed_certificates", "jobs", "audit_events", "requests", "meta"} {
		assert.Contains(t, hb, b)
	}
	assert.Equal(t, entries[len(entries)-1].Index, batched.AppliedIndex())
	assert.Equal(t, entries[len(entries)-1].Index, single.AppliedIndex())
	v, err := batched.VerifyAudit()
	require.NoError(t, err)
	assert.True(t, v.Valid, "%+v", v.Break)
	assert.Equal(t, uint64(1), v.KeyedFrom)
}

// TestFSM_DeterminismLogIsStable guards the test above: the generator must
// give the same bytes for the same seed, or the two FSMs would prove nothing.
func TestFSM_DeterminismLogIsStable(t *testing.T) {
	a, b := mixedLog(t, 3, 120), mixedLog(t, 3, 120)
	require.Len(t, b, len(a))
	for i := range a {
		assert.Equal(t, a[i], b[i], "entry %d", i)
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// TestFSM_BatchSeesItsOwnWrites checks commands that read what an earlier
// command of the same batch wrote, such as the empty-valued keys of the
// mapping and violation indexes: one batch must end where one entry at a
// time ends.
func TestFSM_BatchSeesItsOwnWrites(t *testing.T) {
	cases := []struct {
		name     string
		payloads []fsm.Payload
	}{
		{"map twice", []fsm.Payload{
			&fsm.CreateTarget{Target: fsmtest.Target("target-2", "haproxy", fsmtest.AgentID)},
			&fsm.MapTarget{CertificateID: fsmtest.CertificateID, TargetID: "target-2"},
			&fsm.MapTarget{CertificateID: fsmtest.CertificateID, TargetID: "target-2"},
		}},
		{"map then unmap", []fsm.Payload{
			&fsm.CreateTarget{Target: fsmtest.Target("target-2", "haproxy", fsmtest.AgentID)},
			&fsm.MapTarget{CertificateID: fsmtest.CertificateID, TargetID: "target-2"},
			&fsm.UnmapTarget{CertificateID: fsmtest.CertificateID, TargetID: "target-2"},
			&fsm.DeleteTarget{ID: "target-2"},
		}},
		{"create with targets then unmap", []fsm.Payload{
			&fsm.CreateCertificate{Certificate: func() fsm.Certificate {
				c := fsmtest.Certificate("mc-2", "api.example.com")
				c.TargetIDs = []string{fsmtest.TargetID}
				return c
			}()},
			&fsm.UnmapTarget{CertificateID: "mc-2", TargetID: fsmtest.TargetID},
		}},
		{"violations recorded twice", []fsm.Payload{
			&fsm.RecordViolations{CertificateID: fsmtest.CertificateID, Violations: []fsm.PolicyViolation{fsmtest.Violation("v-1", fsmtest.CertificateID)}},
			&fsm.RecordViolations{CertificateID: fsmtest.CertificateID, Violations: []fsm.PolicyViolation{fsmtest.Violation("v-1", fsmtest.CertificateID)}},
		}},
		{"notification keys", []fsm.Payload{
			&fsm.CreateNotifications{Notifications: []fsm.Notification{fsmtest.Notification("n-1", "k")}},
			&fsm.CreateNotifications{Notifications: []fsm.Notification{fsmtest.Notification("n-2", "k")}},
		}},
		{"job claimed then completed", []fsm.Payload{
			&fsm.CreateJobs{Jobs: []fsm.Job{fsmtest.Job("job-1", fsm.JobRenewal)}},
			&fsm.ClaimJob{JobID: "job-1", Holder: "node-1", LeaseUntil: at(time.Minute)},
			&fsm.CompleteJob{JobID: "job-1", Holder: "node-1"},
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			batched, single := fsmtest.Open(t), fsmtest.Open(t)
			l := fsmtest.NewLog(t, batched, single)
			fsmtest.Seed(l)
			var entries []*raft.Log
			for _, p := range tc.payloads {
				entries = append(entries, l.Entry(p))
			}

			batchRes := fsmtest.ApplyBatch(t, batched, entries...)
			for i, e := range entries {
				res := fsmtest.ApplyBatch(t, single, e)[0]
				require.NoError(t, res.Err, "entry %d alone", i)
				assert.NoError(t, batchRes[i].Err, "entry %d in the batch", i)
			}
			assert.Equal(t, stateHash(t, single), stateHash(t, batched))
		})
	}
}
