package agent

import (
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/certctl/certctl/api/wire"
	"github.com/certctl/certctl/connectors/target"
)

// acmeCluster is the fake cluster with the ACME answers' routes: it lists
// answers and records the confirmations.
type acmeCluster struct {
	*fakeCluster
	amu       sync.Mutex
	answers   []wire.ACMEChallenge
	confirmed []string
}

func (c *acmeCluster) ACMEChallenges(_ context.Context, _ string) (*wire.ACMEChallengesResponse, error) {
	c.amu.Lock()
	defer c.amu.Unlock()
	return &wire.ACMEChallengesResponse{Challenges: append([]wire.ACMEChallenge{}, c.answers...), Count: len(c.answers)}, nil
}

func (c *acmeCluster) ConfirmACMEChallenge(_ context.Context, _, token string) error {
	c.amu.Lock()
	defer c.amu.Unlock()
	c.confirmed = append(c.confirmed, token)
	return nil
}

func (c *acmeCluster) set(a ...wire.ACMEChallenge) {
	c.amu.Lock()
	defer c.amu.Unlock()
	c.answers = a
}

const (
	tokA = "tok_A-aaaaaaaaaaaaaaaaaaaaaaa"
	tokB = "tok_B-bbbbbbbbbbbbbbbbbbbbbbb"
)

func answerOf(token string, life time.Duration) wire.ACMEChallenge {
	return wire.ACMEChallenge{Token: token, KeyAuthorization: token + ".thumbprint_x", CertificateID: "mc-web", ExpiresAt: time.Now().Add(life)}
}

func newACMEAgent(t *testing.T, cluster *acmeCluster, addr, webroot string) *Agent {
	t.Helper()
	dir := t.TempDir()
	reg := target.NewRegistry()
	require.NoError(t, reg.Register("NGINX", &fakeTarget{}))
	a, err := New(Config{AgentID: "ag-web", Hostname: "web1", KeyDir: filepath.Join(dir, "keys"), StateDir: filepath.Join(dir, "state"),
		API: cluster, Targets: reg, ACMEHTTPAddr: addr, ACMEWebroot: webroot, ACMEPoll: 50 * time.Millisecond,
		HeartbeatInterval: time.Hour, PollInterval: time.Hour})
	require.NoError(t, err)
	return a
}

