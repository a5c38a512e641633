package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"

	"github.com/certctl/certctl/api/client"
	"github.com/certctl/certctl/api/wire"
)

// apiRequest is one request the fake API saw.
type apiRequest struct {
	Method, Path, Query, Body string
	Header                    http.Header
}

// fakeAPI answers each "METHOD /path" with a canned status and JSON body and
// records what it was sent.
type fakeAPI struct {
	t       *testing.T
	srv     *httptest.Server
	mu      sync.Mutex
	seen    []apiRequest
	answers map[string]cannedAnswer
}

type cannedAnswer struct {
	status int
	body   string
}

func newFakeAPI(t *testing.T) *fakeAPI {
	t.Helper()
	f := &fakeAPI{t: t, answers: map[string]cannedAnswer{}}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		f.mu.Lock()
		f.seen = append(f.seen, apiRequest{r.Method, r.URL.Path, r.URL.RawQuery, string(body), r.Header.Clone()})
		a, ok := f.answers[r.Method+" "+r.URL.Path]
		f.mu.Unlock()
		if !ok {
			a = cannedAnswer{http.StatusNotFound, `{"error":"Not Found","message":"no route ` + r.Method + " " + r.URL.Path + `","request_id":"req-404"}`}
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(a.status)
		_, _ = io.WriteString(w, a.body)
	}))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeAPI) on(route string, status int, body string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.answers[route] = cannedAnswer{status, body}
}

func (f *fakeAPI) requests() []apiRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]apiRequest(nil), f.seen...)
}

// runCLI runs the certctl root command against the fake API and returns what
// it wrote.
func runCLI(t *testing.T, f *fakeAPI, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	t.Setenv("CERTCTL_SERVER_URL", "")
	t.Setenv("CERTCTL_API_KEY", "")
	t.Setenv("CERTCTL_CA_FILE", "")
	t.Setenv("CERTCTL_INSECURE_HTTP", "")
	var out, errOut bytes.Buffer
	root := newRootCommand()
	if f != nil {
		args = append([]string{"--server", f.srv.URL}, args...)
	}
	root.SetArgs(args)
	root.SetOut(&out)
	root.SetErr(&errOut)
	root.SetIn(strings.NewReader(""))
	err = root.Execute()
	return out.String(), errOut.String(), err
}

func isUsage(err error) bool {
	var ue usageError
	return errors.As(err, &ue)
}

func rfc3339(t time.Time) string { return t.UTC().Format(time.RFC3339) }

func certListJSON(now time.Time) string {
	soon := now.Add(42*24*time.Hour + time.Hour)
	past := now.Add(-3*24*time.Hour + time.Hour)
	return `{"data":[` +
		`{"id":"mc-api-prod","name":"api-prod","common_name":"api.example.com","sans":["api.example.com"],"environment":"production",` +
		`"owner_id":"o-alice","team_id":"t-platform","issuer_id":"iss-local","target_ids":["tgt-nginx-prod"],"status":"Active",` +
		`"expires_at":"` + rfc3339(soon) + `","tags":{},"created_at":"2026-01-01T00:00:00Z","updated_at":"2026-01-01T00:00:00Z"},` +
		`{"id":"mc-old-api","name":"old-api","common_name":"old.example.com","sans":[],"environment":"production",` +
		`"owner_id":"o-bob","team_id":"t-platform","issuer_id":"iss-local","target_ids":[],"status":"Expired",` +
		`"expires_at":"` + rfc3339(past) + `","tags":{},"created_at":"2026-01-01T00:00:00Z","updated_at":"2026-01-01T00:00:00Z"},` +
		`{"id":"mc-new","name":"new","common_name":"new.example.com","sans":[],"environment":"","owner_id":"o-bob","team_id":"t-data",` +
		`"issuer_id":"iss-local","target_ids":[],"status":"Pending","tags":{},"created_at":"2026-01-01T00:00:00Z","updated_at":"2026-01-01T00:00:00Z"}` +
		`],"total":3,"page":1,"per_page":50}`
}

