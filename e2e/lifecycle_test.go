package e2e

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/certctl/certctl/api/client"
	"github.com/certctl/certctl/api/wire"
)

// localCA creates a Local CA issuer (GenericCA) whose CRLs and CA
// certificates are published by node n (crl_url, public_url), and returns
// its id.
func localCA(t testing.TB, ctx context.Context, api *client.Client, n *Node, id string) string {
	t.Helper()
	cfg := fmt.Sprintf(`{"ca_common_name":"E2E CA","validity_days":30,"crl_url":"%s/.well-known/pki/crl/%s","public_url":"%s","organization":"certctl e2e","country":"DE"}`, n.URL(), id, n.URL())
	iss, err := api.CreateIssuer(ctx, wire.Issuer{ID: id, Name: "e2e local CA " + id, Type: "GenericCA", Config: json.RawMessage(cfg), Enabled: true})
	require.NoError(t, err)
	return iss.ID
}

// serverKeyCert creates a certificate whose key the server makes, on issuer.
func serverKeyCert(t testing.TB, ctx context.Context, api *client.Client, f Fixtures, id, issuerID string, targets ...string) {
	t.Helper()
	require.NoError(t, createServerKeyCert(ctx, api, f, id, issuerID, targets...))
}

func createServerKeyCert(ctx context.Context, api *client.Client, f Fixtures, id, issuerID string, targets ...string) error {
	cn := id + ".example.com"
	_, err := api.CreateCertificate(ctx, wire.Certificate{ID: id, Name: "cert " + id, CommonName: cn, SANs: []string{cn},
		Environment: "production", OwnerID: f.OwnerID, TeamID: f.TeamID, IssuerID: issuerID, TargetIDs: targets,
		Tags: map[string]string{"suite": "e2e"}, KeyGeneration: "server"})
	return err
}

// rawGet fetches u without a key, trusting the cluster CA, and returns its
// body, requiring a 200.
func rawGet(t testing.TB, ctx context.Context, c *Cluster, u string) []byte {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	require.NoError(t, err)
	resp, err := c.NewClient(1).HTTP.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode, "GET %s: %s", u, body)
	return body
}

func parsePEMCerts(t testing.TB, text []byte) []*x509.Certificate {
	t.Helper()
	var out []*x509.Certificate
	for {
		var b *pem.Block
		b, text = pem.Decode(text)
		if b == nil {
			return out
		}
		require.Equal(t, "CERTIFICATE", string(b.Type))
		c, err := x509.ParseCertificate(b.Bytes)
		require.NoError(t, err)
		out = append(out, c)
	}
}

// waitVersions waits until certificate id has at least want versions and
// returns them.
func waitVersions(t testing.TB, c *Cluster, api *client.Client, id string, want int, timeout time.Duration) []wire.CertificateVersion {
	t.Helper()
	var got []wire.CertificateVersion
	err := c.WaitErr(timeout, func(ctx context.Context) error {
		l, err := api.ListCertificateVersions(ctx, id, 1, 100)
		if err != nil {
			return err
		}
		if l.Total < want {
			return fmt.Errorf("certificate %s has %d versions, want %d", id, l.Total, want)
		}
		got = l.Data
		return nil
	})
	require.NoError(t, err)
	return got
}

