package api_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/certctl/certctl/api"
	"github.com/certctl/certctl/api/wire"
	"github.com/certctl/certctl/connectors/issuer"
	"github.com/certctl/certctl/connectors/issuer/acme"
	"github.com/certctl/certctl/connectors/issuer/localca"
	"github.com/certctl/certctl/connectors/keywrap"
	"github.com/certctl/certctl/fsm"
	"github.com/certctl/certctl/node/nodetest"
	"github.com/certctl/certctl/scheduler"
	"github.com/certctl/certctl/scheduler/issuance"
)

// lateIssuers lets a test hand the API an issuer service built after the
// node it needs, which newEnv starts.
type lateIssuers struct{ api.IssuerService }

// lateKeys is lateIssuers for the key opener.
type lateKeys struct{ api.KeyOpener }

// issuanceWorld is a world whose API signs through the real issuance
// service, with a fresh KEK (nil kek: none).
func issuanceWorld(t *testing.T, withKEK bool) (*world, *issuance.Service, []byte) {
	t.Helper()
	late, keys := &lateIssuers{}, &lateKeys{}
	w := newWorld(t, api.Config{RateLimit: -1, HeartbeatFlush: 10 * time.Millisecond, Issuers: late, Keys: keys})
	var kek []byte
	if withKEK {
		var err error
		kek, err = keywrap.NewKEK(nil)
		require.NoError(t, err)
	}
	reg, err := issuer.NewRegistry(append([]issuer.Connector{localca.Connector(kek), acme.Connector(kek, nil, acme.Options{})}, issuer.Planned()...)...)
	require.NoError(t, err)
	svc, err := issuance.New(issuance.Config{NodeID: "n1", KEK: kek}, reg, w.node.FSM(), w.node)
	require.NoError(t, err)
	late.IssuerService, keys.KeyOpener = svc, svc
	return w, svc, kek
}

