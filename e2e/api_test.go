package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/certctl/certctl/api/client"
	"github.com/certctl/certctl/api/wire"
)

// TestAPI_WritesThroughFollower creates one of every kind of resource
// through a follower with api/client, then reads each on every node: a
// strong read answers at once wherever it is asked, the follower reads its
// own write at once, and the other nodes' local reads converge on the same
// record.
func TestAPI_WritesThroughFollower(t *testing.T) {
	skipShort(t)
	c := NewCluster(t, certctlBin)
	c.Start(3)
	leader := c.WaitLeader()
	follower := c.Followers(leader)[0]
	api := c.APIClient(AdminKey, follower) // this follower alone: no fallback to the leader
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	team, err := api.CreateTeam(ctx, wire.Team{ID: "t-wtf", Name: "platform-wtf", Description: "written through a follower"})
	require.NoError(t, err)
	assert.Equal(t, "t-wtf", team.ID)
	owner, err := api.CreateOwner(ctx, wire.Owner{ID: "o-wtf", Name: "Alice", Email: "alice@example.com", TeamID: team.ID})
	require.NoError(t, err)
	issuer, err := api.CreateIssuer(ctx, wire.Issuer{ID: "iss-wtf", Name: "wtf local CA", Type: "GenericCA",
		Config: json.RawMessage(`{"ca_common_name":"WTF CA","validity_days":90}`), Enabled: true})
	require.NoError(t, err)
	reg, err := api.RegisterAgent(ctx, "wtf-agent", "web-1.example.com")
	require.NoError(t, err)
	require.NotEmpty(t, reg.ID)
	require.NotEmpty(t, reg.APIKey, "registration returns the agent's key")
	target, err := api.CreateTarget(ctx, wire.Target{ID: "tgt-wtf", Name: "nginx wtf", Type: "NGINX", AgentID: reg.ID,
		Config: json.RawMessage(`{"cert_path":"/etc/nginx/wtf.crt","key_path":"/etc/nginx/wtf.key"}`), Enabled: true})
	require.NoError(t, err)
	window := 21
	rp, err := api.CreateRenewalPolicy(ctx, wire.RenewalPolicy{ID: "rp-wtf", Name: "wtf standard", RenewalWindowDays: &window,
		AutoRenew: true, MaxRetries: 3, RetryIntervalMinutes: 60, AlertThresholdsDays: []int{30, 14, 7, 0}})
	require.NoError(t, err)
	rule, err := api.CreatePolicy(ctx, wire.PolicyRule{ID: "pr-wtf", Name: "wtf environments", Type: "AllowedEnvironments",
		Config: json.RawMessage(`{"allowed":["production","staging"]}`), Enabled: true, Severity: "Warning"})
	require.NoError(t, err)
	expires := time.Now().Add(60 * 24 * time.Hour).UTC().Truncate(time.Second)
	cert1, err := api.CreateCertificate(ctx, wire.Certificate{ID: "mc-wtf-1", Name: "wtf api", CommonName: "api.wtf.example.com",
		SANs: []string{"api.wtf.example.com", "api2.wtf.example.com"}, Environment: "production", OwnerID: owner.ID,
		TeamID: team.ID, IssuerID: issuer.ID, TargetIDs: []string{target.ID}, RenewalPolicyID: rp.ID,
		ExpiresAt: &expires, Tags: map[string]string{"tier": "1"}})
	require.NoError(t, err)
	assert.Equal(t, []string{target.ID}, cert1.TargetIDs)
	assert.Equal(t, rp.ID, cert1.RenewalPolicyID)
	cert2, err := api.CreateCertificate(ctx, wire.Certificate{ID: "mc-wtf-2", CommonName: "*.wtf.example.com",
		Environment: "staging", OwnerID: owner.ID, TeamID: team.ID, IssuerID: issuer.ID})
	require.NoError(t, err)
	assert.Equal(t, "*.wtf.example.com", cert2.Name, "name defaults to the common name")

	resources := []struct{ path, id, name string }{
		{"/api/v1/teams/" + team.ID, team.ID, team.Name},
		{"/api/v1/owners/" + owner.ID, owner.ID, owner.Name},
		{"/api/v1/issuers/" + issuer.ID, issuer.ID, issuer.Name},
		{"/api/v1/agents/" + reg.ID, reg.ID, "wtf-agent"},
		{"/api/v1/targets/" + target.ID, target.ID, target.Name},
		{"/api/v1/renewal-policies/" + rp.ID, rp.ID, rp.Name},
		{"/api/v1/policies/" + rule.ID, rule.ID, rule.Name},
		{"/api/v1/certificates/" + cert1.ID, cert1.ID, cert1.Name},
		{"/api/v1/certificates/" + cert2.ID, cert2.ID, cert2.Name},
	}
	cl := c.Client()
	for _, r := range resources {
		// Strong reads answer at once on every node, followers included.
		for _, n := range c.Nodes() {
			var got map[string]any
			require.NoError(t, cl.GetJSON(ctx, n.URL(), r.path, "strong", &got), "strong read of %s on %s", r.path, n.ID)
			assert.Equal(t, r.id, got["id"], "strong read of %s on %s", r.path, n.ID)
			assert.Equal(t, r.name, got["name"], "strong read of %s on %s", r.path, n.ID)
			assert.NotContains(t, got, "api_key", "%s on %s", r.path, n.ID)
			assert.NotContains(t, got, "api_key_hash", "%s on %s", r.path, n.ID)
		}
		// The follower that took the write reads it locally at once.
		var own map[string]any
		require.NoError(t, cl.GetJSON(ctx, follower.URL(), r.path, "", &own), "read-your-write of %s on %s", r.path, follower.ID)
		// Every node's replica converges on the same record.
		for _, n := range c.Nodes() {
			c.Wait(r.path+" on "+n.ID, func(ctx context.Context) error {
				var got map[string]any
				if err := cl.GetJSON(ctx, n.URL(), r.path, "local", &got); err != nil {
					return err
				}
				if !assert.ObjectsAreEqual(own, got) {
					return fmt.Errorf("%s on %s: %v, on %s: %v", r.path, n.ID, got, follower.ID, own)
				}
				return nil
			})
		}
	}

	// The lists agree too, and the certificate keeps its mapping and policy.
	for _, n := range c.Nodes() {
		one := c.APIClient(AdminKey, n)
		l, err := one.ListCertificates(ctx, client.ListCertificatesOptions{PerPage: 500})
		require.NoError(t, err)
		assert.Equal(t, 2, l.Total, "certificates on %s", n.ID)
		got, err := one.GetCertificate(ctx, cert1.ID)
		require.NoError(t, err)
		assert.Equal(t, []string{target.ID}, got.TargetIDs, "target_ids on %s", n.ID)
		assert.Equal(t, rp.ID, got.RenewalPolicyID, "renewal_policy_id on %s", n.ID)
		require.NotNil(t, got.ExpiresAt)
		assert.True(t, expires.Equal(*got.ExpiresAt), "expires_at on %s: %v", n.ID, got.ExpiresAt)
	}
}

