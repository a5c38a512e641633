package e2e

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"os"
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

// originalAgent speaks the requests of the original certctl agent, release
// 1.0.0 (its cmd/agent/main.go), byte for byte where it matters: the same
// paths, methods, headers (a Bearer key and Content-Type: application/json on
// every request, GETs included), bodies built from map[string]string with the
// original's field names, and the answers it expects (200 from heartbeat,
// work and status; 202 from the CSR; {certificate_pem} from the pickup). It
// decodes the work answer into the original's JobItem. Every answer is kept.
type originalAgent struct {
	server, id, key, hostname, keyDir string
	http                              *http.Client

	mu      sync.Mutex
	answers []originalAnswer
}

type originalAnswer struct {
	method, path string
	status       int
	body         string
}

// originalJobItem is the original agent's JobItem.
type originalJobItem struct {
	ID            string          `json:"id"`
	Type          string          `json:"type"`
	CertificateID string          `json:"certificate_id"`
	CommonName    string          `json:"common_name,omitempty"`
	SANs          []string        `json:"sans,omitempty"`
	TargetID      *string         `json:"target_id,omitempty"`
	TargetType    string          `json:"target_type,omitempty"`
	TargetConfig  json.RawMessage `json:"target_config,omitempty"`
	Status        string          `json:"status"`
}

// makeRequest is the original's: the body, when there is one, is JSON.
func (a *originalAgent) makeRequest(ctx context.Context, method, path string, body any) (int, []byte, error) {
	var reqBody io.Reader
	if body != nil {
		data, err := json.Marshal(body)
		if err != nil {
			return 0, nil, err
		}
		reqBody = bytes.NewReader(data)
	}
	req, err := http.NewRequestWithContext(ctx, method, a.server+path, reqBody)
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Authorization", fmt.Sprintf("Bearer %s", a.key))
	req.Header.Set("Content-Type", "application/json")
	resp, err := a.http.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	a.mu.Lock()
	a.answers = append(a.answers, originalAnswer{method, path, resp.StatusCode, string(out)})
	a.mu.Unlock()
	return resp.StatusCode, out, err
}

// sendHeartbeat: POST /api/v1/agents/{id}/heartbeat {version, hostname}.
func (a *originalAgent) sendHeartbeat(ctx context.Context) error {
	_, _, err := a.makeRequest(ctx, http.MethodPost, fmt.Sprintf("/api/v1/agents/%s/heartbeat", a.id),
		map[string]string{"version": "1.0.0", "hostname": a.hostname})
	return err
}

// pollForWork: GET /api/v1/agents/{id}/work into the original's WorkResponse.
func (a *originalAgent) pollForWork(ctx context.Context) ([]originalJobItem, error) {
	status, body, err := a.makeRequest(ctx, http.MethodGet, fmt.Sprintf("/api/v1/agents/%s/work", a.id), nil)
	if err != nil || status != http.StatusOK {
		return nil, err
	}
	var work struct {
		Jobs  []originalJobItem `json:"jobs"`
		Count int               `json:"count"`
	}
	if err := json.Unmarshal(body, &work); err != nil {
		return nil, err
	}
	return work.Jobs, nil
}

// executeCSRJob: an ECDSA P-256 key at <key dir>/<certificate id>.key, 0600,
// and a CSR of the job's common name and SANs, POSTed as {csr_pem,
// certificate_id}.
func (a *originalAgent) executeCSRJob(ctx context.Context, job originalJobItem) error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	der, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return err
	}
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der})
	if err := os.WriteFile(filepath.Join(a.keyDir, job.CertificateID+".key"), keyPEM, 0o600); err != nil {
		return err
	}
	var dnsNames, emails []string
	for _, san := range job.SANs {
		if strings.Contains(san, "@") {
			emails = append(emails, san)
		} else {
			dnsNames = append(dnsNames, san)
		}
	}
	csrDER, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{
		Subject: pkix.Name{CommonName: job.CommonName}, DNSNames: dnsNames, EmailAddresses: emails}, key)
	if err != nil {
		return err
	}
	csrPEM := string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: csrDER}))
	_, _, err = a.makeRequest(ctx, http.MethodPost, fmt.Sprintf("/api/v1/agents/%s/csr", a.id),
		map[string]string{"csr_pem": csrPEM, "certificate_id": job.CertificateID})
	return err
}

