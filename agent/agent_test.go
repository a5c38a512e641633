package agent

import (
	"context"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/certctl/certctl/api/wire"
	"github.com/certctl/certctl/connectors/issuer"
	"github.com/certctl/certctl/connectors/target"
)

type rig struct {
	cluster *fakeCluster
	target  *fakeTarget
	agent   *Agent
	keyDir  string
	state   string
}

func newRig(t *testing.T) *rig {
	t.Helper()
	dir := t.TempDir()
	r := &rig{cluster: newFakeCluster(t), target: &fakeTarget{}, keyDir: filepath.Join(dir, "keys"), state: filepath.Join(dir, "state")}
	r.agent = r.newAgent(t)
	return r
}

// newAgent starts an agent on the rig's directories: a second one stands
// for the agent restarted.
func (r *rig) newAgent(t *testing.T) *Agent {
	t.Helper()
	reg := target.NewRegistry()
	require.NoError(t, reg.Register("NGINX", r.target))
	a, err := New(Config{AgentID: "ag-web", Hostname: "web1", Version: "test", KeyDir: r.keyDir, StateDir: r.state,
		API: r.cluster, Targets: reg, JobTimeout: 10 * time.Second, ShutdownGrace: time.Second})
	require.NoError(t, err)
	return a
}

func (r *rig) poll(t *testing.T) {
	t.Helper()
	require.NoError(t, r.agent.PollOnce(context.Background()))
}

func csrJob(id, certID, keyType string) wire.WorkItem {
	return wire.WorkItem{ID: id, Type: wire.JobRenewal, CertificateID: certID, CommonName: "www.example.com",
		SANs: []string{"www.example.com", "example.com"}, KeyType: wire.KeyType(keyType), Status: wire.JobAwaitingCSR}
}

func deployJob(id, certID string) wire.WorkItem {
	return wire.WorkItem{ID: id, Type: wire.JobDeployment, CertificateID: certID, CommonName: "www.example.com",
		TargetID: "tgt-nginx", TargetType: "nginx", TargetConfig: json.RawMessage(`{}`), Status: "Pending"}
}

func leafOf(t *testing.T, chain string) *x509.Certificate {
	t.Helper()
	b, _ := pem.Decode([]byte(chain))
	require.NotNil(t, b)
	c, err := x509.ParseCertificate(b.Bytes)
	require.NoError(t, err)
	return c
}

// renew runs a renewal as the cluster drives it: a CSR job, then the
// deployment of what was signed.
func (r *rig) renew(t *testing.T, n string) {
	t.Helper()
	r.cluster.add(csrJob("job-csr-"+n, "mc-web", ""))
	r.poll(t)
	r.cluster.add(deployJob("job-dep-"+n, "mc-web"))
	r.poll(t)
}

// TestAgent_KeyMadeHereCSRSentDeployed: the whole path of a renewal. The key
// is made here (0600 in a 0700 dir), only a CSR goes out, the deployment
// uses the local key path, is validated, reported Completed with the
// validation, and the new key replaces the old one.
func TestAgent_KeyMadeHereCSRSentDeployed(t *testing.T) {
	r := newRig(t)
	r.cluster.add(csrJob("job-1", "mc-web", "RSA-2048"))
	r.poll(t)

	require.Len(t, r.cluster.csrs, 1)
	next := filepath.Join(r.keyDir, "mc-web.next.key")
	fi, err := os.Stat(next)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm())
	di, err := os.Stat(r.keyDir)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o700), di.Mode().Perm())
	leaf := leafOf(t, r.cluster.certs["mc-web"])
	assert.IsType(t, &rsa.PublicKey{}, leaf.PublicKey, "the key type the certificate asked for")
	assert.Equal(t, []string{"www.example.com", "example.com"}, leaf.DNSNames)

	r.cluster.add(deployJob("job-2", "mc-web"))
	r.poll(t)
	require.Len(t, r.target.deployed, 1)
	assert.Equal(t, next, r.target.deployed[0].KeyPath, "the connector gets the key's path, not the key")
	reports := r.cluster.reports("job-2")
	require.Len(t, reports, 1)
	assert.Equal(t, wire.JobCompleted, reports[0].Status)
	var res deployResult
	require.NoError(t, json.Unmarshal(reports[0].DeploymentResult, &res))
	require.NotNil(t, res.Validation)
	assert.True(t, res.Validation.Valid)
	assert.Equal(t, res.FingerprintSHA256, res.Validation.ServedFingerprint)
	assert.NoFileExists(t, next, "promoted")
	path, isNext, err := r.agent.Keys().KeyFor("mc-web", leaf)
	require.NoError(t, err)
	assert.Equal(t, filepath.Join(r.keyDir, "mc-web.key"), path)
	assert.False(t, isNext)

	r.assertNoKeyMaterialSent(t)
	assertJournalEmpty(t, r.state)
}

