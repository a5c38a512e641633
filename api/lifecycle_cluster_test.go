package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/certctl/certctl/api"
	"github.com/certctl/certctl/fsm"
	"github.com/certctl/certctl/fsm/fsmtest"
	"github.com/certctl/certctl/node/nodetest"
)

// lifecycleCluster is an apiCluster holding a team, owner, issuer and
// renewal policy, to which certificates can be added.
type lifecycleCluster struct {
	*apiCluster
	clients map[string]*http.Client // member id → HTTPS client trusting the cluster CA
}

func newLifecycleCluster(t *testing.T) *lifecycleCluster {
	t.Helper()
	c := &lifecycleCluster{apiCluster: newAPICluster(t, api.Config{RateLimit: -1, WriteTimeout: 10 * time.Second}), clients: map[string]*http.Client{}}
	for _, m := range c.Members {
		c.clients[m.ID()] = nodetest.HTTPClient(t, m.Config.DataDir, false)
	}
	c.write(t, &fsm.CreateTeam{Team: fsmtest.Team(fsmtest.TeamID, "Platform")})
	c.write(t, &fsm.CreateOwner{Owner: fsmtest.Owner(fsmtest.OwnerID, fsmtest.TeamID)})
	c.write(t, &fsm.CreateIssuer{Issuer: fsmtest.Issuer(fsmtest.IssuerID, "Local CA")})
	c.write(t, &fsm.CreateRenewalPolicy{Policy: fsmtest.RenewalPolicy(fsmtest.RenewalPolicyID, "Default")})
	return c
}

// write proposes p through the leader.
func (c *lifecycleCluster) write(t *testing.T, p fsm.Payload) {
	t.Helper()
	cmd, err := fsm.NewCommand(fsm.Meta{Time: time.Now(), Actor: "test", ActorType: fsm.ActorSystem}, p)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), nodetest.WaitTimeout)
	defer cancel()
	_, err = c.Leader(t).Node().Propose(ctx, cmd)
	require.NoError(t, err)
}

// cert adds an issued certificate id (a version valid 90 days).
func (c *lifecycleCluster) cert(t *testing.T, id string, n int) {
	t.Helper()
	cert := fsmtest.Certificate(id, id+".example.com")
	cert.RenewalPolicyID = fsmtest.RenewalPolicyID
	c.write(t, &fsm.CreateCertificate{Certificate: cert})
	c.write(t, &fsm.RecordVersion{Version: fsmtest.Version("cv-"+id, id, n, time.Now().Add(-time.Hour), 90*24*time.Hour)})
}

// reply is one API response: its status and its body as JSON.
type reply struct {
	status int
	body   map[string]any
}