func TestCLI_CertListTable(t *testing.T) {
	api := newFakeAPI(t)
	now := time.Now()
	api.on("GET /api/v1/certificates", 200, certListJSON(now))

	out, _, err := runCLI(t, api, "cert", "list", "--status", "Active", "--team", "t-platform", "--expires-before", "2026-12-31", "-q", "api")
	require.NoError(t, err)

	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	require.Len(t, lines, 4)
	assert.Regexp(t, `^ID\s+NAME\s+COMMON NAME\s+STATUS\s+EXPIRES\s+OWNER$`, lines[0])
	soon := now.Add(42*24*time.Hour + time.Hour).UTC().Format("2006-01-02")
	past := now.Add(-3*24*time.Hour + time.Hour).UTC().Format("2006-01-02")
	assert.Regexp(t, `^mc-api-prod\s+api-prod\s+api\.example\.com\s+Active\s+`+soon+` \(42d left\)\s+o-alice$`, lines[1])
	assert.Regexp(t, `^mc-old-api\s+old-api\s+old\.example\.com\s+Expired\s+`+past+` \(expired 3d ago\)\s+o-bob$`, lines[2])
	assert.Regexp(t, `^mc-new\s+new\s+new\.example\.com\s+Pending\s+-\s+o-bob$`, lines[3])
	// The columns line up.
	assert.Equal(t, strings.Index(lines[0], "STATUS"), strings.Index(lines[1], "Active"))

	reqs := api.requests()
	require.Len(t, reqs, 1)
	assert.Equal(t, "expires_before=2026-12-31T00%3A00%3A00Z&q=api&status=Active&team_id=t-platform", reqs[0].Query)
	assert.Regexp(t, `^certctl/`, reqs[0].Header.Get("User-Agent"))
}

func TestCLI_CertListJSON(t *testing.T) {
	api := newFakeAPI(t)
	body := certListJSON(time.Now())
	api.on("GET /api/v1/certificates", 200, body)

	out, _, err := runCLI(t, api, "cert", "list", "-o", "json", "--per-page", "3", "--page", "1")
	require.NoError(t, err)

	var got wire.List[wire.Certificate]
	require.NoError(t, json.Unmarshal([]byte(out), &got))
	var want wire.List[wire.Certificate]
	require.NoError(t, json.Unmarshal([]byte(body), &want))
	assert.Equal(t, want, got)
	assert.Equal(t, "page=1&per_page=3", api.requests()[0].Query)
}

func TestCLI_CertListMorePages(t *testing.T) {
	api := newFakeAPI(t)
	api.on("GET /api/v1/certificates", 200, `{"data":[],"total":120,"page":2,"per_page":50}`)
	_, errOut, err := runCLI(t, api, "cert", "list", "--page", "2")
	require.NoError(t, err)
	assert.Equal(t, "page 2 of 3 (120 certificates in all); use --page and --per-page for more\n", errOut)
}

func TestCLI_EnvironmentSelectsServerAndKey(t *testing.T) {
	api := newFakeAPI(t)
	api.on("GET /api/v1/certificates", 200, `{"data":[],"total":0,"page":1,"per_page":50}`)
	root := newRootCommand()
	root.SetArgs([]string{"cert", "list"})
	root.SetOut(io.Discard)
	t.Setenv("CERTCTL_SERVER_URL", "http://127.0.0.1:1,"+api.srv.URL) // the first one refuses
	t.Setenv("CERTCTL_API_KEY", "cc_from_env")
	require.NoError(t, root.Execute())
	assert.Equal(t, "Bearer cc_from_env", api.requests()[0].Header.Get("Authorization"))
}

func TestCLI_APIKeyFlag(t *testing.T) {
	api := newFakeAPI(t)
	api.on("GET /api/v1/jobs", 200, `{"data":[],"total":0,"page":1,"per_page":50}`)
	_, _, err := runCLI(t, api, "--api-key", "cc_flag", "job", "list", "--status", "Failed", "--type", "Renewal")
	require.NoError(t, err)
	r := api.requests()[0]
	assert.Equal(t, "Bearer cc_flag", r.Header.Get("Authorization"))
	assert.Equal(t, "status=Failed&type=Renewal", r.Query)
}

func TestCLI_CertGet(t *testing.T) {
	api := newFakeAPI(t)
	api.on("GET /api/v1/certificates/mc-api-prod", 200, `{"id":"mc-api-prod","name":"api-prod","common_name":"api.example.com",`+
		`"sans":["api.example.com","api2.example.com"],"owner_id":"o-alice","team_id":"t-platform","issuer_id":"iss-local",`+
		`"target_ids":["tgt-a","tgt-b"],"status":"Failed","status_reason":"issuer refused","tags":{"z":"1","a":"2"},`+
		`"created_at":"2026-01-01T00:00:00Z","updated_at":"2026-01-02T03:04:05Z"}`)
	out, _, err := runCLI(t, api, "cert", "get", "mc-api-prod")
	require.NoError(t, err)
	assert.Regexp(t, `(?m)^SANs:\s+api\.example\.com, api2\.example\.com$`, out)
	assert.Regexp(t, `(?m)^Status:\s+Failed \(issuer refused\)$`, out)
	assert.Regexp(t, `(?m)^Targets:\s+tgt-a, tgt-b$`, out)
	assert.Regexp(t, `(?m)^Tags:\s+a=2, z=1$`, out)
	assert.Regexp(t, `(?m)^Expires:\s+-$`, out)
	assert.Regexp(t, `(?m)^Updated:\s+2026-01-02 03:04$`, out)
}

