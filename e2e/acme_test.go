package e2e

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/certctl/certctl/api/client"
	"github.com/certctl/certctl/api/wire"
	"github.com/certctl/certctl/connectors/issuer"
	"github.com/certctl/certctl/connectors/issuer/acme/acmetest"
)

// answerCSR plays the agent's part of an issuance (GET /work, then a key
// of its own and POST /csr) for certificate certID: the key never leaves
// the test, as it never leaves an agent's host. It returns the key.
func answerCSR(t *testing.T, c *Cluster, agentAPI *client.Client, agentID, certID string) *ecdsa.PrivateKey {
	t.Helper()
	var item wire.WorkItem
	require.NoError(t, c.WaitErr(45*time.Second, func(ctx context.Context) error {
		w, err := agentAPI.Work(ctx, agentID)
		if err != nil {
			return err
		}
		for _, j := range w.Jobs {
			if j.CertificateID == certID && j.Status == "AwaitingCSR" {
				item = j
				return nil
			}
		}
		return fmt.Errorf("no job of %s waits for a CSR yet: %+v", certID, w.Jobs)
	}))
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{
		Subject: pkix.Name{CommonName: item.CommonName}, DNSNames: item.SANs}, key)
	require.NoError(t, err)
	csr := string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}))
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	require.NoError(t, agentAPI.SubmitCSR(ctx, agentID, wire.CSRRequest{CSRPEM: csr, CertificateID: certID}))
	return key
}