func fetch(t *testing.T, method, url string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	require.NoError(t, err)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// The listener serves the live answers the cluster lists and nothing else;
// each new one is confirmed once; one the cluster drops, or whose time ran
// out, is no longer served.
func TestACME_ListenerServesOnlyLiveAnswers(t *testing.T) {
	cluster := &acmeCluster{fakeCluster: newFakeCluster(t)}
	r, err := NewResponder("", nil, nil)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	addr, err := ServeACME(ctx, "127.0.0.1:0", r, nil)
	require.NoError(t, err)
	base := "http://" + addr.String()
	a := newACMEAgent(t, cluster, "", t.TempDir())
	a.responder = r // the listener's

	code, _ := fetch(t, "GET", base+"/.well-known/acme-challenge/"+tokA)
	assert.Equal(t, 404, code, "nothing before the cluster lists it")

	cluster.set(answerOf(tokA, time.Minute), answerOf(tokB, time.Minute))
	require.NoError(t, a.SyncACME(ctx))
	assert.ElementsMatch(t, []string{tokA, tokB}, cluster.confirmed)
	code, body := fetch(t, "GET", base+"/.well-known/acme-challenge/"+tokA)
	assert.Equal(t, 200, code)
	assert.Equal(t, tokA+".thumbprint_x", body)
	code, _ = fetch(t, "HEAD", base+"/.well-known/acme-challenge/"+tokB)
	assert.Equal(t, 200, code)

	for _, path := range []string{"/", "/.well-known/acme-challenge/", "/.well-known/acme-challenge/other",
		"/.well-known/acme-challenge/" + tokA + "/x", "/.well-known/acme-challenge/..%2f..%2fetc%2fpasswd", "/" + tokA} {
		code, _ := fetch(t, "GET", base+path)
		assert.Equal(t, 404, code, path)
	}
	code, _ = fetch(t, "POST", base+"/.well-known/acme-challenge/"+tokA)
	assert.Equal(t, 405, code)

	require.NoError(t, a.SyncACME(ctx))
	assert.Len(t, cluster.confirmed, 2, "confirmed once each")

	cluster.set(answerOf(tokB, time.Minute))
	require.NoError(t, a.SyncACME(ctx))
	code, _ = fetch(t, "GET", base+"/.well-known/acme-challenge/"+tokA)
	assert.Equal(t, 404, code, "an answer the cluster dropped is not served")

	r.now = func() time.Time { return time.Now().Add(2 * time.Minute) }
	code, _ = fetch(t, "GET", base+"/.well-known/acme-challenge/"+tokB)
	assert.Equal(t, 404, code, "an expired answer is not served")
}

// What the cluster sends is checked: a token that could name another file,
// or a key authorization that is not the token's, is never served.
func TestACME_MalformedAnswersRefused(t *testing.T) {
	cluster := &acmeCluster{fakeCluster: newFakeCluster(t)}
	webroot := t.TempDir()
	a := newACMEAgent(t, cluster, "", webroot)
	bad := []wire.ACMEChallenge{
		{Token: "../../etc/cron.d/x", KeyAuthorization: "../../etc/cron.d/x.t", ExpiresAt: time.Now().Add(time.Minute)},
		{Token: "tok", KeyAuthorization: "other.t", ExpiresAt: time.Now().Add(time.Minute)},
		{Token: "tok2", KeyAuthorization: "tok2.t\n* * * * * root sh", ExpiresAt: time.Now().Add(time.Minute)},
		{Token: "tok3", KeyAuthorization: "tok3.t", ExpiresAt: time.Now().Add(-time.Second)},
	}
	cluster.set(bad...)
	require.NoError(t, a.SyncACME(context.Background()))
	assert.Empty(t, cluster.confirmed)
	assert.Empty(t, a.responder.Tokens())
	entries, err := os.ReadDir(webroot)
	require.NoError(t, err)
	assert.Empty(t, entries, "nothing written")
}

// With a webroot the answer is a file the host's web server serves, there
// while the cluster lists it and removed after, and when the agent stops.
func TestACME_WebrootFileWrittenAndRemoved(t *testing.T) {
	cluster := &acmeCluster{fakeCluster: newFakeCluster(t)}
	webroot := t.TempDir()
	a := newACMEAgent(t, cluster, "", webroot)
	file := filepath.Join(webroot, ".well-known", "acme-challenge", tokA)

	cluster.set(answerOf(tokA, time.Minute))
	require.NoError(t, a.SyncACME(context.Background()))
	got, err := os.ReadFile(file)
	require.NoError(t, err)
	assert.Equal(t, tokA+".thumbprint_x", string(got))
	fi, err := os.Stat(file)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o644), fi.Mode().Perm())
	assert.Equal(t, []string{tokA}, cluster.confirmed)

	cluster.set()
	require.NoError(t, a.SyncACME(context.Background()))
	assert.NoFileExists(t, file)

	// Run serves, and a stop takes the answers down.
	cluster.set(answerOf(tokB, time.Minute))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	fileB := filepath.Join(webroot, ".well-known", "acme-challenge", tokB)
	require.Eventually(t, func() bool { _, err := os.Stat(fileB); return err == nil }, 5*time.Second, 20*time.Millisecond)
	cancel()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(10 * time.Second):
		t.Fatal("the agent did not stop")
	}
	assert.NoFileExists(t, fileB, "a stopped agent leaves no answer behind")
}

// The agent's own listener comes up with Run and serves what it synced.
func TestACME_RunServesOnItsListener(t *testing.T) {
	cluster := &acmeCluster{fakeCluster: newFakeCluster(t)}
	ln := freeAddr(t)
	a := newACMEAgent(t, cluster, ln, "")
	cluster.set(answerOf(tokA, time.Minute))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	require.Eventually(t, func() bool {
		resp, err := http.Get("http://" + ln + "/.well-known/acme-challenge/" + tokA)
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	}, 5*time.Second, 20*time.Millisecond)
	cancel()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the agent did not stop")
	}
}

// An agent without the ACME routes, or with a relative webroot, is refused.
func TestACME_ConfigRefused(t *testing.T) {
	dir := t.TempDir()
	reg := target.NewRegistry()
	_, err := New(Config{AgentID: "ag-web", KeyDir: filepath.Join(dir, "k"), StateDir: filepath.Join(dir, "s"),
		API: newFakeCluster(t), Targets: reg, ACMEHTTPAddr: ":0"})
	assert.ErrorContains(t, err, "ACME")
	_, err = New(Config{AgentID: "ag-web", KeyDir: filepath.Join(dir, "k"), StateDir: filepath.Join(dir, "s"),
		API: &acmeCluster{fakeCluster: newFakeCluster(t)}, Targets: reg, ACMEWebroot: "var/www"})
	assert.ErrorContains(t, err, "acme_webroot")
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	return addr
}

// A symbolic link in the webroot does not send the answer elsewhere.
func TestACME_WebrootSymlinkRefused(t *testing.T) {
	cluster := &acmeCluster{fakeCluster: newFakeCluster(t)}
	webroot, elsewhere := t.TempDir(), t.TempDir()
	require.NoError(t, os.Symlink(elsewhere, filepath.Join(webroot, ".well-known")))
	a := newACMEAgent(t, cluster, "", webroot)
	cluster.set(answerOf(tokA, time.Minute))
	require.NoError(t, a.SyncACME(context.Background()))
	assert.Empty(t, cluster.confirmed, "not confirmed: not served")
	entries, err := os.ReadDir(elsewhere)
	require.NoError(t, err)
	assert.Empty(t, entries, "nothing written through the link")
}