// TestAPI_AgentIssuanceThroughLocalCA runs the agent-side key flow end to
// end on one node: the scheduler hands a renewal job to the agent of the
// certificate's target, the agent's CSR is signed by the Local CA, the
// chain verifies (Go and openssl), the deployment is queued, and after a
// revocation the CRL lists the serial. The CA's keys never reach the disk
// in the clear.
func TestAPI_AgentIssuanceThroughLocalCA(t *testing.T) {
	openssl, err := exec.LookPath("openssl")
	require.NoError(t, err, "this test checks the chain and the CRL with openssl: install it (apt-get install openssl)")
	w, svc, kek := issuanceWorld(t, true)
	certID, targetID, cn := w.servedCert(t, w.agentID)
	issuerID := w.ref.issuer

	// A renewal job, as the renewal check queues it: no agent named.
	jobID := renewThroughScheduler(t, w, svc, certID, fsm.JobAwaitingCSR)
	job, err := w.node.FSM().Job(jobID)
	require.NoError(t, err)
	assert.Equal(t, w.agentID, job.AgentID, "the job is bound to the target's agent")
	work := w.as(t, w.agentKey, "GET", "/api/v1/agents/"+w.agentID+"/work", nil)
	require.Equal(t, 200, work.status, "%s", work.raw)
	assert.Contains(t, string(work.raw), jobID, "the agent sees the job in its work")

	// The agent makes its key and sends a CSR.
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: cn}, DNSNames: []string{cn}}, key)
	require.NoError(t, err)
	csr := string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}))
	a := w.as(t, w.agentKey, "POST", "/api/v1/agents/"+w.agentID+"/csr", map[string]any{"csr_pem": csr, "certificate_id": certID})
	require.Equal(t, 202, a.status, "%s", a.raw)
	assert.Equal(t, map[string]any{"status": "csr_accepted"}, a.body)

	// A version exists, for the agent's key, and its chain verifies.
	var versions struct {
		Data []fsm.CertificateVersion `json:"data"`
	}
	require.NoError(t, json.Unmarshal(w.must(t, 200, "GET", "/api/v1/certificates/"+certID+"/versions", nil).raw, &versions))
	require.Len(t, versions.Data, 1)
	v := versions.Data[0]
	chain := pemCerts(t, v.PEMChain)
	require.Len(t, chain, 2, "the leaf, then the intermediate")
	leaf := chain[0]
	assert.True(t, key.PublicKey.Equal(leaf.PublicKey), "the certificate binds the agent's key")
	assert.Equal(t, hex.EncodeToString(leaf.SerialNumber.Bytes()), v.SerialNumber, "the version names the certificate's serial")

	ca := w.as(t, "", "GET", "/.well-known/pki/ca/"+issuerID, nil)
	require.Equal(t, 200, ca.status, "%s", ca.raw)
	assert.Equal(t, "application/x-pem-file", ca.header.Get("Content-Type"))
	caCerts := pemCerts(t, string(ca.raw))
	require.Len(t, caCerts, 2, "the intermediate, then the root")
	inter, root := caCerts[0], caCerts[1]
	assert.Equal(t, chain[1].Raw, inter.Raw)
	roots, inters := x509.NewCertPool(), x509.NewCertPool()
	roots.AddCert(root)
	inters.AddCert(inter)
	_, err = leaf.Verify(x509.VerifyOptions{DNSName: cn, Roots: roots, Intermediates: inters, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})
	require.NoError(t, err)

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

	// The job is done and the deployment to the target is queued.
	j := w.must(t, 200, "GET", "/api/v1/jobs/"+jobID, nil)
	assert.Equal(t, "Completed", j.body["status"])
	var deploys struct {
		Data []fsm.Job `json:"data"`
	}
	require.NoError(t, json.Unmarshal(w.must(t, 200, "GET", "/api/v1/jobs?certificate_id="+certID+"&type=Deployment", nil).raw, &deploys))
	require.Len(t, deploys.Data, 1)
	assert.Equal(t, targetID, deploys.Data[0].TargetID)
	assert.Equal(t, w.agentID, deploys.Data[0].AgentID)
	assert.Equal(t, fsm.JobPending, deploys.Data[0].Status)

	// The issuer's test opens its CA with the KEK.
	test := w.as(t, w.operator, "POST", "/api/v1/issuers/"+issuerID+"/test", nil)
	require.Equal(t, 200, test.status, "%s", test.raw)
	assert.Equal(t, map[string]any{"status": "connection_successful"}, test.body)

	// Before the revocation the CRL is empty; after it, it lists the serial.
	crlPath := func(name string) string {
		a := w.as(t, "", "GET", "/.well-known/pki/crl/"+issuerID, nil)
		require.Equal(t, 200, a.status, "%s", a.raw)
		assert.Equal(t, "application/pkix-crl", a.header.Get("Content-Type"))
		crl, err := x509.ParseRevocationList(a.raw)
		require.NoError(t, err)
		require.NoError(t, crl.CheckSignatureFrom(inter), "the intermediate signs the CRL")
		return write(name, a.raw)
	}
	// The DER routes serve the same CA certificates, and the root's CRL
	// covers the intermediate: openssl checks revocation along the whole
	// chain with both CRLs the node serves.
	for which, want := range map[string]*x509.Certificate{"intermediate": inter, "root": root} {
		a := w.as(t, "", "GET", "/.well-known/pki/ca/"+issuerID+"/"+which, nil)
		require.Equal(t, 200, a.status, "%s", a.raw)
		assert.Equal(t, "application/pkix-cert", a.header.Get("Content-Type"))
		assert.Equal(t, want.Raw, a.raw, which)
	}
	rootCRL := w.as(t, "", "GET", "/.well-known/pki/crl/"+issuerID+"/root", nil)
	require.Equal(t, 200, rootCRL.status, "%s", rootCRL.raw)
	assert.Equal(t, "application/pkix-crl", rootCRL.header.Get("Content-Type"))
	parsedRootCRL, err := x509.ParseRevocationList(rootCRL.raw)
	require.NoError(t, err)
	require.NoError(t, parsedRootCRL.CheckSignatureFrom(root), "the root signs its CRL")
	rootCRLFile := write("root.crl", pem.EncodeToMemory(&pem.Block{Type: "X509 CRL", Bytes: rootCRL.raw}))
	crlCheckAll := func(interCRL string) ([]byte, error) {
		pemCRL := write(filepath.Base(interCRL)+".pem", pem.EncodeToMemory(&pem.Block{Type: "X509 CRL", Bytes: mustRead(t, interCRL)}))
		return exec.Command(openssl, "verify", "-crl_check_all", "-CAfile", rootPEM, "-untrusted", interPEM,
			"-CRLfile", rootCRLFile, "-CRLfile", pemCRL, leafPEM).CombinedOutput()
	}
	beforeCRL := crlPath("before.crl")
	out, err = crlCheckAll(beforeCRL)
	require.NoError(t, err, "openssl verify -crl_check_all: %s", out)
	assert.Contains(t, string(out), leafPEM+": OK")

	before, err := exec.Command(openssl, "crl", "-inform", "DER", "-in", beforeCRL, "-noout", "-text").CombinedOutput()
	require.NoError(t, err, "openssl crl: %s", before)
	assert.Contains(t, string(before), "No Revoked Certificates")
	w.must(t, 200, "POST", "/api/v1/certificates/"+certID+"/revoke", map[string]any{"reason": "keyCompromise"})
	afterCRL := crlPath("after.crl")
	out, err = crlCheckAll(afterCRL)
	require.Error(t, err, "a revoked leaf must fail openssl verify -crl_check_all: %s", out)
	assert.Contains(t, string(out), "certificate revoked")
	after, err := exec.Command(openssl, "crl", "-inform", "DER", "-in", afterCRL, "-noout", "-text").CombinedOutput()
	require.NoError(t, err, "openssl crl: %s", after)
	var listed []string
	for _, line := range strings.Split(string(after), "\n") {
		if _, serial, ok := strings.Cut(line, "Serial Number:"); ok {
			listed = append(listed, strings.TrimLeft(strings.ToUpper(strings.TrimSpace(serial)), "0"))
		}
	}
	assert.Equal(t, []string{strings.ToUpper(leaf.SerialNumber.Text(16))}, listed, "openssl lists the revoked serial: %s", after)
	assert.Contains(t, string(after), "Key Compromise")

	// The CA's private keys are nowhere on disk in the clear: not in the
	// state file, nor the raft log, nor a snapshot.
	raw, err := w.node.FSM().IssuerMaterial(issuerID)
	require.NoError(t, err)
	var m localca.CAMaterial
	require.NoError(t, json.Unmarshal(raw, &m))
	var secrets [][]byte
	for role, sealed := range map[string][]byte{"root": m.RootKeySealed, "intermediate": m.IntermediateKeySealed} {
		der, err := keywrap.Open(kek, sealed, []byte("certctl/localca/"+issuerID+"/"+role))
		require.NoError(t, err, "the %s key opens with the KEK", role)
		k, err := x509.ParsePKCS8PrivateKey(der)
		require.NoError(t, err)
		ek, ok := k.(*ecdsa.PrivateKey)
		require.True(t, ok, "the default CA key is ECDSA, got %T", k)
		scalar, err := ek.Bytes()
		require.NoError(t, err)
		secrets = append(secrets, der, scalar)
	}
	files := 0
	require.NoError(t, filepath.WalkDir(filepath.Dir(w.node.FSM().Path()), func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		files++
		for _, s := range secrets {
			assert.False(t, bytes.Contains(data, s), "%s holds a CA private key in the clear", p)
		}
		return nil
	}))
	assert.GreaterOrEqual(t, files, 2, "the state file and the raft log were searched")
}