func TestCLI_APIErrorMessage(t *testing.T) {
	api := newFakeAPI(t)
	_, _, err := runCLI(t, api, "cert", "get", "mc-nope")
	require.Error(t, err)
	assert.False(t, isUsage(err))
	assert.True(t, client.IsNotFound(err))
	assert.Equal(t, "Not Found: no route GET /api/v1/certificates/mc-nope (request req-404)", err.Error())
}

func TestCLI_UnauthorizedHint(t *testing.T) {
	api := newFakeAPI(t)
	api.on("GET /api/v1/agents", 401, `{"error":"Unauthorized","message":"missing API key","request_id":"r"}`)
	_, _, err := runCLI(t, api, "agent", "list")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "Unauthorized: missing API key (request r)\n(give an API key with --api-key or CERTCTL_API_KEY)")
}

func TestCLI_CertCreateFromFlags(t *testing.T) {
	api := newFakeAPI(t)
	api.on("POST /api/v1/certificates", 201, `{"id":"mc-1","name":"api.example.com","common_name":"api.example.com","status":"Pending",`+
		`"created_at":"2026-01-01T00:00:00Z","updated_at":"2026-01-01T00:00:00Z"}`)
	out, _, err := runCLI(t, api, "cert", "create", "--common-name", "api.example.com", "--san", "a.example.com", "--san", "b.example.com",
		"--owner", "o-alice", "--team", "t-platform", "--issuer", "iss-local", "--target", "tgt-1", "--target", "tgt-2",
		"--renewal-policy", "rp-standard", "--environment", "production", "--tag", "tier=1", "--tag", "app=api", "--id", "mc-1", "--name", "api")
	require.NoError(t, err)
	assert.Regexp(t, `(?m)^ID:\s+mc-1$`, out)

	r := api.requests()[0]
	assert.NotEmpty(t, r.Header.Get("Idempotency-Key"))
	assert.JSONEq(t, `{"id":"mc-1","name":"api","common_name":"api.example.com","sans":["a.example.com","b.example.com"],
		"environment":"production","owner_id":"o-alice","team_id":"t-platform","issuer_id":"iss-local",
		"target_ids":["tgt-1","tgt-2"],"renewal_policy_id":"rp-standard","tags":{"tier":"1","app":"api"}}`, r.Body)
}

func TestCLI_CertCreateFromFileWithOverride(t *testing.T) {
	api := newFakeAPI(t)
	api.on("POST /api/v1/certificates", 201, `{"id":"mc-2","common_name":"web.example.com"}`)
	path := filepath.Join(t.TempDir(), "cert.json")
	require.NoError(t, os.WriteFile(path, []byte(`{"common_name":"web.example.com","owner_id":"o-alice","team_id":"t-platform",
		"issuer_id":"iss-local","tags":{"tier":"2"}}`), 0o600))

	out, _, err := runCLI(t, api, "-o", "json", "cert", "create", "-f", path, "--owner", "o-bob", "--tag", "app=web")
	require.NoError(t, err)
	assert.JSONEq(t, `{"common_name":"web.example.com","owner_id":"o-bob","team_id":"t-platform","issuer_id":"iss-local",
		"tags":{"tier":"2","app":"web"}}`, api.requests()[0].Body)
	var got wire.Certificate
	require.NoError(t, json.Unmarshal([]byte(out), &got))
	assert.Equal(t, "mc-2", got.ID)
}

