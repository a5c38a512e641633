package api_test

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/certctl/certctl/api"
	"github.com/certctl/certctl/fsm"
	"github.com/certctl/certctl/node"
	"github.com/certctl/certctl/node/nodetest"
)

// apiCluster is three nodes, each serving the whole API over HTTPS, on a
// network whose raft links a test can cut.
type apiCluster struct {
	*nodetest.Cluster
	nw    *nodetest.Network
	admin string
	// unreachable holds the ids of nodes whose API, as if cut off the
	// network, holds every request without an answer until its client
	// gives up.
	unreachable sync.Map
}

func newAPICluster(t *testing.T, cfg api.Config) *apiCluster {
	t.Helper()
	return newAPIClusterWith(t, cfg, func(n *node.Node) api.Cluster { return n })
}

// newAPIClusterWith is newAPICluster with each node's API given the Cluster
// that wrap makes of its node.
func newAPIClusterWith(t *testing.T, cfg api.Config, wrap func(*node.Node) api.Cluster) *apiCluster {
	t.Helper()
	nw := nodetest.NewNetwork()
	ac := &apiCluster{nw: nw}
	c := nodetest.NewCluster(t, 3, nodetest.WithNetwork(nw), nodetest.WithServe(func(n *node.Node) http.Handler {
		a := api.New(cfg, n.FSM(), wrap(n))
		t.Cleanup(a.Close)
		h := a.Handler()
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if _, cut := ac.unreachable.Load(n.ID()); cut {
				<-r.Context().Done()
				return
			}
			h.ServeHTTP(w, r)
		})
	}))
	ac.Cluster = c
	secret := api.NewKeySecret()
	cmd, err := fsm.NewCommand(fsm.Meta{Time: time.Now(), Actor: "test", ActorType: fsm.ActorSystem},
		&fsm.CreateAPIKey{Key: fsm.APIKey{ID: "key-admin", Name: "admin", Role: fsm.RoleAdmin, Hash: api.HashKey(secret), Prefix: api.KeyPrefix(secret)}})
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), nodetest.WaitTimeout)
	defer cancel()
	_, err = c.Leader(t).Node().Propose(ctx, cmd)
	require.NoError(t, err)
	for _, m := range c.Members {
		nodetest.WaitFor(t, "the admin key on "+m.ID(), func() bool { _, err := m.Node().FSM().APIKey("key-admin"); return err == nil })
	}
	ac.admin = secret
	return ac
}

// get calls path on m as the admin, over HTTPS trusting the cluster CA.
func (c *apiCluster) get(t *testing.T, m *nodetest.Member, path string) (*http.Response, time.Duration) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, "https://"+m.Config.APIAddr+path, nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+c.admin)
	start := time.Now()
	res, err := nodetest.HTTPClient(t, m.Config.DataDir, false).Do(req)
	require.NoError(t, err)
	res.Body.Close()
	return res, time.Since(start)
}

// A strong read through a follower whose leader is cut off answers 503 with
// Retry-After within the write deadline, as a write does, instead of
// hanging on the leader.
func TestAPI_StrongReadWithLeaderCutOffAnswers503InTime(t *testing.T) {
	const writeTimeout = 2 * time.Second
	c := newAPICluster(t, api.Config{RateLimit: -1, WriteTimeout: writeTimeout})
	leader := c.Leader(t)
	follower := c.Followers()[0]

	res, _ := c.get(t, follower, "/api/v1/certificates?consistency=strong")
	require.Equal(t, http.StatusOK, res.StatusCode, "relayed to the leader, vouched for by the follower")

	// No two nodes can reach each other: no quorum anywhere, so no strong
	// read can be answered, first while the follower still names the old
	// leader, then while no one leads.
	c.nw.Isolate(leader.ID())
	c.unreachable.Store(leader.ID(), true)
	defer c.unreachable.Delete(leader.ID())
	for _, other := range c.Followers() {
		if other != follower {
			c.nw.Cut(follower.ID(), other.ID())
		}
	}
	defer c.nw.Heal()
	for range 3 {
		res, took := c.get(t, follower, "/api/v1/certificates?consistency=strong")
		assert.Equal(t, http.StatusServiceUnavailable, res.StatusCode)
		assert.NotEmpty(t, res.Header.Get("Retry-After"))
		assert.Less(t, took, writeTimeout+time.Second, "answered within the write deadline")
	}
}

// The cluster view asks every member for its progress as this node, over
// mutual TLS: a member record pointing at another listener (an attacker's)
// never receives the caller's key, nor anything else, and the member is
// shown unreachable.
func TestAPI_ClusterViewNeverCarriesTheCallersKey(t *testing.T) {
	c := newAPICluster(t, api.Config{RateLimit: -1})
	leader := c.Leader(t)
	victim := c.Followers()[0]

	var mu sync.Mutex
	var seen []string
	trap := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.Header.Get("Authorization")+r.Header.Get("X-Certctl-Vouched-Principal"))
		mu.Unlock()
	}))
	// The worst case: the listener holds the victim's own node certificate,
	// so the TLS check passes and only the request itself can leak.
	_, pairFile, _ := node.TLSFiles(victim.Config.DataDir)
	pair, err := tls.LoadX509KeyPair(pairFile, pairFile)
	require.NoError(t, err)
	trap.TLS = &tls.Config{Certificates: []tls.Certificate{pair}}
	trap.StartTLS()
	defer trap.Close()

	cmd, err := fsm.NewCommand(fsm.Meta{Time: time.Now(), Actor: "test", ActorType: fsm.ActorSystem},
		&fsm.RegisterMember{Member: fsm.Member{NodeID: victim.ID(), RaftAddr: victim.Node().RaftAddr(), APIAddr: strings.TrimPrefix(trap.URL, "https://")}})
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), nodetest.WaitTimeout)
	defer cancel()
	_, err = leader.Node().Propose(ctx, cmd)
	require.NoError(t, err)

	req, err := http.NewRequest(http.MethodGet, "https://"+leader.Config.APIAddr+"/api/v1/cluster", nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+c.admin)
	res, err := nodetest.HTTPClient(t, leader.Config.DataDir, false).Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	require.Equal(t, http.StatusOK, res.StatusCode)

	mu.Lock()
	defer mu.Unlock()
	require.NotEmpty(t, seen, "the forged listener was asked")
	for _, h := range seen {
		assert.Empty(t, h, "a member is asked as this node, never with the caller's key or on its behalf")
	}
}

// A vouched principal counts only on a connection with a node certificate:
// from anyone else the header is dropped, and the request is whoever its
// key says.
func TestAPI_VouchedPrincipalOnlyFromANode(t *testing.T) {
	e := newEnv(t, api.Config{RateLimit: -1})
	forged := base64.RawURLEncoding.EncodeToString([]byte(`{"name":"mallory","role":"admin"}`))
	h := map[string]string{"X-Certctl-Vouched-Principal": forged}
	a := e.call(t, req{method: "GET", path: "/api/v1/auth/keys", header: h})
	assert.Equal(t, http.StatusUnauthorized, a.status, "no key: %s", a.raw)
	viewer := e.bootstrapKey(t, "a-viewer", fsm.RoleViewer, "")
	a = e.call(t, req{method: "GET", path: "/api/v1/auth/keys", key: viewer, header: h})
	assert.Equal(t, http.StatusForbidden, a.status, "the viewer stays a viewer: %s", a.raw)
	// From a node, the same header is the caller.
	a = e.call(t, req{method: "GET", path: "/api/v1/auth/keys", key: asNode, header: h})
	assert.Equal(t, http.StatusOK, a.status, "%s", a.raw)
}