// TestAPI_LeaderKilledMidWrites runs writers that use api/client with every
// node's URL, each creating certificates with ids it chooses and an
// Idempotency-Key per id, and kill -9s the leader while they write. Clients
// see 503s and connection errors for a moment, then success; afterwards
// every node holds every acknowledged id once, and no write retried with the
// same key made a second resource or a 409.
func TestAPI_LeaderKilledMidWrites(t *testing.T) {
	skipShort(t)
	const writers = 8
	c := NewCluster(t, certctlBin)
	c.Start(3)
	leader := c.WaitLeader()
	fx := c.Seed(leader)
	nodes := c.Nodes()

	log := NewAttemptLog()
	ws := make([]*apiWriter, writers)
	for i := range ws {
		urls := URLs(append(append([]*Node{}, nodes[i%3:]...), nodes[:i%3]...)) // writers start on different nodes
		api, err := NewAPIClient(AdminKey, urls, c.NewHTTPClient(2, log.Wrap))
		require.NoError(t, err)
		ws[i] = &apiWriter{api: api, fx: fx, prefix: fmt.Sprintf("lk%d", i)}
	}
	ctx, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for _, w := range ws {
		wg.Add(1)
		go func() { // owned by this test: stopped and waited for below
			defer wg.Done()
			w.run(ctx)
		}()
	}
	stopped := false
	stopWriters := func() {
		if !stopped {
			stopped = true
			stop()
			wg.Wait()
		}
	}
	t.Cleanup(stopWriters)
	acked := func() int {
		n := 0
		for _, w := range ws {
			n += w.ackedCount()
		}
		return n
	}
	waitFor := func(what string, n int) {
		t.Helper()
		c.Wait(what, func(context.Context) error {
			if got := acked(); got < n {
				return fmt.Errorf("%d of %d acknowledged; attempts: %s", got, n, FormatKinds(log.Kinds()))
			}
			return nil
		})
	}

	waitFor("writes before the kill", 300)
	before := acked()
	killedAt := time.Now()
	c.Kill(leader)
	newLeader := c.WaitLeader(leader)
	elected := time.Since(killedAt)
	waitFor("writes after the kill", before+500)
	stoppedAt := time.Now()
	stopWriters()

	// What the clients saw: failed attempts, all within a short window
	// after the kill, and calls api/client gave up on. Attempts cut off by
	// the stop are not failures.
	var failures []Attempt
	var window time.Duration
	for _, f := range log.Failures() {
		if f.At.After(stoppedAt) {
			continue
		}
		failures = append(failures, f)
		if !f.At.Before(killedAt) {
			window = max(window, f.At.Sub(killedAt))
		}
	}
	callErrs := map[string]int{}
	for _, w := range ws {
		for k, v := range w.errorKinds() {
			callErrs[k] += v
		}
	}
	t.Logf("killed leader %s; %s leads after %v; acknowledged %d before the kill, %d in all",
		leader.ID, newLeader.ID, elected.Round(time.Millisecond), before, acked())
	t.Logf("attempts by outcome: %s; failed attempts: %d, the last %v after the kill; calls that failed after the client's own retries: {%s}",
		FormatKinds(log.Kinds()), len(failures), window.Round(time.Millisecond), FormatKinds(callErrs))
	assert.NotEmpty(t, failures, "killing the leader mid-write should cost some attempts")
	assert.Less(t, window, 15*time.Second, "failed attempts should stop soon after a new leader is elected")

	// Bring the killed node back so that every node can be listed.
	c.Restart(leader)
	waitConverged(c, c.Nodes())

	var ackedIDs, unknownIDs []string
	conflicts := 0
	for _, w := range ws {
		ackedIDs = append(ackedIDs, w.acked()...)
		unknownIDs = append(unknownIDs, w.unknown()...)
		conflicts += w.conflictCount()
	}
	assert.Zero(t, conflicts, "creates answered 409: a retry with the same Idempotency-Key conflicted with its own first attempt")

	// Writes whose key was sent more than once: the retries api/client made
	// itself and those the writer made after the client gave up.
	// When an earlier attempt got no definite answer (a transport error, or
	// a 503 from a write that timed out), it may have landed: only the key
	// keeps the retry from making a second certificate or answering 409.
	retried, ambiguous := 0, 0
	for _, id := range ackedIDs {
		as := log.Attempts(idempotencyKey(id))
		if len(as) < 2 {
			continue
		}
		retried++
		for _, a := range as[:len(as)-1] {
			if !a.Answered() {
				ambiguous++
				break
			}
		}
	}

	listCtx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var totals []int
	for _, n := range c.Nodes() {
		certs, total := listAll(t, listCtx, c.APIClient(AdminKey, n))
		seen := map[string]int{}
		names := map[string]int{}
		for _, ct := range certs {
			seen[ct.ID]++
			names[ct.Name]++
		}
		var dupIDs, dupNames, missing []string
		for id, k := range seen {
			if k > 1 {
				dupIDs = append(dupIDs, id)
			}
		}
		for name, k := range names {
			if k > 1 {
				dupNames = append(dupNames, name)
			}
		}
		for _, id := range ackedIDs {
			if seen[id] != 1 {
				missing = append(missing, id)
			}
		}
		assert.Empty(t, dupIDs, "ids listed twice on %s", n.ID)
		assert.Empty(t, dupNames, "names listed twice on %s", n.ID)
		assert.Empty(t, missing, "acknowledged ids not listed once on %s", n.ID)
		assert.Equal(t, len(seen), total, "total on %s against distinct ids", n.ID)
		assert.Equal(t, len(certs), total, "total on %s against certificates listed", n.ID)
		// Beyond the acknowledged ids, only writes cut off by the stop may exist.
		assert.GreaterOrEqual(t, total, len(ackedIDs), "total on %s", n.ID)
		assert.LessOrEqual(t, total, len(ackedIDs)+len(unknownIDs), "total on %s", n.ID)
		totals = append(totals, total)
	}
	for _, tot := range totals[1:] {
		assert.Equal(t, totals[0], tot, "every node reports the same total")
	}
	t.Logf("retried with the same Idempotency-Key: %d acknowledged writes (%d after an attempt with no definite answer); "+
		"each is listed once on every node; 409s: %d; cut off by the stop: %d; totals %v",
		retried, ambiguous, conflicts, len(unknownIDs), totals)
}