// TestAgent_PreviousKeyDeletedAfterSuccess: after a second renewal only
// the new key is left.
func TestAgent_PreviousKeyDeletedAfterSuccess(t *testing.T) {
	r := newRig(t)
	r.renew(t, "1")
	first, err := os.ReadFile(filepath.Join(r.keyDir, "mc-web.key"))
	require.NoError(t, err)
	r.renew(t, "2")
	second, err := os.ReadFile(filepath.Join(r.keyDir, "mc-web.key"))
	require.NoError(t, err)
	assert.NotEqual(t, first, second)
	entries, err := os.ReadDir(r.keyDir)
	require.NoError(t, err)
	require.Len(t, entries, 1, "only the key in service is kept")
}

// TestAgent_FailedValidationRollsBack: the target does not serve the new
// certificate; the previous one is put back, the job is Failed with the
// reason, and the key in service stays the old one.
func TestAgent_FailedValidationRollsBack(t *testing.T) {
	r := newRig(t)
	r.renew(t, "1")
	before, err := os.ReadFile(filepath.Join(r.keyDir, "mc-web.key"))
	require.NoError(t, err)
	r.target.notServed = true
	r.renew(t, "2")

	_, rollbacks := r.target.counts()
	assert.Equal(t, 1, rollbacks)
	reports := r.cluster.reports("job-dep-2")
	require.Len(t, reports, 1)
	assert.Equal(t, wire.JobFailed, reports[0].Status)
	assert.Contains(t, reports[0].Error, "previous certificate restored")
	var res deployResult
	require.NoError(t, json.Unmarshal(reports[0].DeploymentResult, &res))
	require.NotNil(t, res.Rollback)
	after, err := os.ReadFile(filepath.Join(r.keyDir, "mc-web.key"))
	require.NoError(t, err)
	assert.Equal(t, before, after, "the key in service is not replaced by a failed deployment")
	assert.FileExists(t, filepath.Join(r.keyDir, "mc-web.next.key"), "kept for the next attempt")
	assertJournalEmpty(t, r.state)
}

// TestAgent_DeployErrorReported: a connector's error (a refused config) is
// the job's error, word for word.
func TestAgent_DeployErrorReported(t *testing.T) {
	r := newRig(t)
	r.target.deployErr = errDeviceRefused
	r.renew(t, "1")
	reports := r.cluster.reports("job-dep-1")
	require.Len(t, reports, 1)
	assert.Equal(t, wire.JobFailed, reports[0].Status)
	assert.Contains(t, reports[0].Error, errDeviceRefused.Error())
}

// TestAgent_RestartDuringDeploymentRollsBackAndRedoes: an agent stopped
// in the middle of a deployment leaves a "deploying" entry; the next start
// rolls the target back, reports nothing for it, and the job (still
// offered) is done again and completed.
func TestAgent_RestartDuringDeploymentRollsBackAndRedoes(t *testing.T) {
	r := newRig(t)
	r.cluster.add(csrJob("job-csr", "mc-web", ""))
	r.poll(t)
	r.cluster.add(deployJob("job-dep", "mc-web"))
	r.target.block = make(chan struct{})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.agent.Run(ctx) }()
	require.Eventually(t, func() bool { n, _ := r.target.counts(); return n == 1 }, 5*time.Second, 10*time.Millisecond)
	// SIGTERM with the grace over: the job's context ends mid-deployment.
	r.agent.cancelJob()
	cancel()
	require.NoError(t, <-done)
	entries, err := r.agent.journal.entries()
	require.NoError(t, err)
	require.Len(t, entries, 1)
	assert.Equal(t, phaseDeploying, entries[0].Phase, "a stop is not a failure")
	assert.Empty(t, r.cluster.reports("job-dep"))

	r.target.block = nil
	r.agent = r.newAgent(t)
	r.poll(t)
	deploys, rollbacks := r.target.counts()
	assert.Equal(t, 1, rollbacks, "the interrupted deployment is rolled back first")
	assert.Equal(t, 2, deploys, "then done again")
	reports := r.cluster.reports("job-dep")
	require.Len(t, reports, 1)
	assert.Equal(t, wire.JobCompleted, reports[0].Status)
	assertJournalEmpty(t, r.state)
}