// post sends POST path (no body) to member m as the admin.
func (c *lifecycleCluster) post(t *testing.T, m *nodetest.Member, path string) reply {
	req, err := http.NewRequest(http.MethodPost, "https://"+m.Config.APIAddr+path, strings.NewReader(""))
	if err != nil {
		t.Error(err)
		return reply{}
	}
	req.Header.Set("Authorization", "Bearer "+c.admin)
	res, err := c.clients[m.ID()].Do(req)
	if err != nil {
		t.Error(err)
		return reply{}
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	a := reply{status: res.StatusCode}
	if err := json.Unmarshal(raw, &a.body); err != nil {
		t.Errorf("POST %s on %s: %d %s", path, m.ID(), res.StatusCode, raw)
	}
	return a
}

// renewAtOnce sends POST renew for certID through each of via at the same
// time and returns the answers.
func (c *lifecycleCluster) renewAtOnce(t *testing.T, certID string, via []*nodetest.Member) []reply {
	out := make([]reply, len(via))
	var start, done sync.WaitGroup
	start.Add(1)
	for i, m := range via {
		done.Go(func() {
			start.Wait()
			// A 503 (an election under load: -race on two cores) wrote
			// nothing and asks for a retry, as a client does.
			for try := 0; ; try++ {
				out[i] = c.post(t, m, "/api/v1/certificates/"+certID+"/renew")
				if out[i].status != http.StatusServiceUnavailable || try == 30 {
					break
				}
				time.Sleep(200 * time.Millisecond)
			}
		})
	}
	start.Done()
	done.Wait()
	return out
}

// openRenewals counts, on the leader, the unfinished Issuance and Renewal
// jobs of a certificate by reading all its jobs.
func (c *lifecycleCluster) openRenewals(t *testing.T, certID string) []string {
	t.Helper()
	l, err := c.Leader(t).Node().FSM().Jobs(fsm.JobFilter{CertificateID: certID}, fsm.Page{PerPage: fsm.MaxPerPage})
	require.NoError(t, err)
	require.Less(t, len(l.Items), fsm.MaxPerPage)
	var open []string
	for _, j := range l.Items {
		if (j.Type == fsm.JobRenewal || j.Type == fsm.JobIssuance) && !fsm.JobFinished(j.Status) {
			open = append(open, j.ID)
		}
	}
	return open
}

// checkOneRenewal asserts that every reply is 202 naming one job, and that
// it is the certificate's only open renewal; it returns that job.
func (c *lifecycleCluster) checkOneRenewal(t *testing.T, round int, certID string, answers []reply) string {
	t.Helper()
	open := c.openRenewals(t, certID)
	require.Len(t, open, 1, "round %d: exactly one open renewal job", round)
	for i, a := range answers {
		require.Equal(t, http.StatusAccepted, a.status, "round %d, request %d: %v", round, i, a.body)
		assert.Equal(t, "renewal_triggered", a.body["status"])
		assert.Equal(t, []any{open[0]}, a.body["job_ids"], "round %d, request %d names the open job", round, i)
	}
	return open[0]
}

// Renew requests for one certificate sent at once, 20 to one node or one
// each through two nodes, leave exactly one open renewal job, which every
// reply names: the state machine decides, not each node's replica.
func TestAPI_ConcurrentRenewsLeaveOneOpenRenewal(t *testing.T) {
	c := newLifecycleCluster(t)
	c.cert(t, "mc-busy", 1)
	const rounds = 100
	t.Run("20 at once to one node", func(t *testing.T) {
		for round := range rounds {
			m := c.Members[round%len(c.Members)]
			via := make([]*nodetest.Member, 20)
			for i := range via {
				via[i] = m
			}
			job := c.checkOneRenewal(t, round, "mc-busy", c.renewAtOnce(t, "mc-busy", via))
			c.write(t, &fsm.CancelJob{JobID: job})
		}
	})
	c.cert(t, "mc-pair", 2)
	t.Run("2 at once through two nodes", func(t *testing.T) {
		for round := range rounds {
			a, b := c.Members[round%3], c.Members[(round+1)%3]
			job := c.checkOneRenewal(t, round, "mc-pair", c.renewAtOnce(t, "mc-pair", []*nodetest.Member{a, b}))
			c.write(t, &fsm.CancelJob{JobID: job})
		}
	})
}

// A renew of an archived or of a revoked certificate is refused with the
// same status, code and message through every node, leader and followers,
// and creates no job.
func TestAPI_RenewOfArchivedOrRevokedRefusedAlikeEverywhere(t *testing.T) {
	c := newLifecycleCluster(t)
	c.cert(t, "mc-archived", 1)
	c.cert(t, "mc-revoked", 2)
	leader := c.Leader(t)
	require.Equal(t, http.StatusNoContent, func() int {
		req, err := http.NewRequest(http.MethodDelete, "https://"+leader.Config.APIAddr+"/api/v1/certificates/mc-archived", nil)
		require.NoError(t, err)
		req.Header.Set("Authorization", "Bearer "+c.admin)
		res, err := c.clients[leader.ID()].Do(req)
		require.NoError(t, err)
		res.Body.Close()
		return res.StatusCode
	}())
	require.Equal(t, http.StatusOK, c.post(t, c.Followers()[0], "/api/v1/certificates/mc-revoked/revoke").status)

	for _, tc := range []struct{ id, status string }{{"mc-archived", "Archived"}, {"mc-revoked", "Revoked"}} {
		want := fmt.Sprintf("certificate %q is %s and cannot be renewed; create a new certificate instead", tc.id, tc.status)
		for _, m := range c.Members {
			a := c.post(t, m, "/api/v1/certificates/"+tc.id+"/renew")
			assert.Equal(t, http.StatusConflict, a.status, "%s through %s", tc.id, m.ID())
			assert.Equal(t, "state", a.body["code"], "%s through %s", tc.id, m.ID())
			assert.Equal(t, want, a.body["message"], "%s through %s", tc.id, m.ID())
		}
		assert.Empty(t, c.openRenewals(t, tc.id))
	}
}