// apiWriter creates certificates lk<N>-000001, lk<N>-000002, ... with
// api/client until its context ends. Each id has its own Idempotency-Key,
// sent again when the writer retries the id after api/client gave up, as a
// client that must not lose an acknowledged write would.
type apiWriter struct {
	api    *client.Client
	fx     Fixtures
	prefix string

	mu        sync.Mutex
	ackedIDs  []string
	unknowns  []string       // ids whose last call the stop cut off
	conflicts int            // 409 answers
	errs      map[string]int // failed calls, by kind
}

func idempotencyKey(id string) string { return "e2e-" + id }

func (w *apiWriter) run(ctx context.Context) {
	for seq := 1; ctx.Err() == nil; seq++ {
		w.write(ctx, fmt.Sprintf("%s-%06d", w.prefix, seq))
	}
}

func (w *apiWriter) write(ctx context.Context, id string) {
	fc := w.fx.NewCertificate(id)
	cert := wire.Certificate{ID: fc.ID, Name: fc.Name, CommonName: fc.CommonName, SANs: fc.SANs, Environment: fc.Environment,
		OwnerID: fc.OwnerID, TeamID: fc.TeamID, IssuerID: fc.IssuerID, Tags: fc.Tags}
	for ctx.Err() == nil {
		rctx, cancel := context.WithTimeout(client.WithIdempotencyKey(ctx, idempotencyKey(id)), 20*time.Second)
		_, err := w.api.CreateCertificate(rctx, cert)
		cancel()
		w.mu.Lock()
		switch {
		case err == nil:
			w.ackedIDs = append(w.ackedIDs, id)
			w.mu.Unlock()
			return
		case ctx.Err() != nil:
			w.unknowns = append(w.unknowns, id)
			w.mu.Unlock()
			return
		case client.IsConflict(err):
			w.conflicts++
			w.bump("409")
			w.mu.Unlock()
			return
		case client.IsUnavailable(err), errors.Is(err, context.DeadlineExceeded):
			w.bump(callKind(err)) // the same id again, with the same key
			w.mu.Unlock()
		default:
			w.bump("other: " + err.Error())
			w.unknowns = append(w.unknowns, id)
			w.mu.Unlock()
			return
		}
	}
}