// TestAPI_LocalCAWithoutKEK checks that a node without a KEK says which
// flag it needs, both when an issuer is tested and when a CSR arrives.
func TestAPI_LocalCAWithoutKEK(t *testing.T) {
	w, _, _ := issuanceWorld(t, false)
	test := w.as(t, w.operator, "POST", "/api/v1/issuers/"+w.ref.issuer+"/test", nil)
	requireError(t, test, 502, "")
	assert.Contains(t, test.body["message"], "--kek-file")

	certID, _, cn := w.servedCert(t, w.agentID)
	w.awaitingCSRJob(t, w.agentID, certID)
	a := w.as(t, w.agentKey, "POST", "/api/v1/agents/"+w.agentID+"/csr", map[string]any{"csr_pem": csrPEM(t, cn), "certificate_id": certID})
	requireError(t, a, 502, "")
	assert.Contains(t, a.body["message"], "--kek-file")
}

// TestAPI_ServerKeyPickup: a certificate with a server-side key is issued
// by the scheduler alone; its key reaches the agent of its target through
// the pickup, and no one else, in no other answer.
func TestAPI_ServerKeyPickup(t *testing.T) {
	w, svc, _ := issuanceWorld(t, true)
	targetID := w.target(t, w.admin, w.agentID)
	certID := w.cert(t, w.admin, w.ref, map[string]any{"target_ids": []string{targetID}, "key_generation": "server"})
	other, otherKey := w.agent(t, w.admin)

	before := w.as(t, w.agentKey, "GET", "/api/v1/agents/"+w.agentID+"/certificates/"+certID, nil)
	requireError(t, before, 404, "")

	renewThroughScheduler(t, w, svc, certID, fsm.JobCompleted)

	a := w.as(t, w.agentKey, "GET", "/api/v1/agents/"+w.agentID+"/certificates/"+certID, nil)
	require.Equal(t, 200, a.status, "%s", a.raw)
	assert.Equal(t, "no-store", a.header.Get("Cache-Control"))
	keyPEM, _ := a.body["private_key_pem"].(string)
	block, _ := pem.Decode([]byte(keyPEM))
	require.NotNil(t, block, "the mapped agent gets the key: %s", a.raw)
	assert.Equal(t, "PRIVATE KEY", block.Type)
	key, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	require.NoError(t, err)
	leaf := pemCerts(t, a.body["certificate_pem"].(string))[0]
	assert.True(t, key.(*ecdsa.PrivateKey).PublicKey.Equal(leaf.PublicKey), "the key is the certificate's")

	denied := w.as(t, otherKey, "GET", "/api/v1/agents/"+other+"/certificates/"+certID, nil)
	requireError(t, denied, 403, "")
	onBehalf := w.as(t, w.admin, "GET", "/api/v1/agents/"+w.agentID+"/certificates/"+certID, nil)
	require.Equal(t, 200, onBehalf.status, "%s", onBehalf.raw)
	assert.NotContains(t, onBehalf.body, "private_key_pem", "an admin calling the agent's endpoint gets the certificate, not the key")
	for _, path := range []string{"/api/v1/certificates/" + certID, "/api/v1/certificates/" + certID + "/versions",
		"/api/v1/audit?per_page=500", "/api/v1/jobs?certificate_id=" + certID} {
		r := w.must(t, 200, "GET", path, nil)
		assert.NotContains(t, string(r.raw), "PRIVATE KEY", path)
		assert.NotContains(t, string(r.raw), "sealed", path)
	}
}