// TestAgent_ReportsSurviveAnOutage: an outcome decided while the cluster
// is unreachable is kept and reported once it is back, once.
func TestAgent_ReportsSurviveAnOutage(t *testing.T) {
	r := newRig(t)
	r.cluster.add(csrJob("job-csr", "mc-web", ""))
	r.poll(t)
	r.cluster.add(deployJob("job-dep", "mc-web"))
	// Down after the pickup: the work list came, the report cannot go.
	r.target.block = make(chan struct{})
	go func() {
		for {
			if n, _ := r.target.counts(); n > 0 {
				r.cluster.set(true, false)
				close(r.target.block)
				return
			}
			time.Sleep(5 * time.Millisecond)
		}
	}()
	r.poll(t)
	assert.Empty(t, r.cluster.reports("job-dep"))
	entries, err := r.agent.journal.entries()
	require.NoError(t, err)
	require.Len(t, entries, 1)
	assert.Equal(t, phaseDecided, entries[0].Phase)

	r.cluster.set(false, false)
	r.agent = r.newAgent(t) // even across a restart
	r.poll(t)
	reports := r.cluster.reports("job-dep")
	require.Len(t, reports, 1)
	assert.Equal(t, wire.JobCompleted, reports[0].Status)
	assertJournalEmpty(t, r.state)
}

// TestAgent_RefusesHostileIDs: ids that would name files outside the
// agent's directories are refused before anything is written or sent.
func TestAgent_RefusesHostileIDs(t *testing.T) {
	r := newRig(t)
	for _, id := range []string{"../../etc/passwd", "..", ".hidden", "a/b", "a\\b", "mc\x00x", strings.Repeat("x", 200)} {
		r.cluster.add(csrJob("job-"+id, id, ""))
		r.cluster.add(deployJob("job-ok", id))
	}
	r.poll(t)
	entries, err := os.ReadDir(r.keyDir)
	require.NoError(t, err)
	assert.Empty(t, entries)
	assert.Empty(t, r.cluster.csrs)
	deploys, _ := r.target.counts()
	assert.Zero(t, deploys)
	assert.NoFileExists(t, filepath.Join(r.keyDir, "..", "..", "etc", "passwd.next.key"))
}

// TestAgent_CertificateNotMatchingTheKeyRefused: a certificate issued for
// another key is never deployed.
func TestAgent_CertificateNotMatchingTheKeyRefused(t *testing.T) {
	r := newRig(t)
	other, err := issuer.KeyECDSAP256.Generate(nil)
	require.NoError(t, err)
	r.cluster.certs["mc-web"] = r.cluster.sign(other.Public(), "www.example.com", nil)
	r.cluster.add(deployJob("job-dep", "mc-web"))
	r.poll(t)
	deploys, _ := r.target.counts()
	assert.Zero(t, deploys)
	reports := r.cluster.reports("job-dep")
	require.Len(t, reports, 1)
	assert.Equal(t, wire.JobFailed, reports[0].Status)
	assert.Contains(t, reports[0].Error, "does not match the local key")
}

// TestAgent_ServerMadeKeyKeptLocally: a certificate whose key the server
// made comes with it; the agent keeps it as its key file and deploys.
func TestAgent_ServerMadeKeyKeptLocally(t *testing.T) {
	r := newRig(t)
	key, err := issuer.KeyECDSAP256.Generate(nil)
	require.NoError(t, err)
	der, err := x509.MarshalPKCS8PrivateKey(key)
	require.NoError(t, err)
	r.cluster.keys["mc-web"] = string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
	r.cluster.certs["mc-web"] = r.cluster.sign(key.Public(), "www.example.com", nil)
	r.cluster.add(deployJob("job-dep", "mc-web"))
	r.poll(t)
	reports := r.cluster.reports("job-dep")
	require.Len(t, reports, 1)
	assert.Equal(t, wire.JobCompleted, reports[0].Status, reports[0].Error)
	fi, err := os.Stat(filepath.Join(r.keyDir, "mc-web.key"))
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm())
}

// TestAgent_RetiredStops: a 410 from the cluster ends Run with ErrRetired.
func TestAgent_RetiredStops(t *testing.T) {
	r := newRig(t)
	r.cluster.set(false, true)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := r.agent.Run(ctx)
	require.ErrorIs(t, err, ErrRetired)
}

// TestAgent_BacksOffWhileUnreachable: waits grow from about a second,
// never past MaxBackoff, and stay spread out.
func TestAgent_BacksOffWhileUnreachable(t *testing.T) {
	r := newRig(t)
	r.agent.cfg.MaxBackoff = 20 * time.Second
	for failures := 1; failures <= 40; failures++ {
		d := r.agent.backoff(failures)
		assert.LessOrEqual(t, d, 20*time.Second)
		if failures <= 4 {
			ceiling := time.Second << (failures - 1)
			assert.GreaterOrEqual(t, d, ceiling/2)
			assert.LessOrEqual(t, d, ceiling)
		}
		if failures > 6 {
			assert.GreaterOrEqual(t, d, 10*time.Second)
		}
	}
	for range 100 {
		j := r.agent.jittered(30 * time.Second)
		assert.InDelta(t, float64(30*time.Second), float64(j), float64(3*time.Second))
	}
}