func (w *apiWriter) bump(kind string) {
	if w.errs == nil {
		w.errs = map[string]int{}
	}
	w.errs[kind]++
}

func callKind(err error) string {
	switch {
	case errors.Is(err, client.ErrUnreachable):
		return "unreachable"
	case client.StatusOf(err) != 0:
		return fmt.Sprint(client.StatusOf(err))
	default:
		return "timeout"
	}
}

func (w *apiWriter) ackedCount() int { w.mu.Lock(); defer w.mu.Unlock(); return len(w.ackedIDs) }
func (w *apiWriter) acked() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]string(nil), w.ackedIDs...)
}
func (w *apiWriter) unknown() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]string(nil), w.unknowns...)
}
func (w *apiWriter) conflictCount() int { w.mu.Lock(); defer w.mu.Unlock(); return w.conflicts }
func (w *apiWriter) errorKinds() map[string]int {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := map[string]int{}
	for k, v := range w.errs {
		out[k] = v
	}
	return out
}

// listAll reads every page of the certificate list through api and returns
// the certificates and the total of the last page.
func listAll(t *testing.T, ctx context.Context, api *client.Client) ([]wire.Certificate, int) {
	t.Helper()
	var all []wire.Certificate
	total := 0
	for page := 1; ; page++ {
		l, err := api.ListCertificates(ctx, client.ListCertificatesOptions{Page: page, PerPage: 500})
		require.NoError(t, err)
		all = append(all, l.Data...)
		total = l.Total
		if len(l.Data) == 0 || len(all) >= l.Total {
			return all, total
		}
	}
}