func pemCerts(t *testing.T, text string) []*x509.Certificate {
	t.Helper()
	var out []*x509.Certificate
	rest := []byte(text)
	for {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		require.Equal(t, "CERTIFICATE", b.Type)
		c, err := x509.ParseCertificate(b.Bytes)
		require.NoError(t, err)
		out = append(out, c)
	}
	return out
}

// renewThroughScheduler queues a renewal job for certID, as the renewal check
// does (no agent named), and runs the real scheduler with svc until the job
// reaches status. It returns the job's id.
func renewThroughScheduler(t *testing.T, w *world, svc *issuance.Service, certID string, status wire.JobStatus) string {
	t.Helper()
	jobID := w.id("job-")
	w.propose(t, &fsm.CreateJobs{Jobs: []fsm.Job{{ID: jobID, Type: fsm.JobRenewal, CertificateID: certID}}})
	sched, err := scheduler.New(scheduler.Config{NodeID: "n1", Issuance: svc}, w.node.FSM(), w.node)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	var running sync.WaitGroup
	running.Go(func() { sched.Run(ctx) })
	defer running.Wait()
	defer cancel()
	nodetest.WaitFor(t, "the renewal job is "+string(status), func() bool {
		j, err := w.node.FSM().Job(jobID)
		return err == nil && j.Status == status
	})
	return jobID
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	return data
}
