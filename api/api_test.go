package api_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/certctl/certctl/api"
)

// newTestServer runs a one-node cluster behind the API (authentication off)
// on 127.0.0.1 and returns its URL.
func newTestServer(t *testing.T) string {
	t.Helper()
	return newEnv(t, api.Config{Dev: true}).url
}

type answer struct {
	status int
	header http.Header
	body   map[string]any
	raw    []byte
}

func do(t *testing.T, method, url string, body any) answer {
	t.Helper()
	var r io.Reader
	switch b := body.(type) {
	case nil:
	case []byte:
		r = bytes.NewReader(b)
	case string:
		r = strings.NewReader(b)
	default:
		raw, err := json.Marshal(b)
		require.NoError(t, err)
		r = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, url, r)
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	a := answer{status: resp.StatusCode, header: resp.Header, raw: raw}
	_ = json.Unmarshal(raw, &a.body)
	return a
}

func seedRefs(t *testing.T, url string) {
	t.Helper()
	require.Equal(t, 201, do(t, "POST", url+"/api/v1/teams", map[string]any{"id": "t-x", "name": "X"}).status)
	require.Equal(t, 201, do(t, "POST", url+"/api/v1/owners", map[string]any{"id": "o-x", "name": "X", "email": "x@example.com", "team_id": "t-x"}).status)
	require.Equal(t, 201, do(t, "POST", url+"/api/v1/issuers", map[string]any{"id": "iss-x", "name": "X", "type": "genericca", "enabled": true}).status)
}

func certBody(id, name string) map[string]any {
	return map[string]any{
		"id": id, "name": name, "common_name": "api.example.com", "sans": []string{"api.example.com", "10.0.0.1"},
		"environment": "production", "owner_id": "o-x", "team_id": "t-x", "issuer_id": "iss-x",
		"tags": map[string]string{"service": "api"},
	}
}

func keys(m map[string]any) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func TestAPI_CertificateCreateGetList(t *testing.T) {
	url := newTestServer(t)
	seedRefs(t, url)

	created := do(t, "POST", url+"/api/v1/certificates", certBody("mc-1", "one"))
	require.Equal(t, http.StatusCreated, created.status, string(created.raw))
	assert.Equal(t, []string{"common_name", "created_at", "environment", "id", "issuer_id", "name", "owner_id",
		"sans", "status", "tags", "target_ids", "team_id", "updated_at"}, keys(created.body),
		"the original's field names, optional ones omitted while empty")
	assert.Equal(t, "Pending", created.body["status"])
	assert.NotEmpty(t, created.header.Get("X-Request-ID"))

	got := do(t, "GET", url+"/api/v1/certificates/mc-1", nil)
	require.Equal(t, http.StatusOK, got.status)
	assert.Equal(t, created.body, got.body)

	generated := do(t, "POST", url+"/api/v1/certificates", map[string]any{
		"common_name": "web.example.com", "owner_id": "o-x", "team_id": "t-x", "issuer_id": "iss-x",
		"expires_at": time.Now().Add(48 * time.Hour).UTC().Format(time.RFC3339)})
	require.Equal(t, http.StatusCreated, generated.status, string(generated.raw))
	assert.True(t, strings.HasPrefix(generated.body["id"].(string), "mc-"), "a generated id has the mc- prefix")
	assert.Equal(t, "web.example.com", generated.body["name"], "the name defaults to the common name")

	list := do(t, "GET", url+"/api/v1/certificates?per_page=1&page=2", nil)
	require.Equal(t, http.StatusOK, list.status)
	assert.Equal(t, []string{"data", "page", "per_page", "total"}, keys(list.body))
	assert.EqualValues(t, 2, list.body["total"])
	assert.EqualValues(t, 2, list.body["page"])
	assert.Len(t, list.body["data"], 1)

	soon := do(t, "GET", url+"/api/v1/certificates?expires_before="+time.Now().Add(72*time.Hour).UTC().Format(time.RFC3339), nil)
	assert.EqualValues(t, 1, soon.body["total"])
	pending := do(t, "GET", url+"/api/v1/certificates?status=pending", nil)
	assert.EqualValues(t, 2, pending.body["total"], "enum filters are case-insensitive")
}