func TestCLI_CertActions(t *testing.T) {
	api := newFakeAPI(t)
	api.on("POST /api/v1/certificates/mc-1/renew", 202, `{"status":"renewal_triggered"}`)
	api.on("POST /api/v1/certificates/mc-1/deploy", 202, `{"status":"deployment_triggered"}`)
	api.on("POST /api/v1/certificates/mc-1/revoke", 200, `{"status":"revoked"}`)

	out, _, err := runCLI(t, api, "cert", "renew", "mc-1")
	require.NoError(t, err)
	assert.Equal(t, "renewal of mc-1 started\n", out)

	out, _, err = runCLI(t, api, "cert", "deploy", "mc-1", "--target", "tgt-1")
	require.NoError(t, err)
	assert.Equal(t, "deployment of mc-1 to tgt-1 started\n", out)

	out, _, err = runCLI(t, api, "cert", "revoke", "mc-1", "--reason", "KEYCOMPROMISE", "-o", "json")
	require.NoError(t, err)
	assert.JSONEq(t, `{"id":"mc-1","status":"revoked"}`, out)

	reqs := api.requests()
	require.Len(t, reqs, 3)
	assert.JSONEq(t, `{"target_id":"tgt-1"}`, reqs[1].Body)
	assert.JSONEq(t, `{"reason":"keyCompromise"}`, reqs[2].Body)
}

func TestCLI_UsageErrors(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"unknown flag", []string{"cert", "list", "--bogus"}, "unknown flag: --bogus"},
		{"bad int flag", []string{"cert", "list", "--page", "two"}, `invalid argument "two"`},
		{"bad output", []string{"-o", "xml", "cert", "list"}, `--output "xml" must be table, json or yaml`},
		{"missing id", []string{"cert", "get"}, "certctl cert get needs one ID argument"},
		{"extra argument", []string{"cert", "list", "extra"}, `takes no arguments, got "extra"`},
		{"unknown subcommand", []string{"cert", "frobnicate"}, `unknown command "frobnicate" for "certctl cert"`},
		{"bad reason", []string{"cert", "revoke", "mc-1", "--reason", "lost"}, `--reason "lost" is not one of unspecified, keyCompromise`},
		{"bad tag", []string{"cert", "create", "--common-name", "x", "--tag", "novalue"}, `--tag "novalue" must be key=value`},
		{"empty create", []string{"cert", "create"}, "give the certificate as flags"},
		{"bad time", []string{"cert", "list", "--expires-before", "soon"}, `--expires-before "soon" is not a time`},
		{"bad per-page", []string{"agent", "list", "--per-page", "501"}, "--per-page between 1 and 500"},
		{"key without role", []string{"key", "create", "--name", "x"}, "needs --name and --role"},
		{"bad server", []string{"--server", "ftp://x", "status"}, `server address "ftp://x" is not a base URL`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			api := newFakeAPI(t)
			_, _, err := runCLI(t, api, tt.args...)
			require.Error(t, err)
			assert.True(t, isUsage(err), "%v is a usage error", err)
			assert.Contains(t, err.Error(), tt.want)
			assert.Empty(t, api.requests(), "a usage error sends nothing")
		})
	}
}

func TestCLI_AuditVerifyBroken(t *testing.T) {
	api := newFakeAPI(t)
	api.on("GET /api/v1/audit/verify", 200, `{"valid":false,"events":41,"head":"ab12cd",`+
		`"first_break":{"seq":42,"id":"audit-42","reason":"hash does not match the event's content"}}`)

	out, _, err := runCLI(t, api, "audit", "verify")
	require.Error(t, err)
	assert.False(t, isUsage(err), "a broken chain exits 1, not 2")
	assert.Equal(t, "audit chain is broken at event 42 (audit-42): hash does not match the event's content", err.Error())
	assert.Regexp(t, `(?m)^Audit chain:\s+BROKEN$`, out)
	assert.Regexp(t, `(?m)^Events verified:\s+41$`, out)
	assert.Regexp(t, `(?m)^First break:\s+event 42 \(audit-42\)$`, out)
	assert.Regexp(t, `(?m)^Reason:\s+hash does not match the event's content$`, out)

	out, _, err = runCLI(t, api, "audit", "verify", "-o", "json")
	require.Error(t, err)
	var v wire.AuditVerification
	require.NoError(t, json.Unmarshal([]byte(out), &v))
	assert.False(t, v.Valid)
	assert.Equal(t, uint64(42), v.FirstBreak.Seq)
}

func TestCLI_AuditVerifyIntact(t *testing.T) {
	api := newFakeAPI(t)
	api.on("GET /api/v1/audit/verify", 200, `{"valid":true,"events":7,"head":"ab12cd"}`)
	out, _, err := runCLI(t, api, "audit", "verify")
	require.NoError(t, err)
	assert.Equal(t, "audit chain intact: 7 events, head ab12cd\n", out)
}

