package agent

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/certctl/certctl/api/client"
	"github.com/certctl/certctl/api/wire"
	"github.com/certctl/certctl/connectors/target"
)

// fakeCluster is the agent protocol as the cluster answers it, with a CA
// that signs the CSRs it gets. It records every request body, so tests can
// assert that no key material ever reached it.
type fakeCluster struct {
	t      *testing.T
	mu     sync.Mutex
	jobs   []wire.WorkItem
	certs  map[string]string // certificate id → PEM chain
	keys   map[string]string // certificate id → server-made key
	csrs   []wire.CSRRequest
	status map[string][]wire.JobStatusRequest
	bodies []string
	beats  int  // heartbeats answered
	down   bool // every call fails as if no node answered
	gone   bool // the agent was retired
	caKey  crypto.Signer
	ca     *x509.Certificate
	serial int64
}

func newFakeCluster(t *testing.T) *fakeCluster {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Fake CA"}, IsCA: true,
		BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	require.NoError(t, err)
	ca, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	return &fakeCluster{t: t, certs: map[string]string{}, keys: map[string]string{}, status: map[string][]wire.JobStatusRequest{},
		caKey: key, ca: ca, serial: 100}
}

func (f *fakeCluster) fail() error {
	if f.gone {
		return &client.APIError{Status: http.StatusGone, Body: wire.Error{Error: "Gone", Message: "agent retired"}}
	}
	if f.down {
		return fmt.Errorf("%w: connection refused", client.ErrUnreachable)
	}
	return nil
}

func (f *fakeCluster) record(v any) {
	raw, _ := json.Marshal(v)
	f.bodies = append(f.bodies, string(raw))
}

func (f *fakeCluster) Heartbeat(_ context.Context, _ string, hb wire.HeartbeatRequest) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record(hb)
	if err := f.fail(); err != nil {
		return err
	}
	f.beats++
	return nil
}

func (f *fakeCluster) Work(context.Context, string) (*wire.WorkResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.fail(); err != nil {
		return nil, err
	}
	jobs := append([]wire.WorkItem(nil), f.jobs...)
	return &wire.WorkResponse{Jobs: jobs, Count: len(jobs)}, nil
}

// SubmitCSR signs the CSR as the cluster would and drops the job waiting
// for it.
func (f *fakeCluster) SubmitCSR(_ context.Context, _ string, req wire.CSRRequest) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record(req)
	if err := f.fail(); err != nil {
		return err
	}
	block, _ := pem.Decode([]byte(req.CSRPEM))
	csr, err := x509.ParseCertificateRequest(block.Bytes)
	if err != nil || csr.CheckSignature() != nil {
		return &client.APIError{Status: http.StatusBadRequest, Body: wire.Error{Error: "Bad Request", Message: "bad CSR"}}
	}
	f.csrs = append(f.csrs, req)
	f.certs[req.CertificateID] = f.sign(csr.PublicKey, csr.Subject.CommonName, csr.DNSNames)
	f.removeJob(func(j wire.WorkItem) bool {
		return j.CertificateID == req.CertificateID && j.Status == wire.JobAwaitingCSR
	})
	return nil
}

func (f *fakeCluster) sign(pub any, cn string, sans []string) string {
	f.serial++
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(f.serial), Subject: pkix.Name{CommonName: cn}, DNSNames: sans,
		NotBefore: time.Now().Add(-time.Minute), NotAfter: time.Now().Add(24 * time.Hour), KeyUsage: x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, f.ca, pub, f.caKey)
	require.NoError(f.t, err)
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})) +
		string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: f.ca.Raw}))
}

func (f *fakeCluster) PickupCertificate(_ context.Context, _ string, certID string) (*wire.CertificatePickup, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.fail(); err != nil {
		return nil, err
	}
	chain, ok := f.certs[certID]
	if !ok {
		return nil, &client.APIError{Status: http.StatusNotFound, Body: wire.Error{Error: "Not Found", Message: "no version"}}
	}
	return &wire.CertificatePickup{CertificatePEM: chain, PrivateKeyPEM: f.keys[certID]}, nil
}

func (f *fakeCluster) ReportJobStatus(ctx context.Context, _ string, jobID string, st wire.JobStatusRequest) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record(st)
	if err := f.fail(); err != nil {
		return err
	}
	f.status[jobID] = append(f.status[jobID], st)
	f.removeJob(func(j wire.WorkItem) bool { return j.ID == jobID })
	return nil
}

func (f *fakeCluster) removeJob(match func(wire.WorkItem) bool) {
	kept := f.jobs[:0]
	for _, j := range f.jobs {
		if !match(j) {
			kept = append(kept, j)
		}
	}
	f.jobs = kept
}

func (f *fakeCluster) add(items ...wire.WorkItem) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.jobs = append(f.jobs, items...)
}

func (f *fakeCluster) reports(jobID string) []wire.JobStatusRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]wire.JobStatusRequest(nil), f.status[jobID]...)
}

func (f *fakeCluster) set(down, gone bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.down, f.gone = down, gone
}

// fakeTarget records what the agent asks of a target; its behaviour is set
// per test. It reads the key file it is given, as a real connector does.
type fakeTarget struct {
	mu         sync.Mutex
	deployed   []target.DeploymentRequest
	rollbacks  []target.RollbackRequest
	deployErr  error
	notServed  bool
	serving    string // fingerprint now served
	previous   string
	block      chan struct{} // when set, DeployCertificate waits on it
	keyMatches bool
}

func (t *fakeTarget) ValidateConfig(context.Context, json.RawMessage) error { return nil }

func (t *fakeTarget) DeployCertificate(ctx context.Context, req target.DeploymentRequest) (*target.DeploymentResult, error) {
	t.mu.Lock()
	t.deployed = append(t.deployed, req)
	block, deployErr := t.block, t.deployErr
	t.mu.Unlock()
	leaf, _, err := target.ParseCertificates(req.CertPEM, req.ChainPEM)
	if err != nil {
		return nil, err
	}
	if _, err := target.ReadKeyFor(leaf, req.KeyPath); err != nil {
		return nil, err
	}
	if block != nil {
		select {
		case <-block:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	if deployErr != nil {
		return nil, deployErr
	}
	t.mu.Lock()
	t.previous, t.serving = t.serving, req.FingerprintSHA256
	t.mu.Unlock()
	return &target.DeploymentResult{Message: "deployed", Output: "reloaded"}, nil
}

func (t *fakeTarget) ValidateDeployment(_ context.Context, req target.ValidationRequest) (*target.ValidationResult, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	served := t.serving
	if t.notServed {
		served = "0000"
	}
	return &target.ValidationResult{Valid: served == req.FingerprintSHA256, Method: "tls", ExpectedFingerprint: req.FingerprintSHA256,
		ServedFingerprint: served, Message: "checked", CheckedAt: time.Now()}, nil
}

func (t *fakeTarget) Rollback(_ context.Context, req target.RollbackRequest) (*target.RollbackResult, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.rollbacks = append(t.rollbacks, req)
	t.serving = t.previous
	return &target.RollbackResult{Message: "restored"}, nil
}

func (t *fakeTarget) counts() (deploys, rollbacks int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.deployed), len(t.rollbacks)
}

var errDeviceRefused = errors.New("nginx: [emerg] cannot load certificate")