func (r *rig) assertNoKeyMaterialSent(t *testing.T) {
	t.Helper()
	r.cluster.mu.Lock()
	defer r.cluster.mu.Unlock()
	keys, err := filepath.Glob(filepath.Join(r.keyDir, "*.key"))
	require.NoError(t, err)
	for _, k := range keys {
		raw, err := os.ReadFile(k)
		require.NoError(t, err)
		b, _ := pem.Decode(raw)
		for _, body := range r.cluster.bodies {
			assert.NotContains(t, body, "PRIVATE KEY")
			assert.NotContains(t, body, string(raw))
			assert.NotContains(t, body, string(b.Bytes))
		}
	}
}

func assertJournalEmpty(t *testing.T, stateDir string) {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join(stateDir, "jobs"))
	require.NoError(t, err)
	assert.Empty(t, entries, "nothing left to settle")
}

// TestAgent_DecidedJobNotRedone: a job whose report is still owed is not
// deployed again when the cluster offers it once more (its report was lost
// while the work list still came).
func TestAgent_DecidedJobNotRedone(t *testing.T) {
	r := newRig(t)
	r.cluster.add(csrJob("job-csr", "mc-web", ""))
	r.poll(t)
	item := deployJob("job-dep", "mc-web")
	e := &journalEntry{JobID: item.ID, JobType: item.Type, CertificateID: item.CertificateID, TargetID: item.TargetID,
		TargetType: item.TargetType, StartedAt: time.Now()}
	require.NoError(t, r.agent.journal.decide(e, outcome{Status: wire.JobCompleted}))
	require.NoError(t, r.agent.work(context.Background(), item))
	deploys, _ := r.target.counts()
	assert.Zero(t, deploys)
	r.cluster.add(item)
	r.poll(t)
	deploys, _ = r.target.counts()
	assert.Zero(t, deploys, "settled by its report, not deployed again")
	require.Len(t, r.cluster.reports("job-dep"), 1)
}

// TestAgent_RunRidesOutAnOutage: with the cluster unreachable the agent
// keeps running (it does not exit or give up) and beats again once the
// cluster is back.
func TestAgent_RunRidesOutAnOutage(t *testing.T) {
	r := newRig(t)
	r.agent.cfg.HeartbeatInterval, r.agent.cfg.PollInterval = 50*time.Millisecond, 50*time.Millisecond
	r.agent.cfg.MaxBackoff = 200 * time.Millisecond
	r.cluster.set(true, false)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- r.agent.Run(ctx) }()
	time.Sleep(500 * time.Millisecond)
	select {
	case err := <-done:
		t.Fatalf("the agent stopped while the cluster was down: %v", err)
	default:
	}
	beats := func() int {
		r.cluster.mu.Lock()
		defer r.cluster.mu.Unlock()
		return r.cluster.beats
	}
	require.Zero(t, beats(), "no heartbeat is answered while the cluster is down")
	during := beats()
	r.cluster.set(false, false)
	r.cluster.add(csrJob("job-after", "mc-web", ""))
	require.Eventually(t, func() bool {
		r.cluster.mu.Lock()
		defer r.cluster.mu.Unlock()
		return len(r.cluster.csrs) == 1
	}, 10*time.Second, 20*time.Millisecond, "work resumes")
	require.Eventually(t, func() bool { return beats() > during }, 10*time.Second, 20*time.Millisecond, "heartbeats resume")
	cancel()
	require.NoError(t, <-done)
}

// TestAgent_HeartbeatReportsHost: a heartbeat carries the host's operating
// system and architecture, which the server stores for the fleet view.
func TestAgent_HeartbeatReportsHost(t *testing.T) {
	r := newRig(t)
	require.NoError(t, r.agent.Heartbeat(context.Background()))
	r.cluster.mu.Lock()
	defer r.cluster.mu.Unlock()
	require.NotEmpty(t, r.cluster.bodies)
	var hb wire.HeartbeatRequest
	require.NoError(t, json.Unmarshal([]byte(r.cluster.bodies[len(r.cluster.bodies)-1]), &hb))
	assert.Equal(t, runtime.GOOS, hb.OS)
	assert.Equal(t, runtime.GOARCH, hb.Architecture)
}