func TestCLI_AuditList(t *testing.T) {
	api := newFakeAPI(t)
	api.on("GET /api/v1/audit", 200, `{"data":[{"id":"audit-1","actor":"alice","actor_type":"User","action":"create_certificate",`+
		`"resource_type":"certificate","resource_id":"mc-1","details":{},"timestamp":"2026-02-03T04:05:06Z","seq":1,"raft_index":5,`+
		`"prev_hash":"","hash":"ab"}],"total":1,"page":1,"per_page":50}`)
	out, _, err := runCLI(t, api, "audit", "list", "--actor", "alice", "--resource-type", "certificate", "--from", "2026-02-01T00:00:00Z")
	require.NoError(t, err)
	assert.Regexp(t, `(?m)^1\s+2026-02-03 04:05\s+alice \(User\)\s+create_certificate\s+certificate mc-1\s+audit-1$`, out)
	assert.Equal(t, "actor=alice&from=2026-02-01T00%3A00%3A00Z&resource_type=certificate", api.requests()[0].Query)
}

func TestCLI_Status(t *testing.T) {
	api := newFakeAPI(t)
	api.on("GET /api/v1/cluster", 200, `{"cluster_id":"c-1","node_id":"n2","leader":{"node_id":"n1","raft_addr":"127.0.0.1:8300","api_addr":"127.0.0.1:8443"},`+
		`"members":[{"node_id":"n1","raft_addr":"127.0.0.1:8300","api_addr":"127.0.0.1:8443","suffrage":"voter","state":"leader","term":3,`+
		`"commit_index":10,"applied_index":10,"last_log_index":10,"healthy":true,"replication_stalled":true,"stalled_followers":["n2"],"replication_stalls":1},`+
		`{"node_id":"n2","raft_addr":"127.0.0.1:8301","api_addr":"127.0.0.1:8444","suffrage":"voter","state":"follower","term":3,`+
		`"commit_index":10,"applied_index":9,"last_log_index":10,"healthy":true,"replication_stalled":true},`+
		`{"node_id":"n3","raft_addr":"127.0.0.1:8302","api_addr":"127.0.0.1:8445","suffrage":"voter","state":"unreachable","term":0,`+
		`"commit_index":0,"applied_index":0,"last_log_index":0,"healthy":false,"error":"connection refused"}]}`)

	out, _, err := runCLI(t, api, "status")
	require.NoError(t, err)
	assert.Regexp(t, `(?m)^Cluster:\s+c-1$`, out)
	assert.Regexp(t, `(?m)^Leader:\s+n1 \(127\.0\.0\.1:8443\)$`, out)
	assert.Regexp(t, `(?m)^Answered by:\s+n2$`, out)
	assert.Regexp(t, `(?m)^NODE\s+STATE\s+SUFFRAGE\s+API ADDR\s+RAFT ADDR\s+TERM\s+COMMIT\s+APPLIED\s+REPLICATION\s+HEALTHY$`, out)
	assert.Regexp(t, `(?m)^n1\*\s+leader\s+voter\s+127\.0\.0\.1:8443\s+127\.0\.0\.1:8300\s+3\s+10\s+10\s+stalled: n2\s+yes$`, out)
	assert.Regexp(t, `(?m)^n2\s+follower\s+voter\s+127\.0\.0\.1:8444\s+127\.0\.0\.1:8301\s+3\s+10\s+9\s+stalled\s+yes$`, out)
	assert.Regexp(t, `(?m)^n3\s+unreachable\s+voter\s+127\.0\.0\.1:8445\s+127\.0\.0\.1:8302\s+0\s+0\s+0\s+-\s+no: connection refused$`, out)
}

func TestCLI_KeyCreate(t *testing.T) {
	api := newFakeAPI(t)
	api.on("POST /api/v1/auth/keys", 201, `{"id":"key-1","name":"web-1","role":"agent","agent_id":"ag-1","prefix":"cc_ab",`+
		`"created_at":"2026-02-03T04:05:06Z","api_key":"cc_abcdef0123"}`)
	out, errOut, err := runCLI(t, api, "key", "create", "--name", "web-1", "--role", "agent", "--agent", "ag-1")
	require.NoError(t, err)
	assert.Regexp(t, `(?m)^API key:\s+cc_abcdef0123$`, out)
	assert.Contains(t, errOut, "not shown again")
	assert.JSONEq(t, `{"name":"web-1","role":"agent","agent_id":"ag-1"}`, api.requests()[0].Body)
}