// TestACME_ClusterIssuesRenewsRevokesThroughPebble: a three-node cluster
// with an ACME issuer pointing at pebble (External Account Binding
// required, a tenth of its nonces refused). The leader places the order
// for an agent's CSR; pebble validates HTTP-01 at a follower's
// acme_http_addr, which answers from the replicated state. The chain
// verifies against pebble's root; a renewal is a new certificate from the
// same account; a revocation with a reason reaches pebble, which reports
// both certificates revoked with it.
func TestACME_ClusterIssuesRenewsRevokesThroughPebble(t *testing.T) {
	skipShort(t)
	httpAddrs := map[string]string{}
	for _, id := range []string{"n1", "n2", "n3"} {
		httpAddrs[id] = "127.0.0.1:" + strconv.Itoa(acmetest.FreePort(t))
	}
	c := NewCluster(t, certctlBin, WithNodeArgs(func(id string) []string { return []string{"--acme-http-addr", httpAddrs[id]} }))
	c.Start(3)
	leader := c.WaitLeader()
	follower := c.Followers(leader)[0]
	_, port, err := net.SplitHostPort(httpAddrs[follower.ID])
	require.NoError(t, err)
	httpPort, _ := strconv.Atoi(port)
	pebble := acmetest.Start(t, acmetest.Options{HTTPPort: httpPort, NonceReject: 10})

	f := c.Seed(leader)
	api := c.APIClient(AdminKey, append([]*Node{leader}, c.Followers(leader)...)...)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	cfg, err := json.Marshal(map[string]any{"directory_url": pebble.DirectoryURL, "ca_bundle": pebble.CABundle,
		"email": "pki@example.com", "eab_kid": acmetest.EABKID, "eab_hmac_key": acmetest.EABHMACKey,
		"terms_of_service_agreed": true, "challenge": "http-01"})
	require.NoError(t, err)
	created, err := api.CreateIssuer(ctx, wire.Issuer{ID: "iss-pebble", Name: "pebble", Type: "ACME", Config: cfg, Enabled: true})
	require.NoError(t, err)
	assert.NotContains(t, string(created.Config), acmetest.EABHMACKey, "the EAB key is never answered")

	reg, err := api.RegisterAgent(ctx, "acme-agent", "web.acme.example")
	require.NoError(t, err)
	target, err := api.CreateTarget(ctx, wire.Target{ID: "tgt-acme", Name: "nginx acme", Type: "NGINX", AgentID: reg.ID,
		Config: json.RawMessage(`{"cert_path":"/etc/nginx/acme.crt","key_path":"/etc/nginx/acme.key"}`), Enabled: true})
	require.NoError(t, err)
	const certID = "mc-acme-1"
	cert := f.NewCertificate(certID)
	cert.IssuerID, cert.TargetIDs = "iss-pebble", []string{target.ID}
	_, err = api.CreateCertificate(ctx, wire.Certificate{ID: cert.ID, Name: cert.Name, CommonName: cert.CommonName, SANs: cert.SANs,
		Environment: "production", OwnerID: f.OwnerID, TeamID: f.TeamID, IssuerID: cert.IssuerID, TargetIDs: cert.TargetIDs})
	require.NoError(t, err)

	// The agent talks to the leader, so the leader places the order; the
	// validation reaches the follower.
	agentAPI := c.APIClient(reg.APIKey, leader)
	require.NoError(t, api.RenewCertificate(ctx, certID))
	key := answerCSR(t, c, agentAPI, reg.ID, certID)
	v1 := waitVersions(t, c, api, certID, 1, 60*time.Second)[0]
	leaf := pebble.Verify(t, v1.PEMChain, cert.CommonName)
	assert.True(t, key.PublicKey.Equal(leaf.PublicKey), "the certificate binds the agent's key")
	assert.Equal(t, issuer.FormatSerial(leaf.SerialNumber), v1.SerialNumber)
	assert.Contains(t, follower.Log(), "acme http-01 answers served", "the follower serves answers")
	// The public route answers nothing for a token it does not hold (nor
	// for the order's, withdrawn once it is done).
	for _, addr := range httpAddrs {
		resp, err := http.Get("http://" + addr + "/.well-known/acme-challenge/notAToken_0123456789abcdef")
		require.NoError(t, err)
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		assert.Equal(t, http.StatusNotFound, resp.StatusCode, addr)
		assert.NotContains(t, string(body), ".")
	}

	// Renewal: a new certificate from the same account.
	require.NoError(t, api.RenewCertificate(ctx, certID))
	answerCSR(t, c, agentAPI, reg.ID, certID)
	versions := waitVersions(t, c, api, certID, 2, 60*time.Second)
	serials := map[string]bool{}
	for _, v := range versions {
		serials[v.SerialNumber] = true
		pebble.Verify(t, v.PEMChain, cert.CommonName)
	}
	require.Len(t, serials, 2, "the renewal is another certificate")

	// A server-side key: the leader makes the key and its CSR, and orders.
	serverKeyCert(t, ctx, api, f, "mc-acme-srv", "iss-pebble", target.ID)
	require.NoError(t, api.RenewCertificate(ctx, "mc-acme-srv"))
	sv := waitVersions(t, c, api, "mc-acme-srv", 1, 60*time.Second)[0]
	pebble.Verify(t, sv.PEMChain, "mc-acme-srv.example.com")

	// Revocation with a reason: pebble reports every version revoked.
	require.NoError(t, api.RevokeCertificate(ctx, certID, "keyCompromise"))
	for serial := range serials {
		st := pebble.Status(t, serial)
		assert.Equal(t, "Revoked", st.Status, serial)
		if assert.NotNil(t, st.Reason, serial) {
			assert.EqualValues(t, issuer.ReasonKeyCompromise, *st.Reason, serial)
		}
	}
}

// TestACME_DevDemoIssuerFailsOnce: the demo data's ACME issuer (disabled,
// its directory on the internet) is not asked: a renewal of a certificate
// on it fails once, for good, with a message saying the issuer is disabled
// and how to enable it, instead of retrying.
func TestACME_DevDemoIssuerFailsOnce(t *testing.T) {
	skipShort(t)
	c := NewCluster(t, certctlBin)
	n := c.AddDevNode()
	c.StartNode(n)
	c.WaitReady(n)
	c.Wait("demo data", func(context.Context) error {
		if !strings.Contains(n.Log(), `msg="demo data loaded"`) {
			return errors.New("no demo data yet")
		}
		return nil
	})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var renewed struct {
		JobIDs []string `json:"job_ids"`
	}
	_, _, err := c.Client().Do(ctx, http.MethodPost, n.URL()+"/api/v1/certificates/mc-web-prod/renew", nil, &renewed, http.StatusAccepted)
	require.NoError(t, err)
	require.Len(t, renewed.JobIDs, 1)
	var job wire.Job
	c.Wait("the renewal fails", func(ctx context.Context) error {
		if err := c.Client().GetJSON(ctx, n.URL(), "/api/v1/jobs/"+renewed.JobIDs[0], "", &job); err != nil {
			return err
		}
		if job.Status != "Failed" {
			return fmt.Errorf("job %s is %s (%s)", job.ID, job.Status, job.LastError)
		}
		return nil
	})
	assert.Equal(t, 1, job.Attempts, "failed once, not retried")
	assert.Contains(t, job.LastError, "iss-acme-le")
	assert.Contains(t, job.LastError, "disabled")
	var cert wire.Certificate
	require.NoError(t, c.Client().GetJSON(ctx, n.URL(), "/api/v1/certificates/mc-web-prod", "", &cert))
	assert.Equal(t, "Failed", string(cert.Status))
}