// TestAPI_AuthOnCluster checks keys and roles across the nodes of a cluster:
// keys made or revoked through one node take effect on every node.
func TestAPI_AuthOnCluster(t *testing.T) {
	skipShort(t)
	c := NewCluster(t, certctlBin)
	c.Start(3)
	leader := c.WaitLeader()
	fx := c.Seed(leader)
	followers := c.Followers(leader)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	newCert := func(id string) wire.Certificate {
		fc := fx.NewCertificate(id)
		return wire.Certificate{ID: fc.ID, Name: fc.Name, CommonName: fc.CommonName, OwnerID: fc.OwnerID, TeamID: fc.TeamID, IssuerID: fc.IssuerID}
	}

	// No key: 401 with the challenge header, on every node; public routes answer.
	anon := c.NewClient(2)
	defer anon.CloseIdle()
	for _, n := range c.Nodes() {
		_, hdr, err := anon.Do(ctx, http.MethodGet, n.URL()+"/api/v1/certificates", nil, nil, http.StatusOK)
		se := requireStatus(t, err, http.StatusUnauthorized)
		assert.Equal(t, "Unauthorized", se.Body.Error)
		assert.Equal(t, `Bearer realm="certctl"`, hdr.Get("WWW-Authenticate"), "on %s", n.ID)
		_, _, err = anon.Do(ctx, http.MethodPost, n.URL()+"/api/v1/certificates", newCert("mc-anon"), nil, http.StatusCreated)
		requireStatus(t, err, http.StatusUnauthorized)
	}
	noKey := c.APIClient("")
	_, err := noKey.ListCertificates(ctx, client.ListCertificatesOptions{})
	assert.True(t, client.IsUnauthorized(err), "no key: %v", err)
	info, err := noKey.AuthInfo(ctx)
	require.NoError(t, err)
	assert.True(t, info.Required)
	wrong := c.APIClient("cck_not-a-key-of-this-cluster")
	assert.True(t, client.IsUnauthorized(wrong.AuthCheck(ctx)), "unknown key")

	// The admin makes a key per role through one follower; each works on
	// every node once the node has applied the write.
	admin := c.APIClient(AdminKey, followers[0])
	keys := map[string]*wire.APIKeyCreated{}
	for _, role := range []string{"viewer", "operator", "auditor"} {
		k, err := admin.CreateKey(ctx, "e2e-"+role, role, "")
		require.NoError(t, err, "create %s key", role)
		assert.Equal(t, role, k.Role)
		assert.NotEmpty(t, k.APIKey)
		assert.True(t, strings.HasPrefix(k.APIKey, k.Prefix), "prefix %q of %q", k.Prefix, k.APIKey)
		keys[role] = k
	}
	as := func(role string, nodes ...*Node) *client.Client { return c.APIClient(keys[role].APIKey, nodes...) }
	c.Wait("keys on every node", func(ctx context.Context) error {
		for _, n := range c.Nodes() {
			if err := as("viewer", n).AuthCheck(ctx); err != nil {
				return fmt.Errorf("%s: %w", n.ID, err)
			}
		}
		return nil
	})
	l, err := admin.ListKeys(ctx, client.ListOptions{})
	require.NoError(t, err)
	raw, err := json.Marshal(l)
	require.NoError(t, err)
	for _, k := range keys {
		assert.NotContains(t, string(raw), k.APIKey, "a key's secret is never listed")
	}

	viewer, operator, auditor := as("viewer", followers[1]), as("operator", followers[1]), as("auditor", followers[1])
	_, err = operator.CreateCertificate(ctx, newCert("mc-auth-1"))
	require.NoError(t, err, "operator creates")
	_, err = viewer.CreateCertificate(ctx, newCert("mc-auth-2"))
	assert.True(t, client.IsForbidden(err), "viewer creates: %v", err)
	_, err = viewer.ListCertificates(ctx, client.ListCertificatesOptions{})
	assert.NoError(t, err, "viewer reads certificates")
	_, err = viewer.CreateKey(ctx, "nope", "admin", "")
	assert.True(t, client.IsForbidden(err), "viewer makes a key: %v", err)
	_, err = operator.CreateKey(ctx, "nope", "admin", "")
	assert.True(t, client.IsForbidden(err), "operator makes a key: %v", err)
	audit, err := auditor.ListAudit(ctx, client.ListAuditOptions{Action: "certificate_created"})
	require.NoError(t, err, "auditor reads the audit trail")
	assert.Equal(t, 1, audit.Total)
	if assert.NotEmpty(t, audit.Data) {
		assert.Equal(t, "e2e-operator", audit.Data[0].Actor, "the actor is the key's name")
		assert.Equal(t, "operator", audit.Data[0].ActorRole)
	}
	v, err := auditor.VerifyAudit(ctx)
	require.NoError(t, err)
	assert.True(t, v.Valid)
	_, err = auditor.ListCertificates(ctx, client.ListCertificatesOptions{})
	assert.True(t, client.IsForbidden(err), "auditor reads certificates: %v", err)
	_, err = auditor.GetCertificate(ctx, "mc-auth-1")
	assert.True(t, client.IsForbidden(err), "auditor reads a certificate: %v", err)

	// Agents: the key comes once, works on the agent's own routes only.
	ops := as("operator")
	regA, err := ops.RegisterAgent(ctx, "agent-a", "a.example.com")
	require.NoError(t, err)
	regB, err := ops.RegisterAgent(ctx, "agent-b", "b.example.com")
	require.NoError(t, err)
	require.NotEmpty(t, regA.APIKey)
	require.NotEqual(t, regA.APIKey, regB.APIKey)
	var got map[string]any
	require.NoError(t, c.Client().GetJSON(ctx, followers[0].URL(), "/api/v1/agents/"+regA.ID, "strong", &got))
	assert.NotContains(t, got, "api_key", "the agent's key is shown once, at registration")
	assert.NotContains(t, got, "api_key_hash")

	agentA := c.APIClient(regA.APIKey)
	hb := wire.HeartbeatRequest{Version: "e2e", Hostname: "a.example.com"}
	require.NoError(t, agentA.Heartbeat(ctx, regA.ID, hb), "own heartbeat")
	_, err = agentA.Work(ctx, regA.ID)
	require.NoError(t, err, "own work")
	assert.NoError(t, agentA.AuthCheck(ctx))
	err = agentA.Heartbeat(ctx, regB.ID, hb)
	assert.True(t, client.IsForbidden(err), "another agent's heartbeat: %v", err)
	_, err = agentA.Work(ctx, regB.ID)
	assert.True(t, client.IsForbidden(err), "another agent's work: %v", err)
	_, err = agentA.ListCertificates(ctx, client.ListCertificatesOptions{})
	assert.True(t, client.IsForbidden(err), "an agent lists certificates: %v", err)
	_, err = agentA.CreateCertificate(ctx, newCert("mc-auth-3"))
	assert.True(t, client.IsForbidden(err), "an agent creates a certificate: %v", err)

	// Retired: the agent gets 410 Gone on heartbeat and poll (REFERENCE:
	// "DELETE /agents/{id} (retire: the agent then gets 410 on heartbeat and
	// poll)"), on every node.
	require.NoError(t, ops.RetireAgent(ctx, regA.ID))
	for _, n := range c.Nodes() {
		c.Wait("retirement on "+n.ID, func(ctx context.Context) error {
			a, err := c.APIClient(AdminKey, n).GetAgent(ctx, regA.ID)
			if err == nil && a.RetiredAt == nil {
				err = fmt.Errorf("agent %s not retired on %s yet", regA.ID, n.ID)
			}
			return err
		})
		err = c.APIClient(keys["operator"].APIKey, n).Heartbeat(ctx, regA.ID, hb)
		assert.True(t, client.IsGone(err), "operator heartbeat for the retired agent on %s: %v", n.ID, err)
		own := c.APIClient(regA.APIKey, n)
		err = own.Heartbeat(ctx, regA.ID, hb)
		assert.Equal(t, http.StatusGone, client.StatusOf(err), "the retired agent's own heartbeat on %s: %v", n.ID, err)
		_, err = own.Work(ctx, regA.ID)
		assert.Equal(t, http.StatusGone, client.StatusOf(err), "the retired agent's own poll on %s: %v", n.ID, err)
	}
	require.NoError(t, c.APIClient(regB.APIKey).Heartbeat(ctx, regB.ID, hb), "the other agent is unaffected")

	// A revoked key stops working on every node.
	require.NoError(t, admin.RevokeKey(ctx, keys["viewer"].ID))
	for _, n := range c.Nodes() {
		c.Wait("revocation on "+n.ID, func(ctx context.Context) error {
			err := as("viewer", n).AuthCheck(ctx)
			if !client.IsUnauthorized(err) {
				return fmt.Errorf("revoked key on %s: %v", n.ID, err)
			}
			return nil
		})
	}
}