func TestCLI_KeyListAndRevoke(t *testing.T) {
	api := newFakeAPI(t)
	api.on("GET /api/v1/auth/keys", 200, `{"data":[{"id":"key-1","name":"ci","role":"operator","agent_id":"","prefix":"cc_ab",`+
		`"created_at":"2026-02-03T04:05:06Z","revoked_at":"2026-02-04T00:00:00Z"}],"total":1,"page":1,"per_page":50}`)
	api.on("DELETE /api/v1/auth/keys/key-1", 204, "")
	out, _, err := runCLI(t, api, "key", "list")
	require.NoError(t, err)
	assert.Regexp(t, `(?m)^key-1\s+ci\s+operator\s+-\s+cc_ab\s+2026-02-03 04:05\s+2026-02-04 00:00$`, out)

	out, _, err = runCLI(t, api, "key", "revoke", "key-1")
	require.NoError(t, err)
	assert.Equal(t, "revoked API key key-1\n", out)
}

func TestCLI_AgentAndJob(t *testing.T) {
	api := newFakeAPI(t)
	beat := rfc3339(time.Now().Add(-5 * time.Minute))
	api.on("GET /api/v1/agents", 200, `{"data":[{"id":"ag-web-prod","name":"web-prod","hostname":"web1","status":"Online",`+
		`"last_heartbeat_at":"`+beat+`","registered_at":"2026-01-01T00:00:00Z","version":"1.0.0"}],"total":1,"page":1,"per_page":50}`)
	api.on("DELETE /api/v1/agents/ag-web-prod", 204, "")
	api.on("GET /api/v1/jobs/job-1", 200, `{"id":"job-1","type":"Renewal","certificate_id":"mc-1","status":"Failed","attempts":3,`+
		`"max_attempts":3,"last_error":"issuer down","scheduled_at":"2026-02-03T04:05:06Z","created_at":"2026-02-03T04:05:06Z"}`)
	api.on("POST /api/v1/jobs/job-2/cancel", 409, `{"error":"Conflict","message":"job job-2 is Completed","request_id":"r9","code":"state"}`)

	out, _, err := runCLI(t, api, "agent", "list")
	require.NoError(t, err)
	assert.Regexp(t, `(?m)^ag-web-prod\s+web-prod\s+web1\s+Online\s+[45]m ago\s+1\.0\.0$`, out)

	out, _, err = runCLI(t, api, "agent", "retire", "ag-web-prod")
	require.NoError(t, err)
	assert.Equal(t, "retired agent ag-web-prod\n", out)

	out, _, err = runCLI(t, api, "job", "get", "job-1")
	require.NoError(t, err)
	assert.Regexp(t, `(?m)^Attempts:\s+3/3$`, out)
	assert.Regexp(t, `(?m)^Last error:\s+issuer down$`, out)

	_, _, err = runCLI(t, api, "job", "cancel", "job-2")
	require.Error(t, err)
	assert.True(t, client.IsConflict(err))
	assert.Equal(t, "Conflict: job job-2 is Completed (request r9)", err.Error())
}

func TestCLI_Unreachable(t *testing.T) {
	dead := httptest.NewServer(http.NotFoundHandler())
	dead.Close()
	_, _, err := runCLI(t, nil, "--server", dead.URL, "status")
	require.Error(t, err)
	assert.False(t, isUsage(err))
	assert.True(t, client.IsUnavailable(err))
	assert.True(t, strings.HasPrefix(err.Error(), "no server could be reached"), err.Error())
}

func TestParseWhen(t *testing.T) {
	now := time.Date(2026, 2, 3, 4, 5, 6, 0, time.UTC)
	tests := []struct {
		in   string
		want time.Time
	}{
		{"2026-03-01T10:00:00+01:00", time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)},
		{"2026-03-01", time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)},
		{"30d", now.Add(30 * 24 * time.Hour)},
		{"-7d", now.Add(-7 * 24 * time.Hour)},
		{"12h", now.Add(12 * time.Hour)},
	}
	for _, tt := range tests {
		got, err := parseWhen("x", tt.in, now)
		require.NoError(t, err, tt.in)
		assert.True(t, tt.want.Equal(*got), "%s: %s", tt.in, got)
	}
	got, err := parseWhen("x", "", now)
	assert.NoError(t, err)
	assert.Nil(t, got)
}

