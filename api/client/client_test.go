package client

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/certctl/certctl/api/wire"
)

// recorded is one request a fake server saw.
type recorded struct {
	Method, Path, RawQuery string
	Header                 http.Header
	Body                   string
}

// fakeServer records every request and answers with reply.
type fakeServer struct {
	*httptest.Server
	mu    sync.Mutex
	reqs  []recorded
	reply func(w http.ResponseWriter, r *http.Request)
}

func newFakeServer(t *testing.T, reply func(w http.ResponseWriter, r *http.Request)) *fakeServer {
	t.Helper()
	f := &fakeServer{reply: reply}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		f.mu.Lock()
		f.reqs = append(f.reqs, recorded{r.Method, r.URL.EscapedPath(), r.URL.RawQuery, r.Header.Clone(), string(body)})
		f.mu.Unlock()
		f.reply(w, r)
	}))
	t.Cleanup(f.Close)
	return f
}

func (f *fakeServer) requests() []recorded {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]recorded(nil), f.reqs...)
}

// answer replies status with the JSON body.
func answer(status int, body string) func(http.ResponseWriter, *http.Request) {
	return func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	}
}

func newTestClient(t *testing.T, servers ...string) *Client {
	t.Helper()
	c, err := New(Config{Servers: servers, APIKey: "k-secret", Backoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond})
	require.NoError(t, err)
	return c
}

// closedServerURL returns the URL of a server that no longer listens.
func closedServerURL(t *testing.T) string {
	t.Helper()
	s := httptest.NewServer(http.NotFoundHandler())
	u := s.URL
	s.Close()
	return u
}

const certJSON = `{"id":"mc-api-prod","name":"api-prod","common_name":"api.example.com","sans":["api.example.com"],` +
	`"environment":"production","owner_id":"o-alice","team_id":"t-platform","issuer_id":"iss-local",` +
	`"target_ids":["tgt-nginx-prod"],"renewal_policy_id":"rp-standard","status":"Active",` +
	`"expires_at":"2026-09-01T00:00:00Z","tags":{"tier":"1"},"created_at":"2026-01-01T00:00:00Z","updated_at":"2026-01-01T00:00:00Z"}`

func TestClient_Headers(t *testing.T) {
	srv := newFakeServer(t, answer(http.StatusCreated, certJSON))
	c, err := New(Config{Servers: []string{srv.URL}, APIKey: "k-secret", UserAgent: "certctl-test/1"})
	require.NoError(t, err)

	_, err = c.CreateCertificate(context.Background(), wire.Certificate{CommonName: "api.example.com"})
	require.NoError(t, err)
	srv.reply = answer(http.StatusOK, certJSON)
	_, err = c.GetCertificate(context.Background(), "mc-api-prod")
	require.NoError(t, err)

	reqs := srv.requests()
	require.Len(t, reqs, 2)
	for _, r := range reqs {
		assert.Equal(t, "Bearer k-secret", r.Header.Get("Authorization"))
		assert.Equal(t, "certctl-test/1", r.Header.Get("User-Agent"))
		assert.Equal(t, "application/json", r.Header.Get("Accept"))
		assert.Regexp(t, `^[0-9a-f]{32}$`, r.Header.Get(HeaderRequestID))
	}
	assert.Regexp(t, `^[0-9a-f]{32}$`, reqs[0].Header.Get(HeaderIdempotencyKey), "a write carries an idempotency key")
	assert.Equal(t, "application/json", reqs[0].Header.Get("Content-Type"))
	assert.Empty(t, reqs[1].Header.Get(HeaderIdempotencyKey), "a read carries none")
	assert.NotEqual(t, reqs[0].Header.Get(HeaderRequestID), reqs[1].Header.Get(HeaderRequestID))
}

func TestClient_NoAPIKeyNoAuthorization(t *testing.T) {
	srv := newFakeServer(t, answer(http.StatusOK, `{"auth_type":"none","required":false}`))
	c, err := New(Config{Servers: []string{srv.URL}})
	require.NoError(t, err)
	info, err := c.AuthInfo(context.Background())
	require.NoError(t, err)
	assert.Equal(t, wire.AuthInfo{AuthType: "none", Required: false}, *info)
	assert.Empty(t, srv.requests()[0].Header.Get("Authorization"))
}

func TestClient_ListCertificatesQuery(t *testing.T) {
	srv := newFakeServer(t, answer(http.StatusOK, `{"data":[`+certJSON+`],"total":31,"page":2,"per_page":10}`))
	c := newTestClient(t, srv.URL)
	before := time.Date(2026, 3, 1, 12, 0, 0, 0, time.FixedZone("CET", 3600))
	after := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

	l, err := c.ListCertificates(context.Background(), ListCertificatesOptions{
		Status: "Expiring", Environment: "production", OwnerID: "o-alice", TeamID: "t-platform", IssuerID: "iss-local",
		ExpiresBefore: &before, ExpiresAfter: &after, Q: "api", Sort: "expires_at", Page: 2, PerPage: 10,
	})
	require.NoError(t, err)

	r := srv.requests()[0]
	assert.Equal(t, http.MethodGet, r.Method)
	assert.Equal(t, "/api/v1/certificates", r.Path)
	assert.Equal(t, "environment=production&expires_after=2026-01-01T00%3A00%3A00Z&expires_before=2026-03-01T11%3A00%3A00Z"+
		"&issuer_id=iss-local&owner_id=o-alice&page=2&per_page=10&q=api&sort=expires_at&status=Expiring&team_id=t-platform", r.RawQuery)
	assert.Equal(t, 31, l.Total)
	assert.Equal(t, 2, l.Page)
	assert.Equal(t, 10, l.PerPage)
	require.Len(t, l.Data, 1)
	got := l.Data[0]
	assert.Equal(t, "mc-api-prod", got.ID)
	assert.Equal(t, []string{"tgt-nginx-prod"}, got.TargetIDs)
	assert.Equal(t, map[string]string{"tier": "1"}, got.Tags)
	require.NotNil(t, got.ExpiresAt)
	assert.True(t, got.ExpiresAt.Equal(time.Date(2026, 9, 1, 0, 0, 0, 0, time.UTC)))
}