// TestACME_ClusterDNS01 issues for an agent's CSR on a three-node cluster
// through an ACME issuer validating with DNS-01: the TXT record is written
// by a TSIG-signed RFC 2136 update to the site's DNS server (one the test
// runs, which pebble resolves at), and removed after the order.
func TestACME_ClusterDNS01(t *testing.T) {
	skipShort(t)
	c := NewCluster(t, certctlBin)
	c.Start(3)
	leader := c.WaitLeader()
	zone := acmetest.StartDNS(t, "example.com")
	pebble := acmetest.Start(t, acmetest.Options{HTTPPort: acmetest.FreePort(t), DNSServer: zone.Addr})
	f := c.Seed(leader)
	api := c.APIClient(AdminKey, append([]*Node{leader}, c.Followers(leader)...)...)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cfg, err := json.Marshal(map[string]any{"directory_url": pebble.DirectoryURL, "ca_bundle": pebble.CABundle,
		"eab_kid": acmetest.EABKID, "eab_hmac_key": acmetest.EABHMACKey, "terms_of_service_agreed": true,
		"challenge": "dns-01", "dns_server": zone.Addr, "dns_zone": "example.com",
		"dns_tsig_key": acmetest.TSIGKey, "dns_tsig_secret": acmetest.TSIGSecret, "dns_propagation_seconds": 20})
	require.NoError(t, err)
	created, err := api.CreateIssuer(ctx, wire.Issuer{ID: "iss-pebble-dns", Name: "pebble dns", Type: "ACME", Config: cfg, Enabled: true})
	require.NoError(t, err)
	assert.NotContains(t, string(created.Config), acmetest.TSIGSecret, "the TSIG secret is never answered")

	reg, err := api.RegisterAgent(ctx, "dns-agent", "dns.acme.example")
	require.NoError(t, err)
	target, err := api.CreateTarget(ctx, wire.Target{ID: "tgt-dns", Name: "nginx dns", Type: "NGINX", AgentID: reg.ID,
		Config: json.RawMessage(`{"cert_path":"/etc/nginx/dns.crt","key_path":"/etc/nginx/dns.key"}`), Enabled: true})
	require.NoError(t, err)
	const certID = "mc-acme-dns"
	cert := f.NewCertificate(certID)
	_, err = api.CreateCertificate(ctx, wire.Certificate{ID: cert.ID, Name: cert.Name, CommonName: cert.CommonName, SANs: cert.SANs,
		Environment: "production", OwnerID: f.OwnerID, TeamID: f.TeamID, IssuerID: "iss-pebble-dns", TargetIDs: []string{target.ID}})
	require.NoError(t, err)
	require.NoError(t, api.RenewCertificate(ctx, certID))
	key := answerCSR(t, c, c.APIClient(reg.APIKey), reg.ID, certID)
	v := waitVersions(t, c, api, certID, 1, 60*time.Second)[0]
	leaf := pebble.Verify(t, v.PEMChain, cert.CommonName)
	assert.True(t, key.PublicKey.Equal(leaf.PublicKey), "the certificate binds the agent's key")
	assert.Empty(t, zone.TXT("_acme-challenge."+cert.CommonName), "the record is removed after the order")
	assert.Zero(t, zone.Refused())
}