// TestLifecycle_ServerKeyIssueVerifyRevoke issues a certificate with a
// server-side key on a three-node cluster through the Local CA: openssl
// verifies the chain against the CA the cluster publishes, the key reaches
// the agent of the certificate's target (and no other agent), it is found
// in the clear in no file of any node, and after a revocation the CRL lists
// the serial.
func TestLifecycle_ServerKeyIssueVerifyRevoke(t *testing.T) {
	skipShort(t)
	openssl, err := exec.LookPath("openssl")
	require.NoError(t, err, "this test checks the chain and the CRL with openssl: install it (apt-get install openssl)")
	c := NewCluster(t, certctlBin)
	c.Start(3)
	leader := c.WaitLeader()
	f := c.Seed(leader)
	// The leader first: POST /renew there nudges the job processor.
	api := c.APIClient(AdminKey, append([]*Node{leader}, c.Followers(leader)...)...)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	issuerID := localCA(t, ctx, api, leader, "iss-lc")
	reg, err := api.RegisterAgent(ctx, "lc-agent", "web-lc.example.com")
	require.NoError(t, err)
	other, err := api.RegisterAgent(ctx, "lc-other", "web-other.example.com")
	require.NoError(t, err)
	target, err := api.CreateTarget(ctx, wire.Target{ID: "tgt-lc", Name: "nginx lc", Type: "NGINX", AgentID: reg.ID,
		Config: json.RawMessage(`{"cert_path":"/etc/nginx/lc.crt","key_path":"/etc/nginx/lc.key"}`), Enabled: true})
	require.NoError(t, err)
	const certID = "mc-lc-1"
	serverKeyCert(t, ctx, api, f, certID, issuerID, target.ID)

	require.NoError(t, api.RenewCertificate(ctx, certID))
	v := waitVersions(t, c, api, certID, 1, 45*time.Second)[0]
	assert.NotContains(t, v.PEMChain+v.CSRPEM, "PRIVATE KEY")
	chain := parsePEMCerts(t, []byte(v.PEMChain))
	require.Len(t, chain, 2, "the leaf, then the intermediate")
	leaf := chain[0]

	// The chain verifies with openssl against the CA a follower publishes.
	caCerts := parsePEMCerts(t, rawGet(t, ctx, c, c.Followers(leader)[0].URL()+"/.well-known/pki/ca/"+issuerID))
	require.Len(t, caCerts, 2, "the intermediate, then the root")
	inter, root := caCerts[0], caCerts[1]
	assert.Equal(t, chain[1].Raw, inter.Raw)
	dir := t.TempDir()
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, data, 0o600))
		return p
	}
	rootPEM := write("root.pem", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: root.Raw}))
	interPEM := write("intermediate.pem", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: inter.Raw}))
	leafPEM := write("leaf.pem", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: leaf.Raw}))
	out, err := exec.Command(openssl, "verify", "-CAfile", rootPEM, "-untrusted", interPEM, leafPEM).CombinedOutput()
	require.NoError(t, err, "openssl verify: %s", out)
	assert.Contains(t, string(out), leafPEM+": OK")

	// The agent of the target picks the key up; it is the certificate's.
	var pickup *wire.CertificatePickup
	agentAPI := c.APIClient(reg.APIKey)
	require.NoError(t, c.WaitErr(WaitTimeout, func(ctx context.Context) error {
		var err error
		pickup, err = agentAPI.PickupCertificate(ctx, reg.ID, certID)
		return err
	}))
	block, _ := pem.Decode([]byte(pickup.PrivateKeyPEM))
	require.NotNil(t, block, "the mapped agent's pickup holds private_key_pem")
	key, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	require.NoError(t, err)
	ek, ok := key.(*ecdsa.PrivateKey)
	require.True(t, ok, "the default server key is ECDSA P-256, got %T", key)
	assert.Equal(t, "P-256", ek.Curve.Params().Name)
	assert.True(t, ek.PublicKey.Equal(leaf.PublicKey), "the key is the certificate's")
	_, err = c.APIClient(other.APIKey).PickupCertificate(ctx, other.ID, certID)
	require.Error(t, err, "an agent serving none of the certificate's targets gets no key")

	// Moved to the other agent, the target does not take the key along:
	// the key was made for the first agent, and the new one needs a
	// renewal (the answer says so) before it gets a key of its own.
	moved := *target
	moved.AgentID = other.ID
	_, err = api.UpdateTarget(ctx, moved.ID, moved)
	require.NoError(t, err)
	require.NoError(t, c.WaitErr(WaitTimeout, func(ctx context.Context) error {
		p, err := c.APIClient(other.APIKey).PickupCertificate(ctx, other.ID, certID)
		switch {
		case err == nil && p.PrivateKeyPEM != "":
			return &fatalError{errors.New("the moved target's new agent got the key made for the first")}
		case err == nil || !strings.Contains(err.Error(), "renew"):
			return fmt.Errorf("the new agent's pickup is not refused yet for want of a renewal: %v", err) // a node that has not applied the move
		}
		return nil
	}))

	// The key's bytes are in no file of any node: state, raft log, snapshots.
	scalar, err := ek.Bytes()
	require.NoError(t, err)
	secrets := [][]byte{block.Bytes, scalar}
	files, err := c.NodeFiles(false, func(p string, data []byte) {
		for _, s := range secrets {
			assert.False(t, bytes.Contains(data, s), "%s holds the server key in the clear", p)
		}
	})
	require.NoError(t, err)
	assert.GreaterOrEqual(t, files, 6, "every node's state file and raft log were searched")

	// The certificates name where their issuers and CRLs are, and the
	// cluster serves them there: openssl checks revocation along the whole
	// chain with the two CRLs fetched from the URLs in the certificates.
	require.Len(t, leaf.IssuingCertificateURL, 1)
	assert.Equal(t, inter.Raw, rawGet(t, ctx, c, leaf.IssuingCertificateURL[0]), "the leaf's caIssuers serves the intermediate")
	require.Len(t, inter.IssuingCertificateURL, 1)
	assert.Equal(t, root.Raw, rawGet(t, ctx, c, inter.IssuingCertificateURL[0]), "the intermediate's caIssuers serves the root")
	assert.Equal(t, []string{"certctl e2e"}, inter.Subject.Organization)
	require.Len(t, inter.CRLDistributionPoints, 1)
	rootCRL := write("root.crl", rawGet(t, ctx, c, inter.CRLDistributionPoints[0]))
	require.Len(t, leaf.CRLDistributionPoints, 1)
	crlCheckAll := func() ([]byte, error) {
		interCRL := write("intermediate.crl", rawGet(t, ctx, c, leaf.CRLDistributionPoints[0]))
		return exec.Command(openssl, "verify", "-crl_check_all", "-CAfile", rootPEM, "-untrusted", interPEM,
			"-CRLfile", rootCRL, "-CRLfile", interCRL, leafPEM).CombinedOutput()
	}
	out, err = crlCheckAll()
	require.NoError(t, err, "openssl verify -crl_check_all: %s", out)
	assert.Contains(t, string(out), leafPEM+": OK")

	// Revoked, the serial is on the CRL.
	require.NoError(t, api.RevokeCertificate(ctx, certID, "keyCompromise"))
	out, err = crlCheckAll()
	require.Error(t, err, "a revoked leaf fails openssl verify -crl_check_all: %s", out)
	assert.Contains(t, string(out), "certificate revoked")
	crlDER := rawGet(t, ctx, c, leader.URL()+"/.well-known/pki/crl/"+issuerID)
	crl, err := x509.ParseRevocationList(crlDER)
	require.NoError(t, err)
	require.NoError(t, crl.CheckSignatureFrom(inter), "the intermediate signs the CRL")
	out, err = exec.Command(openssl, "crl", "-inform", "DER", "-in", write("revoked.crl", crlDER), "-noout", "-text").CombinedOutput()
	require.NoError(t, err, "openssl crl: %s", out)
	var listed []string
	for _, line := range strings.Split(string(out), "\n") {
		if _, serial, ok := strings.Cut(line, "Serial Number:"); ok {
			listed = append(listed, strings.TrimLeft(strings.ToUpper(strings.TrimSpace(serial)), "0"))
		}
	}
	assert.Equal(t, []string{strings.ToUpper(leaf.SerialNumber.Text(16))}, listed, "openssl lists the revoked serial: %s", out)
}