// executeDeploymentJob: Running, the certificate fetched, the local key
// read, (the target connector's work, which is not the protocol's), then
// Completed.
func (a *originalAgent) executeDeploymentJob(ctx context.Context, job originalJobItem, running func(jobID string)) error {
	if err := a.reportJobStatus(ctx, job.ID, "Running", ""); err != nil {
		return err
	}
	if running != nil {
		running(job.ID)
	}
	certPEM, err := a.fetchCertificate(ctx, job.CertificateID)
	if err != nil {
		return err
	}
	keyPEM, err := os.ReadFile(filepath.Join(a.keyDir, job.CertificateID+".key"))
	if err != nil {
		return err
	}
	if _, err := tls.X509KeyPair([]byte(certPEM), keyPEM); err != nil {
		return fmt.Errorf("the certificate picked up does not match the agent's key: %w", err)
	}
	return a.reportJobStatus(ctx, job.ID, "Completed", "")
}

// fetchCertificate: GET /api/v1/agents/{id}/certificates/{cert_id} → {certificate_pem}.
func (a *originalAgent) fetchCertificate(ctx context.Context, certID string) (string, error) {
	status, body, err := a.makeRequest(ctx, http.MethodGet, fmt.Sprintf("/api/v1/agents/%s/certificates/%s", a.id, certID), nil)
	if err != nil {
		return "", err
	}
	if status != http.StatusOK {
		return "", fmt.Errorf("server returned %d: %s", status, body)
	}
	var certResp struct {
		CertificatePEM string `json:"certificate_pem"`
	}
	if err := json.Unmarshal(body, &certResp); err != nil {
		return "", err
	}
	return certResp.CertificatePEM, nil
}

// reportJobStatus: POST /api/v1/agents/{id}/jobs/{job_id}/status {status, error?}.
func (a *originalAgent) reportJobStatus(ctx context.Context, jobID, status, errorMsg string) error {
	payload := map[string]string{"status": status}
	if errorMsg != "" {
		payload["error"] = errorMsg
	}
	code, body, err := a.makeRequest(ctx, http.MethodPost, fmt.Sprintf("/api/v1/agents/%s/jobs/%s/status", a.id, jobID), payload)
	if err != nil {
		return err
	}
	if code != http.StatusOK {
		return fmt.Errorf("server returned %d: %s", code, body)
	}
	return nil
}

