package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/certctl/certctl/api/client"
	"github.com/certctl/certctl/api/wire"
	"github.com/certctl/certctl/connectors/issuer/acme/acmetest"
)

// TestACME_AgentAnswersHTTP01 issues through pebble on a three-node
// cluster whose nodes serve no HTTP-01 answers at all: the issuer has
// http01_responder agent, and pebble validates at the listener of the
// real certctl-agent (-acme-http-addr), which holds the certificate's
// target and makes its key. The agent talks to a follower, so its
// confirmation crosses the cluster before the order goes on. A second
// agent's order is never handed to the first, whose listener does not
// serve it; with that agent not running, the order fails before the CA is
// asked, with a job error saying what to run.
func TestACME_AgentAnswersHTTP01(t *testing.T) {
	skipShort(t)
	c := NewCluster(t, certctlBin)
	c.Start(3)
	leader := c.WaitLeader()
	follower := c.Followers(leader)[0]
	agentAddr := "127.0.0.1:" + strconv.Itoa(acmetest.FreePort(t))
	_, port, _ := strings.Cut(agentAddr, ":")
	httpPort, _ := strconv.Atoi(port)
	pebble := acmetest.Start(t, acmetest.Options{HTTPPort: httpPort})

	f := c.Seed(leader)
	api := c.APIClient(AdminKey, append([]*Node{leader}, c.Followers(leader)...)...)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	cfg, err := json.Marshal(map[string]any{"directory_url": pebble.DirectoryURL, "ca_bundle": pebble.CABundle,
		"eab_kid": acmetest.EABKID, "eab_hmac_key": acmetest.EABHMACKey, "terms_of_service_agreed": true,
		"challenge": "http-01", "http01_responder": "agent"})
	require.NoError(t, err)
	_, err = api.CreateIssuer(ctx, wire.Issuer{ID: "iss-pebble-agent", Name: "pebble agent", Type: "ACME", Config: cfg, Enabled: true})
	require.NoError(t, err)
	bad, _ := json.Marshal(map[string]any{"directory_url": pebble.DirectoryURL, "http01_responder": "host"})
	_, err = api.CreateIssuer(ctx, wire.Issuer{ID: "iss-bad", Name: "bad", Type: "ACME", Config: bad, Enabled: true})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "http01_responder")

	certDir := t.TempDir()
	newAgent := func(name string) (*wire.AgentRegistration, string) {
		reg, err := api.RegisterAgent(ctx, name, name+".acme.example")
		require.NoError(t, err)
		tgt, err := api.CreateTarget(ctx, wire.Target{ID: "tgt-" + name, Name: "nginx " + name, Type: "NGINX", AgentID: reg.ID,
			Config: json.RawMessage(fmt.Sprintf(`{"cert_path":%q,"key_path":%q}`, certDir+"/"+name+".crt", certDir+"/"+name+".key")), Enabled: true})
		require.NoError(t, err)
		return reg, tgt.ID
	}
	regA, tgtA := newAgent("web-a")
	regB, tgtB := newAgent("web-b")

	agentA := c.AddAgent(agentBin, AgentConfig{ID: regA.ID, APIKey: regA.APIKey, Servers: []*Node{follower}, AllowedDirs: []string{certDir},
		Extra: []string{"-acme-http-addr", agentAddr, "-acme-poll-interval", "500ms"}})
	c.StartAgent(agentA)

	// An agent-side key, on agent A's target: the agent makes the key, sends
	// the CSR, serves the answer and confirms it; pebble validates at it.
	const certA = "mc-acme-agent-a"
	cert := f.NewCertificate(certA)
	_, err = api.CreateCertificate(ctx, wire.Certificate{ID: certA, Name: cert.Name, CommonName: cert.CommonName, SANs: cert.SANs,
		Environment: "production", OwnerID: f.OwnerID, TeamID: f.TeamID, IssuerID: "iss-pebble-agent", TargetIDs: []string{tgtA}})
	require.NoError(t, err)
	require.NoError(t, api.RenewCertificate(ctx, certA))
	v := waitVersions(t, c, api, certA, 1, 90*time.Second)[0]
	pebble.Verify(t, v.PEMChain, cert.CommonName)
	log := agentA.Log()
	assert.Contains(t, log, "acme http-01 answers served", "the agent's listener is up")
	assert.Contains(t, log, "acme http-01 answer served")
	c.Wait("the answer taken down once the order is done", func(context.Context) error {
		if log := agentA.Log(); !strings.Contains(log, "acme http-01 answer taken down") || !strings.Contains(log, "CSR sent; the key stays on this host") {
			return fmt.Errorf("agent A still serves the order's answer")
		}
		return nil
	})
	for _, path := range []string{"/", "/.well-known/acme-challenge/notAToken_0123456789abcdef", "/.well-known/acme-challenge/"} {
		code, body := httpGet(t, "http://"+agentAddr+path)
		assert.Equal(t, http.StatusNotFound, code, path)
		assert.NotContains(t, body, ".", path)
	}

	// Agent B's certificate, agent B not running: its order's answer goes
	// to B alone, and the order fails with a clear error, unvalidated.
	serverKeyCert(t, ctx, api, f, "mc-acme-agent-b", "iss-pebble-agent", tgtB)
	require.NoError(t, api.RenewCertificate(ctx, "mc-acme-agent-b"))
	apiA := c.APIClient(regA.APIKey, follower)
	apiB := c.APIClient(regB.APIKey, leader)
	var tokenB string
	require.NoError(t, c.WaitErr(45*time.Second, func(ctx context.Context) error {
		l, err := apiB.ACMEChallenges(ctx, regB.ID)
		if err != nil {
			return err
		}
		if len(l.Challenges) != 1 {
			return fmt.Errorf("agent B is handed %d answers", len(l.Challenges))
		}
		tokenB = l.Challenges[0].Token
		assert.Equal(t, "mc-acme-agent-b", l.Challenges[0].CertificateID)
		return nil
	}))
	la, err := apiA.ACMEChallenges(ctx, regA.ID)
	require.NoError(t, err)
	assert.Empty(t, la.Challenges, "agent A is not handed agent B's answer")
	err = apiA.ConfirmACMEChallenge(ctx, regA.ID, tokenB)
	assert.True(t, client.IsNotFound(err), "agent A cannot confirm agent B's answer: %v", err)
	_, err = apiA.ACMEChallenges(ctx, regB.ID)
	assert.Equal(t, http.StatusForbidden, client.StatusOf(err), "nor list B's with its own key")
	code, _ := httpGet(t, "http://"+agentAddr+"/.well-known/acme-challenge/"+tokenB)
	assert.Equal(t, http.StatusNotFound, code, "agent A's listener does not serve B's answer")

	var failed wire.Job
	require.NoError(t, c.WaitErr(90*time.Second, func(ctx context.Context) error {
		l, err := api.ListJobs(ctx, client.ListJobsOptions{Status: "Failed", PerPage: 500})
		if err != nil {
			return err
		}
		for _, j := range l.Data {
			if j.CertificateID == "mc-acme-agent-b" {
				failed = j
				return nil
			}
		}
		return fmt.Errorf("the order of agent B's certificate has not failed yet")
	}))
	assert.Contains(t, failed.LastError, "confirmed it serves the HTTP-01 answer")
	assert.Contains(t, failed.LastError, "-acme-http-addr")
	l, err := apiB.ACMEChallenges(ctx, regB.ID)
	require.NoError(t, err)
	assert.Empty(t, l.Challenges, "the failed order's answer is withdrawn")
}

func httpGet(t *testing.T, u string) (int, string) {
	t.Helper()
	resp, err := http.Get(u)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}