// TestLifecycle_FailoverWith50PendingJobs renews 50 certificates with
// server-side keys and kills the leader (SIGKILL) while their jobs are
// being worked. The new leader finishes them (the one the dead leader held
// once its lease runs out), the killed node comes back, and in the end
// every job is Completed, each certificate has exactly one version and one
// certificate_issued event: no job ran twice, none was dropped.
func TestLifecycle_FailoverWith50PendingJobs(t *testing.T) {
	skipShort(t)
	const count = 50
	c := NewCluster(t, certctlBin)
	c.Start(3)
	leader := c.WaitLeader()
	f := c.Seed(leader)
	api := c.APIClient(AdminKey)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	issuerID := localCA(t, ctx, api, leader, "iss-fo")
	// The CA is made once, before the race starts.
	require.NoError(t, api.TestIssuer(ctx, issuerID))
	ids := make([]string, count)
	for i := range ids {
		ids[i] = fmt.Sprintf("mc-fo-%02d", i)
		serverKeyCert(t, ctx, api, f, ids[i], issuerID)
	}

	// Every renewal goes to the leader, which nudges its job processor.
	onLeader := c.APIClient(AdminKey, leader)
	var wg sync.WaitGroup
	errs := make(chan error, count)
	for i := range ids {
		wg.Go(func() { errs <- onLeader.RenewCertificate(ctx, ids[i]) })
	}
	wg.Wait()
	c.Kill(leader)
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	next := c.WaitLeader(leader)
	if l, err := c.APIClient(AdminKey, next).ListJobs(ctx, client.ListJobsOptions{Type: "Renewal", Status: "Completed", PerPage: 1}); err == nil {
		t.Logf("leader %s killed; %s leads, %d of %d renewals completed so far", leader.ID, next.ID, l.Total, count)
	}
	c.Restart(leader)

	// A job the dead leader held waits for its lease (30 s) to run out, then
	// for the new leader's next pass of the job loop (every 30 s).
	var jobs *wire.List[wire.Job]
	require.NoError(t, c.WaitErr(3*time.Minute, func(ctx context.Context) error {
		var err error
		jobs, err = api.ListJobs(ctx, client.ListJobsOptions{Type: "Renewal", PerPage: 500})
		if err != nil {
			return err
		}
		done := 0
		for _, j := range jobs.Data {
			if j.Status == "Completed" {
				done++
			}
		}
		if jobs.Total != count || done != count {
			return fmt.Errorf("%d of %d renewal jobs completed", done, jobs.Total)
		}
		return nil
	}))
	for _, id := range ids {
		versions, err := api.ListCertificateVersions(ctx, id, 1, 100)
		require.NoError(t, err)
		assert.Equal(t, 1, versions.Total, "certificate %s has one version", id)
		issued, err := api.ListAudit(ctx, client.ListAuditOptions{Action: "certificate_issued", ResourceID: id, PerPage: 100})
		require.NoError(t, err)
		assert.Equal(t, 1, issued.Total, "certificate %s was issued once", id)
	}
}
