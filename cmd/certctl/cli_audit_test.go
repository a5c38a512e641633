package main

import (
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// auditMember is a fake member for audit verify --cluster: it answers its
// head and its own check.
func auditMember(t *testing.T, seq uint64, hash string, valid bool) *fakeAPI {
	t.Helper()
	m := newFakeAPI(t)
	m.on("GET /api/v1/audit/head", 200, fmt.Sprintf(`{"at_index":40,"applied_index":45,"seq":%d,"hash":%q,"raft_index":39}`, seq, hash))
	verify := `{"valid":true,"events":30,"head":"h","keyed":true,"keyed_from":1,"unkeyed_events":0}`
	if !valid {
		verify = `{"valid":false,"events":4,"head":"h","keyed":true,"keyed_from":1,"unkeyed_events":0,` +
			`"first_break":{"seq":5,"id":"audit-000000000005","reason":"hash does not match"}}`
	}
	m.on("GET /api/v1/audit/verify", 200, verify)
	return m
}

func hostOf(f *fakeAPI) string { return strings.TrimPrefix(f.srv.URL, "http://") }

// clusterOf makes entry answer GET /api/v1/cluster with members n1.. at the
// given fake APIs and applied indexes.
func clusterOf(entry *fakeAPI, addrs []string, applied []uint64) {
	var ms []string
	for i, a := range addrs {
		ms = append(ms, fmt.Sprintf(`{"node_id":"n%d","raft_addr":"r","api_addr":%q,"suffrage":"voter","state":"follower","applied_index":%d,"healthy":true}`,
			i+1, a, applied[i]))
	}
	entry.on("GET /api/v1/cluster", 200, `{"cluster_id":"c","node_id":"n1","members":[`+strings.Join(ms, ",")+`]}`)
}

func TestCLI_AuditVerifyClusterNamesTheMemberThatDiffers(t *testing.T) {
	n1, n2, n3 := auditMember(t, 30, "aaa", true), auditMember(t, 30, "aaa", true), auditMember(t, 30, "bbb", true)
	clusterOf(n1, []string{hostOf(n1), hostOf(n2), hostOf(n3)}, []uint64{45, 40, 47})

	out, _, err := runCLI(t, n1, "--api-key", "k-secret", "audit", "verify", "--cluster")

	require.Error(t, err)
	assert.False(t, isUsage(err))
	assert.Equal(t, "audit chains do not agree at raft index 40: n3 (DIFFERS)", err.Error())
	assert.Contains(t, out, "audit chain heads at raft index 40")
	assert.Regexp(t, `(?m)^n1\s+\S+\s+30\s+aaa\s+intact\s+agrees$`, out)
	assert.Regexp(t, `(?m)^n3\s+\S+\s+30\s+bbb\s+intact\s+DIFFERS$`, out)
	for _, m := range []*fakeAPI{n1, n2, n3} {
		var heads int
		for _, r := range m.requests() {
			if r.Path == "/api/v1/audit/head" {
				heads++
				assert.Equal(t, "at_index=40", r.Query, "every member is asked at the lowest applied index")
				assert.Equal(t, "Bearer k-secret", r.Header.Get("Authorization"))
			}
		}
		assert.Equal(t, 1, heads)
	}
}

func TestCLI_AuditVerifyCluster(t *testing.T) {
	gone := httptest.NewServer(nil)
	goneAddr := strings.TrimPrefix(gone.URL, "http://")
	gone.Close()

	t.Run("all agree", func(t *testing.T) {
		n1, n2, n3 := auditMember(t, 30, "aaa", true), auditMember(t, 30, "aaa", true), auditMember(t, 30, "aaa", true)
		clusterOf(n1, []string{hostOf(n1), hostOf(n2), hostOf(n3)}, []uint64{45, 45, 45})
		out, _, err := runCLI(t, n1, "audit", "verify", "--cluster", "-o", "json")
		require.NoError(t, err)
		var res clusterAudit
		require.NoError(t, json.Unmarshal([]byte(out), &res))
		assert.True(t, res.Agree)
		assert.Equal(t, uint64(45), res.AtIndex)
		for _, m := range res.Members {
			assert.Equal(t, verdictAgrees, m.Verdict, m.NodeID)
		}
	})
	t.Run("a member that does not answer", func(t *testing.T) {
		n1, n2 := auditMember(t, 30, "aaa", true), auditMember(t, 30, "aaa", true)
		clusterOf(n1, []string{hostOf(n1), hostOf(n2), goneAddr}, []uint64{45, 45, 0})
		out, _, err := runCLI(t, n1, "audit", "verify", "--cluster")
		require.Error(t, err)
		assert.Equal(t, "audit chains do not agree at raft index 45: n3 (NO ANSWER)", err.Error())
		assert.Regexp(t, `(?m)^n3\s+`+goneAddr+`\s+-\s+-\s+-\s+NO ANSWER: no server could be reached`, out)
	})
	t.Run("a broken chain with the majority's head", func(t *testing.T) {
		n1, n2, n3 := auditMember(t, 30, "aaa", true), auditMember(t, 30, "aaa", false), auditMember(t, 30, "aaa", true)
		clusterOf(n1, []string{hostOf(n1), hostOf(n2), hostOf(n3)}, []uint64{45, 45, 45})
		out, _, err := runCLI(t, n1, "audit", "verify", "--cluster")
		require.Error(t, err)
		assert.Equal(t, "audit chains do not agree at raft index 45: n2 (BROKEN)", err.Error())
		assert.Regexp(t, `(?m)^n2\s+\S+\s+30\s+aaa\s+broken at event 5\s+BROKEN$`, out)
	})
	t.Run("no majority", func(t *testing.T) {
		n1, n2 := auditMember(t, 30, "aaa", true), auditMember(t, 30, "bbb", true)
		clusterOf(n1, []string{hostOf(n1), hostOf(n2)}, []uint64{45, 45})
		_, _, err := runCLI(t, n1, "audit", "verify", "--cluster")
		require.Error(t, err)
		assert.Equal(t, "audit chains do not agree at raft index 45: n1 (NO MAJORITY), n2 (NO MAJORITY)", err.Error())
	})
}

func TestCLI_AuditVerifyTellsWhatIsKeyed(t *testing.T) {
	api := newFakeAPI(t)
	api.on("GET /api/v1/audit/verify", 200, `{"valid":true,"events":12,"head":"ab12cd","keyed":true,"keyed_from":8,"unkeyed_events":7}`)
	out, errOut, err := runCLI(t, api, "audit", "verify")
	require.NoError(t, err)
	assert.Equal(t, "audit chain intact: 12 events, head ab12cd\n"+
		"events 1 to 7 are plain SHA-256 links written before the chain was keyed; the keyed link of event 8 seals them\n", out)
	assert.Empty(t, errOut)

	api.on("GET /api/v1/audit/verify", 200, `{"valid":true,"events":7,"head":"ab12cd","keyed":false,"unkeyed_events":7}`)
	out, errOut, err = runCLI(t, api, "audit", "verify")
	require.NoError(t, err)
	assert.Equal(t, "audit chain intact: 7 events, head ab12cd\n", out)
	assert.Contains(t, errOut, "warning: the server holds no audit key")
}