// TestOriginalAgent_DeploysThroughAFollower runs the original agent's
// requests against a three-node cluster over TLS, through a follower (the
// one server URL it knows): heartbeat, work poll, CSR, Running then
// Completed, certificate pickup. Every request is answered 2xx, the job
// shows Running with started_at between the two reports, and ends
// Completed with started_at before completed_at.
func TestOriginalAgent_DeploysThroughAFollower(t *testing.T) {
	skipShort(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	c := NewCluster(t, certctlBin)
	c.Start(3)
	leader := c.WaitLeader()
	follower := c.Followers(leader)[0]
	f := c.Seed(leader)
	api := c.APIClient(AdminKey, leader)
	issuerID := localCA(t, ctx, api, leader, "iss-original")
	reg, err := api.RegisterAgent(ctx, "original", "original.example.com")
	require.NoError(t, err)
	tgt, err := api.CreateTarget(ctx, wire.Target{ID: "tgt-original", Name: "nginx of the original agent", Type: "NGINX", AgentID: reg.ID,
		Config:  json.RawMessage(`{"cert_path":"/etc/nginx/ssl/cert.pem","key_path":"/etc/nginx/ssl/key.pem","chain_path":"/etc/nginx/ssl/chain.pem","reload_command":"systemctl reload nginx","validate_command":"nginx -t"}`),
		Enabled: true})
	require.NoError(t, err)
	const certID, cn = "mc-original", "original.example.com"
	_, err = api.CreateCertificate(ctx, wire.Certificate{ID: certID, Name: "served by the original agent", CommonName: cn, SANs: []string{cn},
		Environment: "production", OwnerID: f.OwnerID, TeamID: f.TeamID, IssuerID: issuerID, TargetIDs: []string{tgt.ID}})
	require.NoError(t, err)

	agent := &originalAgent{server: follower.URL(), id: reg.ID, key: reg.APIKey, hostname: "original.example.com", keyDir: t.TempDir(),
		http: &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: c.Roots()}}}}
	require.NoError(t, agent.sendHeartbeat(ctx))
	require.NoError(t, api.RenewCertificate(ctx, certID))

	// The original's loop: poll, then each AwaitingCSR job gets a CSR and
	// each Deployment job is deployed, until the deployment is done.
	var deployed string
	sawRunning := map[string]*wire.Job{}
	running := func(jobID string) {
		j, err := api.GetJob(ctx, jobID) // the leader: the report was committed before it was answered
		require.NoError(t, err)
		sawRunning[jobID] = j
	}
	c.Wait("the original agent's deployment", func(ctx context.Context) error {
		jobs, err := agent.pollForWork(ctx)
		if err != nil {
			return err
		}
		for _, job := range jobs {
			switch {
			case job.Status == "AwaitingCSR":
				if err := agent.executeCSRJob(ctx, job); err != nil {
					return &fatalError{err}
				}
			case job.Type == "Deployment":
				if err := agent.executeDeploymentJob(ctx, job, running); err != nil {
					return &fatalError{err}
				}
				deployed = job.ID
			}
		}
		if deployed == "" {
			return fmt.Errorf("no deployment yet (%d job(s) in the last poll)", len(jobs))
		}
		return nil
	})
	require.NoError(t, agent.sendHeartbeat(ctx))

	kinds := map[string]int{}
	for _, a := range agent.answers {
		kind := strings.Replace(a.path, reg.ID, "{id}", 1)
		kind = a.method + " " + strings.SplitN(strings.TrimPrefix(kind, "/api/v1/agents/{id}/"), "/", 2)[0]
		kinds[kind]++
		assert.True(t, a.status >= 200 && a.status < 300, "%s %s answered %d: %s", a.method, a.path, a.status, a.body)
	}
	t.Logf("requests of the original agent: %v", kinds)
	for _, k := range []string{"POST heartbeat", "GET work", "POST csr", "POST jobs", "GET certificates"} {
		assert.Positive(t, kinds[k], "the original agent sent no %s", k)
	}

	mid := sawRunning[deployed]
	require.NotNil(t, mid, "the job was seen after its Running report")
	assert.Equal(t, "Running", string(mid.Status), "the Running report shows")
	require.NotNil(t, mid.StartedAt)
	assert.Nil(t, mid.CompletedAt)

	j, err := api.GetJob(ctx, deployed)
	require.NoError(t, err)
	assert.Equal(t, "Completed", string(j.Status))
	assert.Equal(t, reg.ID, j.AgentID)
	assert.Equal(t, 1, j.Attempts)
	require.NotNil(t, j.StartedAt)
	require.NotNil(t, j.CompletedAt)
	assert.True(t, j.StartedAt.Before(*j.CompletedAt), "started_at %s, completed_at %s", j.StartedAt, j.CompletedAt)
	assert.Equal(t, *mid.StartedAt, *j.StartedAt, "started_at is the Running report's")

	started, err := api.ListAudit(ctx, client.ListAuditOptions{Action: "job_started", ResourceID: deployed})
	require.NoError(t, err)
	require.Len(t, started.Data, 1)
	assert.Contains(t, started.Data[0].Actor, reg.ID, "the agent's own key reported it")
}