func TestExpires(t *testing.T) {
	now := time.Date(2026, 2, 3, 12, 0, 0, 0, time.UTC)
	at := func(d time.Duration) *time.Time { t := now.Add(d); return &t }
	assert.Equal(t, "2026-02-13 (10d left)", expires(at(10*24*time.Hour+time.Minute), now))
	assert.Equal(t, "2026-02-03 (today)", expires(at(time.Hour), now))
	assert.Equal(t, "2026-02-03 (expired 1d ago)", expires(at(-time.Hour), now))
	assert.Equal(t, "", expires(nil, now))
}

func TestCLI_AgentRegister(t *testing.T) {
	api := newFakeAPI(t)
	api.on("POST /api/v1/agents", 201, `{"id":"ag-1","name":"web1","hostname":"web1.example.com","status":"Offline",`+
		`"registered_at":"2026-01-01T00:00:00Z","api_key":"ck_secret"}`)
	out, errOut, err := runCLI(t, api, "agent", "register", "--name", "web1", "--hostname", "web1.example.com")
	require.NoError(t, err)
	assert.Equal(t, "agent_id: ag-1\napi_key: ck_secret\n", out)
	assert.Contains(t, errOut, "shown this once")
	assert.JSONEq(t, `{"name":"web1","hostname":"web1.example.com"}`, api.requests()[0].Body)

	keyFile := filepath.Join(t.TempDir(), "agent.key")
	out, _, err = runCLI(t, api, "agent", "register", "--name", "web1", "--hostname", "web1.example.com", "--key-file", keyFile)
	require.NoError(t, err)
	assert.NotContains(t, out, "ck_secret")
	raw, err := os.ReadFile(keyFile)
	require.NoError(t, err)
	assert.Equal(t, "ck_secret\n", string(raw))
	fi, err := os.Stat(keyFile)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm())

	_, _, err = runCLI(t, api, "agent", "register", "--name", "web1", "--hostname", "h", "--key-file", keyFile)
	require.Error(t, err, "an existing key file is never overwritten")
	assert.Len(t, api.requests(), 2, "and nothing is registered then")
	_, _, err = runCLI(t, api, "agent", "register", "--name", "web1")
	assert.True(t, isUsage(err))
}

func TestCLI_JobGetShowsValidation(t *testing.T) {
	api := newFakeAPI(t)
	api.on("GET /api/v1/jobs/job-1", 200, `{"id":"job-1","type":"Deployment","certificate_id":"mc-1","target_id":"tgt-1","status":"Completed",`+
		`"attempts":1,"max_attempts":3,"scheduled_at":"2026-01-01T00:00:00Z","created_at":"2026-01-01T00:00:00Z",`+
		`"deployment_result":{"validation":{"valid":true,"method":"tls","endpoint":"127.0.0.1:8443","served_serial":"0a1b","message":"serves it"}}}`)
	out, _, err := runCLI(t, api, "job", "get", "job-1")
	require.NoError(t, err)
	assert.Regexp(t, `(?m)^Validation:\s+passed \(tls 127.0.0.1:8443, served serial 0a1b\): serves it$`, out)
}