func TestAPI_Errors(t *testing.T) {
	url := newTestServer(t)
	seedRefs(t, url)
	require.Equal(t, 201, do(t, "POST", url+"/api/v1/certificates", certBody("mc-1", "one")).status)

	bad := certBody("mc-2", "two")
	bad["common_name"] = "not a host!"
	unknownOwner := certBody("mc-3", "three")
	unknownOwner["owner_id"] = "o-nobody"
	traversal := certBody("../etc", "four")

	cases := []struct {
		name   string
		method string
		path   string
		body   any
		status int
		field  string
	}{
		{"malformed JSON", "POST", "/api/v1/certificates", `{"name":`, 400, ""},
		{"wrong type", "POST", "/api/v1/certificates", `{"common_name": 5}`, 400, "common_name"},
		{"unknown field", "POST", "/api/v1/certificates", `{"comon_name": "a.example.com"}`, 400, "comon_name"},
		{"invalid common name", "POST", "/api/v1/certificates", bad, 400, "common_name"},
		{"path traversal in id", "POST", "/api/v1/certificates", traversal, 400, "id"},
		{"invalid UTF-8", "POST", "/api/v1/certificates", []byte("{\"name\":\"\xff\"}"), 400, ""},
		{"empty body", "POST", "/api/v1/certificates", "", 400, ""},
		{"unknown owner", "POST", "/api/v1/certificates", unknownOwner, 404, "owner_id"},
		{"duplicate id", "POST", "/api/v1/certificates", certBody("mc-1", "other"), 409, ""},
		{"duplicate name", "POST", "/api/v1/certificates", certBody("mc-9", "one"), 409, ""},
		{"body above 1 MiB", "POST", "/api/v1/certificates", bytes.Repeat([]byte("a"), 2<<20), 413, ""},
		{"not found", "GET", "/api/v1/certificates/mc-none", nil, 404, ""},
		{"bad page", "GET", "/api/v1/certificates?page=zero", nil, 400, "page"},
		{"bad status filter", "GET", "/api/v1/certificates?status=Sleeping", nil, 400, "status"},
		{"bad time filter", "GET", "/api/v1/certificates?expires_before=tomorrow", nil, 400, "expires_before"},
		{"no route", "GET", "/api/v1/nothing", nil, 404, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a := do(t, tc.method, url+tc.path, tc.body)
			require.Equal(t, tc.status, a.status, string(a.raw))
			assert.Equal(t, http.StatusText(tc.status), a.body["error"])
			assert.NotEmpty(t, a.body["message"])
			assert.Equal(t, a.header.Get("X-Request-ID"), a.body["request_id"])
			if tc.field != "" {
				assert.Equal(t, tc.field, a.body["field"])
			}
		})
	}
	list := do(t, "GET", url+"/api/v1/certificates", nil)
	assert.EqualValues(t, 1, list.body["total"], "no rejected request created anything")
}

func TestAPI_HealthReadyCluster(t *testing.T) {
	url := newTestServer(t)
	assert.Equal(t, map[string]any{"status": "healthy"}, do(t, "GET", url+"/health", nil).body)
	assert.Equal(t, map[string]any{"status": "ready"}, do(t, "GET", url+"/ready", nil).body)
	c := do(t, "GET", url+"/api/v1/cluster", nil)
	require.Equal(t, 200, c.status)
	assert.NotEmpty(t, c.body["cluster_id"])
	members := c.body["members"].([]any)
	require.Len(t, members, 1)
	m := members[0].(map[string]any)
	assert.Equal(t, "leader", m["state"])
	assert.Equal(t, true, m["healthy"])
	assert.NotZero(t, m["applied_index"])
	assert.Equal(t, "n1", c.body["leader"].(map[string]any)["node_id"])
	req := do(t, "GET", url+"/health", nil)
	assert.NotEmpty(t, req.header.Get("X-Request-ID"))
}