func TestClient_EmptyListHasNonNilData(t *testing.T) {
	srv := newFakeServer(t, answer(http.StatusOK, `{"data":null,"total":0,"page":1,"per_page":50}`))
	l, err := newTestClient(t, srv.URL).ListJobs(context.Background(), ListJobsOptions{})
	require.NoError(t, err)
	assert.NotNil(t, l.Data)
	assert.Empty(t, srv.requests()[0].RawQuery)
}

// TestClient_Routes checks each method's request line and body and that it
// decodes the answer it is given.
func TestClient_Routes(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 2, 3, 4, 5, 6, 0, time.UTC)
	tests := []struct {
		name       string
		call       func(c *Client) (any, error)
		method     string
		path       string
		query      string
		body       string // JSON the server must receive; "" for none
		status     int
		reply      string
		want       any // the decoded result; nil when the method returns only an error
		idempotent bool
	}{
		{
			name:   "get certificate",
			call:   func(c *Client) (any, error) { return c.GetCertificate(ctx, "mc-api-prod") },
			method: "GET", path: "/api/v1/certificates/mc-api-prod", status: 200, reply: certJSON,
		},
		{
			name: "create certificate",
			call: func(c *Client) (any, error) {
				return c.CreateCertificate(ctx, wire.Certificate{ID: "mc-api-prod", CommonName: "api.example.com"})
			},
			method: "POST", path: "/api/v1/certificates", status: 201, reply: certJSON, idempotent: true,
			body: `{"id":"mc-api-prod","common_name":"api.example.com"}`,
		},
		{
			name: "update certificate",
			call: func(c *Client) (any, error) {
				// A certificate as read, lifecycle fields and all: only the settable ones go out.
				return c.UpdateCertificate(ctx, "mc-api-prod", wire.Certificate{ID: "mc-api-prod", CommonName: "api.example.com",
					OwnerID: "o-bob", Tags: map[string]string{"a": "b"}, LastRenewalAt: &now, StatusReason: "r", CreatedAt: now, UpdatedAt: now})
			},
			method: "PUT", path: "/api/v1/certificates/mc-api-prod", status: 200, reply: certJSON, idempotent: true,
			body: `{"id":"mc-api-prod","common_name":"api.example.com","owner_id":"o-bob","tags":{"a":"b"}}`,
		},
		{
			name:   "archive certificate",
			call:   func(c *Client) (any, error) { return nil, c.ArchiveCertificate(ctx, "mc-api-prod") },
			method: "DELETE", path: "/api/v1/certificates/mc-api-prod", status: 204, idempotent: true,
		},
		{
			name:   "certificate versions",
			call:   func(c *Client) (any, error) { return c.ListCertificateVersions(ctx, "mc-api-prod", 1, 5) },
			method: "GET", path: "/api/v1/certificates/mc-api-prod/versions", query: "page=1&per_page=5", status: 200,
			reply: `{"data":[{"id":"cv-1","certificate_id":"mc-api-prod","serial_number":"0a","not_before":"2026-02-03T04:05:06Z","not_after":"2026-02-03T04:05:06Z","fingerprint_sha256":"ff","pem_chain":"PEM","csr_pem":"","created_at":"2026-02-03T04:05:06Z"}],"total":1,"page":1,"per_page":5}`,
			want: &wire.List[wire.CertificateVersion]{Data: []wire.CertificateVersion{{ID: "cv-1", CertificateID: "mc-api-prod", SerialNumber: "0a",
				NotBefore: now, NotAfter: now, FingerprintSHA256: "ff", PEMChain: "PEM", CreatedAt: now}}, Total: 1, Page: 1, PerPage: 5},
		},
		{
			name:   "certificate violations",
			call:   func(c *Client) (any, error) { return c.ListCertificateViolations(ctx, "mc-api-prod", 0, 0) },
			method: "GET", path: "/api/v1/certificates/mc-api-prod/violations", status: 200,
			reply: `{"data":[{"id":"pv-mc-api-prod-pr-1","certificate_id":"mc-api-prod","rule_id":"pr-1","message":"m","severity":"Critical","created_at":"2026-02-03T04:05:06Z"}],"total":1,"page":1,"per_page":50}`,
			want: &wire.List[wire.PolicyViolation]{Data: []wire.PolicyViolation{{ID: "pv-mc-api-prod-pr-1", CertificateID: "mc-api-prod", RuleID: "pr-1", Message: "m",
				Severity: "Critical", CreatedAt: now}}, Total: 1, Page: 1, PerPage: 50},
		},
		{
			name:   "renew",
			call:   func(c *Client) (any, error) { return nil, c.RenewCertificate(ctx, "mc-api-prod") },
			method: "POST", path: "/api/v1/certificates/mc-api-prod/renew", status: 202, reply: `{"status":"renewal_triggered"}`, idempotent: true,
		},
		{
			name:   "deploy to one target",
			call:   func(c *Client) (any, error) { return nil, c.DeployCertificate(ctx, "mc-api-prod", "tgt-nginx-prod") },
			method: "POST", path: "/api/v1/certificates/mc-api-prod/deploy", body: `{"target_id":"tgt-nginx-prod"}`,
			status: 202, reply: `{"status":"deployment_triggered"}`, idempotent: true,
		},
		{
			name:   "deploy to all targets",
			call:   func(c *Client) (any, error) { return nil, c.DeployCertificate(ctx, "mc-api-prod", "") },
			method: "POST", path: "/api/v1/certificates/mc-api-prod/deploy", body: `{}`,
			status: 202, reply: `{"status":"deployment_triggered"}`, idempotent: true,
		},
		{
			name:   "revoke",
			call:   func(c *Client) (any, error) { return nil, c.RevokeCertificate(ctx, "mc-api-prod", "keyCompromise") },
			method: "POST", path: "/api/v1/certificates/mc-api-prod/revoke", body: `{"reason":"keyCompromise"}`,
			status: 200, reply: `{"status":"revoked"}`, idempotent: true,
		},
		{
			name:   "id is escaped",
			call:   func(c *Client) (any, error) { return c.GetIssuer(ctx, "iss/../x y") },
			method: "GET", path: "/api/v1/issuers/iss%2F..%2Fx%20y", status: 200, reply: `{"id":"iss/../x y"}`,
			want: &wire.Issuer{ID: "iss/../x y"},
		},
		{
			name:   "test issuer",
			call:   func(c *Client) (any, error) { return nil, c.TestIssuer(ctx, "iss-local") },
			method: "POST", path: "/api/v1/issuers/iss-local/test", status: 200, reply: `{"status":"connection_successful"}`, idempotent: true,
		},
		{
			name:   "list targets",
			call:   func(c *Client) (any, error) { return c.ListTargets(ctx, ListOptions{PerPage: 500}) },
			method: "GET", path: "/api/v1/targets", query: "per_page=500", status: 200,
			reply: `{"data":[{"id":"tgt-f5-prod","name":"f5","type":"F5","agent_id":"ag-lb-prod","config":{"host":"f5"},"enabled":true,"created_at":"2026-02-03T04:05:06Z","updated_at":"2026-02-03T04:05:06Z"}],"total":1,"page":1,"per_page":500}`,
			want: &wire.List[wire.Target]{Data: []wire.Target{{ID: "tgt-f5-prod", Name: "f5", Type: "F5", AgentID: "ag-lb-prod",
				Config: json.RawMessage(`{"host":"f5"}`), Enabled: true, CreatedAt: now, UpdatedAt: now}}, Total: 1, Page: 1, PerPage: 500},
		},
		{
			name: "update team keeps its timestamps",
			call: func(c *Client) (any, error) {
				return c.UpdateTeam(ctx, "t-data", wire.Team{ID: "t-data", Name: "data", CreatedAt: now})
			},
			method: "PUT", path: "/api/v1/teams/t-data", status: 200, idempotent: true,
			body:  `{"id":"t-data","name":"data","description":"","created_at":"2026-02-03T04:05:06Z"}`,
			reply: `{"id":"t-data","name":"data"}`, want: &wire.Team{ID: "t-data", Name: "data"},
		},
		{
			name:   "delete team",
			call:   func(c *Client) (any, error) { return nil, c.DeleteTeam(ctx, "t-data") },
			method: "DELETE", path: "/api/v1/teams/t-data", status: 204, idempotent: true,
		},
		{
			name:   "list owners of a team",
			call:   func(c *Client) (any, error) { return c.ListOwners(ctx, ListOwnersOptions{TeamID: "t-data"}) },
			method: "GET", path: "/api/v1/owners", query: "team_id=t-data", status: 200, reply: `{"data":[],"total":0,"page":1,"per_page":50}`,
			want: &wire.List[wire.Owner]{Data: []wire.Owner{}, Page: 1, PerPage: 50},
		},
		{
			name: "create renewal policy",
			call: func(c *Client) (any, error) {
				return c.CreateRenewalPolicy(ctx, wire.RenewalPolicy{ID: "rp-x", Name: "x", AlertThresholdsDays: []int{7}})
			},
			method: "POST", path: "/api/v1/renewal-policies", status: 201, idempotent: true,
			body:  `{"id":"rp-x","name":"x","renewal_window_days":null,"auto_renew":false,"max_retries":0,"retry_interval_minutes":0,"alert_thresholds_days":[7]}`,
			reply: `{"id":"rp-x","name":"x","alert_thresholds_days":[7]}`,
			want:  &wire.RenewalPolicy{ID: "rp-x", Name: "x", AlertThresholdsDays: []int{7}},
		},
		{
			name: "update policy rule",
			call: func(c *Client) (any, error) {
				return c.UpdatePolicy(ctx, "pr-1", wire.PolicyRule{ID: "pr-1", Config: json.RawMessage(`{}`)})
			},
			method: "PUT", path: "/api/v1/policies/pr-1", status: 200, idempotent: true,
			body:  `{"id":"pr-1","name":"","type":"","config":{},"enabled":false}`,
			reply: `{"id":"pr-1"}`, want: &wire.PolicyRule{ID: "pr-1"},
		},
		{
			name:   "policy violations",
			call:   func(c *Client) (any, error) { return c.ListPolicyViolations(ctx, "pr-1") },
			method: "GET", path: "/api/v1/policies/pr-1/violations", status: 200,
			reply: `{"data":[{"id":"pv-1","certificate_id":"mc-x","rule_id":"pr-1","message":"m","severity":"Error","created_at":"2026-02-03T04:05:06Z"}],"total":1,"page":1,"per_page":50}`,
			want: &wire.List[wire.PolicyViolation]{Data: []wire.PolicyViolation{{ID: "pv-1", CertificateID: "mc-x", RuleID: "pr-1", Message: "m",
				Severity: "Error", CreatedAt: now}}, Total: 1, Page: 1, PerPage: 50},
		},
		{
			name:   "register agent",
			call:   func(c *Client) (any, error) { return c.RegisterAgent(ctx, "web-1", "web-1.example.com") },
			method: "POST", path: "/api/v1/agents", body: `{"name":"web-1","hostname":"web-1.example.com"}`, status: 201, idempotent: true,
			reply: `{"id":"ag-1","name":"web-1","hostname":"web-1.example.com","status":"Offline","registered_at":"2026-02-03T04:05:06Z","api_key":"cc_secret"}`,
			want: &wire.AgentRegistration{Agent: wire.Agent{ID: "ag-1", Name: "web-1", Hostname: "web-1.example.com", Status: "Offline", RegisteredAt: now},
				APIKey: "cc_secret"},
		},
		{
			name:   "retire agent",
			call:   func(c *Client) (any, error) { return nil, c.RetireAgent(ctx, "ag-1") },
			method: "DELETE", path: "/api/v1/agents/ag-1", status: 204, idempotent: true,
		},
		{
			name: "heartbeat",
			call: func(c *Client) (any, error) {
				return nil, c.Heartbeat(ctx, "ag-1", wire.HeartbeatRequest{Version: "1.2", Hostname: "h"})
			},
			method: "POST", path: "/api/v1/agents/ag-1/heartbeat", body: `{"version":"1.2","hostname":"h"}`,
			status: 200, reply: `{"status":"heartbeat_recorded"}`, idempotent: true,
		},
		{
			name:   "work",
			call:   func(c *Client) (any, error) { return c.Work(ctx, "ag-1") },
			method: "GET", path: "/api/v1/agents/ag-1/work", status: 200,
			reply: `{"jobs":[{"id":"job-1","type":"Deployment","certificate_id":"mc-x","common_name":"x.example.com","sans":["x.example.com"],"target_id":"tgt-1","target_type":"NGINX","target_config":{"cert_path":"/c"},"status":"Running"}],"count":1}`,
			want: &wire.WorkResponse{Jobs: []wire.WorkItem{{ID: "job-1", Type: "Deployment", CertificateID: "mc-x", CommonName: "x.example.com",
				SANs: []string{"x.example.com"}, TargetID: "tgt-1", TargetType: "NGINX", TargetConfig: json.RawMessage(`{"cert_path":"/c"}`), Status: "Running"}}, Count: 1},
		},
		{
			name:   "no work",
			call:   func(c *Client) (any, error) { return c.Work(ctx, "ag-1") },
			method: "GET", path: "/api/v1/agents/ag-1/work", status: 200, reply: `{"jobs":null,"count":0}`,
			want: &wire.WorkResponse{Jobs: []wire.WorkItem{}},
		},
		{
			name: "submit csr",
			call: func(c *Client) (any, error) {
				return nil, c.SubmitCSR(ctx, "ag-1", wire.CSRRequest{CSRPEM: "CSR", CertificateID: "mc-x"})
			},
			method: "POST", path: "/api/v1/agents/ag-1/csr", body: `{"csr_pem":"CSR","certificate_id":"mc-x"}`,
			status: 202, reply: `{"status":"csr_accepted"}`, idempotent: true,
		},
		{
			name:   "pickup",
			call:   func(c *Client) (any, error) { return c.PickupCertificate(ctx, "ag-1", "mc-x") },
			method: "GET", path: "/api/v1/agents/ag-1/certificates/mc-x", status: 200, reply: `{"certificate_pem":"PEM"}`,
			want: &wire.CertificatePickup{CertificatePEM: "PEM"},
		},
		{
			name: "job status",
			call: func(c *Client) (any, error) {
				return nil, c.ReportJobStatus(ctx, "ag-1", "job-1", wire.JobStatusRequest{Status: "Failed", Error: "reload failed"})
			},
			method: "POST", path: "/api/v1/agents/ag-1/jobs/job-1/status", body: `{"status":"Failed","error":"reload failed"}`,
			status: 200, reply: `{"status":"updated"}`, idempotent: true,
		},
		{
			name: "list jobs",
			call: func(c *Client) (any, error) {
				return c.ListJobs(ctx, ListJobsOptions{Status: "Failed", Type: "Renewal", Page: 3})
			},
			method: "GET", path: "/api/v1/jobs", query: "page=3&status=Failed&type=Renewal", status: 200, reply: `{"data":[],"total":0,"page":3,"per_page":50}`,
			want: &wire.List[wire.Job]{Data: []wire.Job{}, Page: 3, PerPage: 50},
		},
		{
			name:   "cancel job",
			call:   func(c *Client) (any, error) { return nil, c.CancelJob(ctx, "job-1") },
			method: "POST", path: "/api/v1/jobs/job-1/cancel", status: 200, reply: `{"status":"job_cancelled"}`, idempotent: true,
		},
		{
			name: "list audit",
			call: func(c *Client) (any, error) {
				from := now
				return c.ListAudit(ctx, ListAuditOptions{Actor: "alice", ActorType: "User", Action: "create_certificate",
					ResourceType: "certificate", ResourceID: "mc-x", From: &from, PerPage: 20})
			},
			method: "GET", path: "/api/v1/audit",
			query:  "action=create_certificate&actor=alice&actor_type=User&from=2026-02-03T04%3A05%3A06Z&per_page=20&resource_id=mc-x&resource_type=certificate",
			status: 200, reply: `{"data":[],"total":0,"page":1,"per_page":20}`,
			want: &wire.List[wire.AuditEvent]{Data: []wire.AuditEvent{}, Page: 1, PerPage: 20},
		},
		{
			name:   "verify audit",
			call:   func(c *Client) (any, error) { return c.VerifyAudit(ctx) },
			method: "GET", path: "/api/v1/audit/verify", status: 200,
			reply: `{"valid":false,"events":41,"head":"ab12","first_break":{"seq":42,"id":"audit-42","reason":"hash does not match the event's content"},"keyed":true,"keyed_from":3,"unkeyed_events":2}`,
			want: &wire.AuditVerification{Valid: false, Events: 41, Head: "ab12",
				FirstBreak: &wire.ChainBreak{Seq: 42, ID: "audit-42", Reason: "hash does not match the event's content"},
				Keyed:      true, KeyedFrom: 3, UnkeyedEvents: 2},
		},
		{
			name:   "audit head",
			call:   func(c *Client) (any, error) { return c.AuditHead(ctx, 57) },
			method: "GET", path: "/api/v1/audit/head", query: "at_index=57", status: 200,
			reply: `{"at_index":57,"applied_index":60,"seq":41,"id":"audit-000000000041","hash":"ab12","raft_index":55}`,
			want:  &wire.AuditHead{AtIndex: 57, AppliedIndex: 60, Seq: 41, ID: "audit-000000000041", Hash: "ab12", RaftIndex: 55},
		},
		{
			name:   "audit head now",
			call:   func(c *Client) (any, error) { return c.AuditHead(ctx, 0) },
			method: "GET", path: "/api/v1/audit/head", status: 200,
			reply: `{"at_index":60,"applied_index":60,"seq":44,"hash":"cd34","raft_index":60}`,
			want:  &wire.AuditHead{AtIndex: 60, AppliedIndex: 60, Seq: 44, Hash: "cd34", RaftIndex: 60},
		},
		{
			name:   "mark notification read",
			call:   func(c *Client) (any, error) { return nil, c.MarkNotificationRead(ctx, "ne-1") },
			method: "POST", path: "/api/v1/notifications/ne-1/read", status: 200, reply: `{"status":"marked_as_read"}`, idempotent: true,
		},
		{
			name:   "auth check",
			call:   func(c *Client) (any, error) { return nil, c.AuthCheck(ctx) },
			method: "GET", path: "/api/v1/auth/check", status: 200, reply: `{"status":"authenticated"}`,
		},
		{
			name:   "create key",
			call:   func(c *Client) (any, error) { return c.CreateKey(ctx, "web-1 agent", "agent", "ag-1") },
			method: "POST", path: "/api/v1/auth/keys", body: `{"name":"web-1 agent","role":"agent","agent_id":"ag-1"}`, status: 201, idempotent: true,
			reply: `{"id":"key-1","name":"web-1 agent","role":"agent","agent_id":"ag-1","prefix":"cc_ab","created_at":"2026-02-03T04:05:06Z","api_key":"cc_abcdef"}`,
			want:  &wire.APIKeyCreated{ID: "key-1", Name: "web-1 agent", Role: "agent", AgentID: "ag-1", Prefix: "cc_ab", CreatedAt: now, APIKey: "cc_abcdef"},
		},
		{
			name:   "create admin key",
			call:   func(c *Client) (any, error) { return c.CreateKey(ctx, "ops", "admin", "") },
			method: "POST", path: "/api/v1/auth/keys", body: `{"name":"ops","role":"admin"}`, status: 201, idempotent: true,
			reply: `{"id":"key-2","name":"ops","role":"admin","prefix":"cc_cd","created_at":"2026-02-03T04:05:06Z","api_key":"cc_cdef"}`,
			want:  &wire.APIKeyCreated{ID: "key-2", Name: "ops", Role: "admin", Prefix: "cc_cd", CreatedAt: now, APIKey: "cc_cdef"},
		},
		{
			name:   "list keys",
			call:   func(c *Client) (any, error) { return c.ListKeys(ctx, ListOptions{}) },
			method: "GET", path: "/api/v1/auth/keys", status: 200,
			reply: `{"data":[{"id":"key-1","name":"a","role":"viewer","agent_id":"","prefix":"cc_ab","created_at":"2026-02-03T04:05:06Z","revoked_at":"2026-02-03T04:05:06Z"}],"total":1,"page":1,"per_page":50}`,
			want: &wire.List[wire.APIKey]{Data: []wire.APIKey{{ID: "key-1", Name: "a", Role: "viewer", Prefix: "cc_ab", CreatedAt: now, RevokedAt: &now}},
				Total: 1, Page: 1, PerPage: 50},
		},
		{
			name:   "list keys as a bare array",
			call:   func(c *Client) (any, error) { return c.ListKeys(ctx, ListOptions{}) },
			method: "GET", path: "/api/v1/auth/keys", status: 200,
			reply: `[{"id":"key-1","name":"a","role":"viewer","agent_id":"","prefix":"cc_ab","created_at":"2026-02-03T04:05:06Z"}]`,
			want:  &wire.List[wire.APIKey]{Data: []wire.APIKey{{ID: "key-1", Name: "a", Role: "viewer", Prefix: "cc_ab", CreatedAt: now}}, Total: 1, Page: 1, PerPage: 1},
		},
		{
			name:   "revoke key",
			call:   func(c *Client) (any, error) { return nil, c.RevokeKey(ctx, "key-1") },
			method: "DELETE", path: "/api/v1/auth/keys/key-1", status: 204, idempotent: true,
		},
		{
			name:   "cluster",
			call:   func(c *Client) (any, error) { return c.Cluster(ctx) },
			method: "GET", path: "/api/v1/cluster", status: 200,
			reply: `{"cluster_id":"c-1","node_id":"n1","leader":{"node_id":"n1","raft_addr":"127.0.0.1:8300","api_addr":"127.0.0.1:8443"},` +
				`"members":[{"node_id":"n1","raft_addr":"127.0.0.1:8300","api_addr":"127.0.0.1:8443","suffrage":"voter","state":"leader","term":3,` +
				`"commit_index":10,"applied_index":10,"last_log_index":10,"healthy":true},` +
				`{"node_id":"n2","raft_addr":"127.0.0.1:8301","api_addr":"127.0.0.1:8444","suffrage":"voter","state":"unreachable","term":0,` +
				`"commit_index":0,"applied_index":0,"last_log_index":0,"healthy":false,"error":"connection refused"}]}`,
			want: &wire.ClusterStatus{ClusterID: "c-1", NodeID: "n1",
				Leader: &wire.ClusterLeader{NodeID: "n1", RaftAddr: "127.0.0.1:8300", APIAddr: "127.0.0.1:8443"},
				Members: []wire.ClusterMember{
					{NodeID: "n1", RaftAddr: "127.0.0.1:8300", APIAddr: "127.0.0.1:8443", Suffrage: "voter", State: "leader", Term: 3,
						CommitIndex: 10, AppliedIndex: 10, LastLogIndex: 10, Healthy: true},
					{NodeID: "n2", RaftAddr: "127.0.0.1:8301", APIAddr: "127.0.0.1:8444", Suffrage: "voter", State: "unreachable",
						Error: "connection refused"},
				}},
		},
		{
			name:   "health",
			call:   func(c *Client) (any, error) { return nil, c.Health(ctx) },
			method: "GET", path: "/health", status: 200, reply: `{"status":"healthy"}`,
		},
		{
			name:   "ready",
			call:   func(c *Client) (any, error) { return nil, c.Ready(ctx) },
			method: "GET", path: "/ready", status: 200, reply: `{"status":"ready"}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newFakeServer(t, answer(tt.status, tt.reply))
			got, err := tt.call(newTestClient(t, srv.URL))
			require.NoError(t, err)

			reqs := srv.requests()
			require.Len(t, reqs, 1)
			r := reqs[0]
			assert.Equal(t, tt.method, r.Method)
			assert.Equal(t, tt.path, r.Path)
			assert.Equal(t, tt.query, r.RawQuery)
			if tt.body == "" {
				assert.Empty(t, r.Body)
			} else {
				assert.JSONEq(t, tt.body, r.Body)
			}
			assert.Equal(t, tt.idempotent, r.Header.Get(HeaderIdempotencyKey) != "", "Idempotency-Key on writes only")
			if tt.want != nil {
				assert.Equal(t, tt.want, got)
			}
		})
	}
}

func TestClient_FailoverOnConnectionFailure(t *testing.T) {
	srv := newFakeServer(t, answer(http.StatusCreated, certJSON))
	c := newTestClient(t, closedServerURL(t), srv.URL)

	_, err := c.CreateCertificate(context.Background(), wire.Certificate{CommonName: "api.example.com"})
	require.NoError(t, err)
	require.Len(t, srv.requests(), 1)

	// The next call starts at the server that answered.
	srv.reply = answer(http.StatusOK, certJSON)
	start := time.Now()
	_, err = c.GetCertificate(context.Background(), "mc-api-prod")
	require.NoError(t, err)
	assert.Len(t, srv.requests(), 2)
	assert.Less(t, time.Since(start), time.Second)
}

func TestClient_FailoverOn503KeepsIdempotencyKey(t *testing.T) {
	busy := newFakeServer(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", "1")
		answer(http.StatusServiceUnavailable, `{"error":"Service Unavailable","message":"no leader","request_id":"`+r.Header.Get(HeaderRequestID)+`","code":"no_leader"}`)(w, r)
	})
	good := newFakeServer(t, answer(http.StatusAccepted, `{"status":"renewal_triggered"}`))
	c := newTestClient(t, busy.URL, good.URL)

	require.NoError(t, c.RenewCertificate(context.Background(), "mc-api-prod"))

	first, second := busy.requests(), good.requests()
	require.Len(t, first, 1)
	require.Len(t, second, 1)
	key := first[0].Header.Get(HeaderIdempotencyKey)
	require.NotEmpty(t, key)
	assert.Equal(t, key, second[0].Header.Get(HeaderIdempotencyKey), "a retry is the same write")
	assert.Equal(t, first[0].Header.Get(HeaderRequestID), second[0].Header.Get(HeaderRequestID))
}

func TestClient_RetriesAreBounded(t *testing.T) {
	var calls atomic.Int32
	srv := newFakeServer(t, func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		answer(http.StatusServiceUnavailable, `{"error":"Service Unavailable","message":"no leader known","request_id":"r1"}`)(w, r)
	})
	c, err := New(Config{Servers: []string{srv.URL}, MaxAttempts: 4, Backoff: time.Millisecond, MaxBackoff: 2 * time.Millisecond})
	require.NoError(t, err)

	_, err = c.CreateTeam(context.Background(), wire.Team{Name: "x"})
	require.Error(t, err)
	assert.True(t, IsUnavailable(err))
	assert.Equal(t, int32(4), calls.Load())
	assert.EqualError(t, err, "certctl: Service Unavailable: no leader known (request r1)")

	keys := map[string]bool{}
	for _, r := range srv.requests() {
		keys[r.Header.Get(HeaderIdempotencyKey)] = true
	}
	assert.Len(t, keys, 1)
}

func TestClient_Unreachable(t *testing.T) {
	c := newTestClient(t, closedServerURL(t), closedServerURL(t))
	_, err := c.ListAgents(context.Background(), ListOptions{})
	require.Error(t, err)
	assert.ErrorIs(t, err, ErrUnreachable)
	assert.True(t, IsUnavailable(err))
	assert.Contains(t, err.Error(), "6 attempts over 2 servers")
}

func TestClient_ContextCancelStopsRetrying(t *testing.T) {
	srv := newFakeServer(t, answer(http.StatusServiceUnavailable, `{}`))
	c, err := New(Config{Servers: []string{srv.URL}, Backoff: time.Hour, MaxBackoff: time.Hour})
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()

	err = c.RenewCertificate(ctx, "mc-x")
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Len(t, srv.requests(), 1)
}

func TestClient_ReadyAsksEachServerOnce(t *testing.T) {
	notReady := `{"status":"not_ready","message":"no leader known yet, or the log is not applied yet"}`
	a := newFakeServer(t, answer(http.StatusServiceUnavailable, notReady))
	b := newFakeServer(t, answer(http.StatusServiceUnavailable, notReady))
	c, err := New(Config{Servers: []string{a.URL, b.URL}, Backoff: time.Hour})
	require.NoError(t, err)

	err = c.Ready(context.Background())
	require.Error(t, err)
	assert.True(t, IsUnavailable(err))
	assert.Len(t, a.requests(), 1)
	assert.Len(t, b.requests(), 1)
	assert.Contains(t, err.Error(), "certctl: Service Unavailable: no leader known yet")
}

func TestClient_ErrorMapping(t *testing.T) {
	tests := []struct {
		status int
		is     func(error) bool
	}{
		{http.StatusNotFound, IsNotFound},
		{http.StatusConflict, IsConflict},
		{http.StatusUnauthorized, IsUnauthorized},
		{http.StatusForbidden, IsForbidden},
		{http.StatusGone, IsGone},
	}
	all := []func(error) bool{IsNotFound, IsConflict, IsUnauthorized, IsForbidden, IsGone, IsUnavailable}
	for _, tt := range tests {
		t.Run(http.StatusText(tt.status), func(t *testing.T) {
			body := `{"error":"` + http.StatusText(tt.status) + `","message":"certificate mc-x: nope","request_id":"req-7","field":"id","code":"x"}`
			srv := newFakeServer(t, answer(tt.status, body))
			_, err := newTestClient(t, srv.URL).GetCertificate(context.Background(), "mc-x")

			var apiErr *APIError
			require.ErrorAs(t, err, &apiErr)
			assert.Equal(t, tt.status, apiErr.Status)
			assert.Equal(t, wire.Error{Error: http.StatusText(tt.status), Message: "certificate mc-x: nope", RequestID: "req-7", Field: "id", Code: "x"}, apiErr.Body)
			assert.Equal(t, "certctl: "+http.StatusText(tt.status)+": certificate mc-x: nope (request req-7)", err.Error())
			for _, is := range all {
				assert.Equal(t, fnEqual(is, tt.is), is(err))
			}
			assert.Len(t, srv.requests(), 1, "only 503 and connection failures are retried")
		})
	}
}

// fnEqual compares two of the Is functions by their answer on a probe error.
func fnEqual(a, b func(error) bool) bool {
	for _, s := range []int{401, 403, 404, 409, 410, 503} {
		e := &APIError{Status: s}
		if a(e) != b(e) {
			return false
		}
	}
	return true
}

func TestClient_ErrorWithoutErrorShape(t *testing.T) {
	srv := newFakeServer(t, func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set(HeaderRequestID, "from-header")
		w.WriteHeader(http.StatusBadGateway)
		_, _ = io.WriteString(w, "<html>\n  bad   gateway\n</html>")
	})
	_, err := newTestClient(t, srv.URL).GetJob(context.Background(), "job-1")
	var apiErr *APIError
	require.ErrorAs(t, err, &apiErr)
	assert.Equal(t, "certctl: Bad Gateway: <html> bad gateway </html> (request from-header)", err.Error())
}

func TestClient_UnexpectedSuccessStatus(t *testing.T) {
	srv := newFakeServer(t, answer(http.StatusOK, certJSON))
	_, err := newTestClient(t, srv.URL).CreateCertificate(context.Background(), wire.Certificate{})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "answered 200 OK where 201 was expected")
}

func TestClient_UndecodableAnswer(t *testing.T) {
	srv := newFakeServer(t, answer(http.StatusOK, `{"id": 7}`))
	_, err := newTestClient(t, srv.URL).GetTeam(context.Background(), "t-1")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "certctl: decoding the answer of GET /api/v1/teams/t-1")
}

func TestClient_EmptyIDSendsNothing(t *testing.T) {
	srv := newFakeServer(t, answer(http.StatusOK, `{}`))
	c := newTestClient(t, srv.URL)
	_, err := c.GetCertificate(context.Background(), "")
	assert.ErrorIs(t, err, ErrEmptyID)
	assert.ErrorIs(t, c.CancelJob(context.Background(), ""), ErrEmptyID)
	assert.Empty(t, srv.requests())
}

func TestClient_WithIdempotencyKey(t *testing.T) {
	srv := newFakeServer(t, answer(http.StatusOK, `{"status":"updated"}`))
	c := newTestClient(t, srv.URL)
	ctx := WithIdempotencyKey(context.Background(), "job-1.Completed")

	require.NoError(t, c.ReportJobStatus(ctx, "ag-1", "job-1", wire.JobStatusRequest{Status: "Completed"}))
	assert.Equal(t, "job-1.Completed", srv.requests()[0].Header.Get(HeaderIdempotencyKey))

	err := c.ReportJobStatus(WithIdempotencyKey(context.Background(), "has space"), "ag-1", "job-1", wire.JobStatusRequest{})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "idempotency key")
	assert.Len(t, srv.requests(), 1)
}

func TestConfig_Validate(t *testing.T) {
	tests := []struct {
		name    string
		cfg     Config
		wantErr string
	}{
		{"ok", Config{Servers: []string{"http://127.0.0.1:8443", "https://certctl.example.com/"}}, ""},
		{"bare host and port", Config{Servers: []string{"127.0.0.1:8443"}}, ""},
		{"none", Config{}, "no server address given"},
		{"bad scheme", Config{Servers: []string{"ftp://x"}}, `server address "ftp://x" is not a base URL`},
		{"no host", Config{Servers: []string{"http://"}}, "is not a base URL"},
		{"query", Config{Servers: []string{"http://x?y=1"}}, "is not a base URL"},
		{"negative attempts", Config{Servers: []string{"https://x"}, MaxAttempts: -1}, "must not be negative"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			if tt.wantErr == "" {
				assert.NoError(t, err)
				return
			}
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.wantErr)
		})
	}
}

func TestNew_NormalizesServers(t *testing.T) {
	c, err := New(Config{Servers: []string{"127.0.0.1:8443", "https://a.example.com/certctl/"}})
	require.NoError(t, err)
	assert.Equal(t, []string{"https://127.0.0.1:8443", "https://a.example.com/certctl"}, c.Servers(), "no scheme means https")
}

func TestClient_BasePathPrefix(t *testing.T) {
	srv := newFakeServer(t, answer(http.StatusOK, `{"status":"healthy"}`))
	c := newTestClient(t, srv.URL+"/certctl/")
	require.NoError(t, c.Health(context.Background()))
	assert.Equal(t, "/certctl/health", srv.requests()[0].Path)
}

func TestAPIError_NoMessage(t *testing.T) {
	e := &APIError{Status: 404, Body: wire.Error{Error: "Not Found"}}
	assert.Equal(t, "certctl: Not Found", e.Error())
	assert.True(t, IsNotFound(e))
	assert.False(t, IsNotFound(errors.New("x")))
	assert.True(t, strings.HasPrefix(ErrUnreachable.Error(), "certctl: "))
}

// TestClient_ForServerAsksThatServerOnly checks the client used to ask each
// member about itself: same credentials, only that server, one attempt, and
// a bare host:port takes the scheme of the client's servers.
func TestClient_ForServerAsksThatServerOnly(t *testing.T) {
	var calls atomic.Int32
	member := newFakeServer(t, func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		answer(http.StatusServiceUnavailable, `{"error":"Service Unavailable","message":"busy","request_id":"r1"}`)(w, r)
	})
	other := newFakeServer(t, answer(http.StatusOK, `{"at_index":1,"applied_index":1,"seq":1,"hash":"x","raft_index":1}`))
	c, err := New(Config{Servers: []string{other.URL}, APIKey: "k-secret", UserAgent: "certctl-test/1"})
	require.NoError(t, err)

	m, err := c.ForServer(strings.TrimPrefix(member.URL, "http://"))
	require.NoError(t, err)
	assert.Equal(t, []string{member.URL}, m.Servers())
	_, err = m.AuditHead(context.Background(), 7)

	require.Error(t, err)
	assert.True(t, IsUnavailable(err))
	assert.Equal(t, int32(1), calls.Load(), "a member is asked once, never another server in its place")
	assert.Empty(t, other.requests())
	r := member.requests()[0]
	assert.Equal(t, "Bearer k-secret", r.Header.Get("Authorization"))
	assert.Equal(t, "certctl-test/1", r.Header.Get("User-Agent"))
	assert.Equal(t, "/api/v1/audit/head", r.Path)
	assert.Equal(t, "at_index=7", r.RawQuery)

	_, err = c.ForServer("not a url://")
	assert.Error(t, err)

	tls, err := New(Config{Servers: []string{"https://10.0.0.1:8443"}})
	require.NoError(t, err)
	m, err = tls.ForServer("10.0.0.2:8443")
	require.NoError(t, err)
	assert.Equal(t, []string{"https://10.0.0.2:8443"}, m.Servers(), "a member's host:port takes the scheme of the client's servers")
	_, err = tls.ForServer("http://10.0.0.2:8443")
	assert.ErrorIs(t, err, ErrInsecureHTTP, "a member is refused plain HTTP as any server is")
	insecure, err := New(Config{Servers: []string{"http://10.0.0.1:8443"}, InsecureHTTP: true})
	require.NoError(t, err)
	_, err = insecure.ForServer("10.0.0.2:8443")
	assert.NoError(t, err)
}