// A hostile agent's name and hostname cannot rewrite the terminal or pass for
// another row: table, fields, JSON and error output escape control and bidi
// characters, and JSON still decodes to what the server sent.
func TestCLI_EscapesHostileText(t *testing.T) {
	const (
		name     = "web\r\x1b[2Jroot"         // CR back to the line start, ESC clears the screen
		hostname = "evil\u202emoc.elpmaxe"    // right-to-left override: shows as example.com
		version  = "1.0\x7f\u009b31m\ufeff\t" // DEL, C1 CSI, BOM, tab
	)
	agent := map[string]any{"id": "ag-1", "name": name, "hostname": hostname, "status": "Online",
		"registered_at": "2026-01-01T00:00:00Z", "version": version}
	one, err := json.Marshal(agent)
	require.NoError(t, err)
	list := `{"data":[` + string(one) + `,{"id":"ag-2","name":"db","hostname":"db1","status":"Offline","registered_at":"2026-01-01T00:00:00Z"}],"total":2,"page":1,"per_page":50}`
	api := newFakeAPI(t)
	api.on("GET /api/v1/agents", 200, list)
	api.on("GET /api/v1/agents/ag-1", 200, string(one))
	api.on("DELETE /api/v1/agents/ag-2", 409, `{"error":"Conflict","message":"agent \u001b]0;pwned\u0007 is busy\r\nOK","request_id":"r1","code":"state"}`)

	raw := func(t *testing.T, out string) {
		t.Helper()
		for _, c := range []string{"\r", "\x1b", "\u202e", "\x7f", "\u009b", "\ufeff", "\t", "\a"} {
			assert.NotContains(t, out, c, "%q printed raw", c)
		}
	}

	out, _, err := runCLI(t, api, "agent", "list")
	require.NoError(t, err)
	raw(t, out)
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	require.Len(t, lines, 3, "a header and one line per agent: %q", out)
	assert.Contains(t, lines[1], `web\r\x1b[2Jroot`)
	assert.Contains(t, lines[1], `evil\u202emoc.elpmaxe`)
	assert.Contains(t, lines[1], `1.0\x7f\u009b31m\ufeff\t`)
	assert.Regexp(t, `^ag-2\s+db\s+db1\s+Offline`, lines[2])

	out, _, err = runCLI(t, api, "agent", "get", "ag-1")
	require.NoError(t, err)
	raw(t, out)
	assert.Regexp(t, `(?m)^Name:\s+web\\r\\x1b\[2Jroot$`, out)
	assert.Regexp(t, `(?m)^Hostname:\s+evil\\u202emoc\.elpmaxe$`, out)

	out, _, err = runCLI(t, api, "-o", "json", "agent", "list")
	require.NoError(t, err)
	raw(t, out)
	var decoded struct{ Data []map[string]any }
	require.NoError(t, json.Unmarshal([]byte(out), &decoded))
	require.Len(t, decoded.Data, 2)
	assert.Equal(t, name, decoded.Data[0]["name"], "JSON escapes, never alters")
	assert.Equal(t, hostname, decoded.Data[0]["hostname"])
	assert.Equal(t, version, decoded.Data[0]["version"])

	_, _, err = runCLI(t, api, "agent", "retire", "ag-2")
	require.Error(t, err)
	raw(t, err.Error())
	assert.NotContains(t, err.Error(), "\n", "the server's message cannot add a line")
	assert.Contains(t, err.Error(), `agent \x1b]0;pwned\x07 is busy\r\nOK`)
}

func TestPrintable(t *testing.T) {
	for in, want := range map[string]string{
		"web-01":             "web-01",
		"Zürich 東京 שרת 🔒":    "Zürich 東京 שרת 🔒",
		"a\tb\nc\rd":         `a\tb\nc\rd`,
		"\x00\x1b\x7f":       `\x00\x1b\x7f`,
		"\u0085\u009b":       `\u0085\u009b`,
		"\u200f\u202e\u2066": `\u200f\u202e\u2066`,
		"\ufeff\u2028\u2029": `\ufeff\u2028\u2029`,
		"bad\xff":            `bad\xff`,
	} {
		assert.Equal(t, want, printable(in), "%q", in)
	}
}

// TestCLI_OutputYAML: -o yaml writes what -o json writes, as YAML, for the
// commands that were there before it too.
func TestCLI_OutputYAML(t *testing.T) {
	api := newFakeAPI(t)
	body := certListJSON(time.Now())
	api.on("GET /api/v1/certificates", 200, body)
	jsonOut, _, err := runCLI(t, api, "cert", "list", "-o", "json")
	require.NoError(t, err)
	yamlOut, _, err := runCLI(t, api, "cert", "list", "-o", "yaml")
	require.NoError(t, err)
	assert.NotEqual(t, jsonOut, yamlOut)
	assert.Contains(t, yamlOut, "\n  - id: mc-api-prod\n")
	var fromJSON, fromYAML any
	require.NoError(t, json.Unmarshal([]byte(jsonOut), &fromJSON))
	require.NoError(t, yaml.Unmarshal([]byte(yamlOut), &fromYAML))
	raw, err := json.Marshal(fromYAML)
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(raw, &fromYAML))
	assert.Equal(t, fromJSON, fromYAML)
}

// TestCLI_OutputYAMLEscapesHostileText: a value holding terminal controls
// or bidi overrides is written escaped, and decodes back to itself.
func TestCLI_OutputYAMLEscapesHostileText(t *testing.T) {
	var buf bytes.Buffer
	hostile := "evil\x1b[2J\u202edrow\u0085x"
	require.NoError(t, printJSON(&yamlOut{w: &buf}, map[string]string{"name": hostile, "k\x1b": "v"}))
	assert.False(t, strings.ContainsFunc(buf.String(), func(r rune) bool { return r != '\n' && unsafeRune(r) }), buf.String())
	var back map[string]string
	require.NoError(t, yaml.Unmarshal(buf.Bytes(), &back))
	assert.Equal(t, hostile, back["name"])
	assert.Equal(t, "v", back["k\x1b"])
}
