package packaging_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const agentConfPath = "/etc/certctl/agent.yaml"

// TestDeb_AgentInstallRunRemovePurge takes the certctl-agent .deb through
// an operator's life of it, next to an installed certctl node: dpkg -i makes
// the user, the key and state dirs and the config; the agent is registered
// with the installed CLI, its config edited, and the installed binary runs
// as the certctl-agent user until the cluster sees it Online; SIGTERM stops
// it cleanly; dpkg -r keeps the keys, dpkg --purge deletes them.
func TestDeb_AgentInstallRunRemovePurge(t *testing.T) {
	m := setup(t)
	require.True(t, m.agent, "cmd/certctl-agent exists, so its package must be built")
	for _, pkg := range []string{"certctl-agent", "certctl"} {
		m.purge(t, pkg)
	}
	t.Cleanup(func() {
		m.purge(t, "certctl-agent")
		m.purge(t, "certctl")
	})
	m.root(t, "dpkg", "-i", m.debFile(m.newDist, "certctl", newVersion))
	out := m.root(t, "dpkg", "-i", m.debFile(m.newDist, "certctl-agent", newVersion))
	assert.Contains(t, out, "systemctl enable --now certctl-agent")

	assertMode(t, m, "/usr/bin/certctl-agent", "755 root root")
	assertMode(t, m, agentConfPath, "640 root certctl-agent")
	assertMode(t, m, "/var/lib/certctl-agent", "700 certctl-agent certctl-agent")
	assertMode(t, m, "/var/lib/certctl-agent/keys", "700 certctl-agent certctl-agent")
	assertMode(t, m, "/var/lib/certctl-agent/state", "700 certctl-agent certctl-agent")
	version, err := exec.Command("/usr/bin/certctl-agent", "-version").CombinedOutput()
	require.NoError(t, err, string(version))
	assert.Equal(t, "certctl-agent "+newVersion+"\n", string(version))

	node := newNodeConfig(t, m)
	n := startNode(t, m, node)
	api := &apiClient{base: "https://" + node.apiAddr, key: node.adminKey, cfg: node}
	// Registered as docs/install.md says, the key into a file of its own.
	keyFile := "/etc/certctl/agent.key"
	reg, err := exec.Command("/usr/bin/certctl", "--server", api.base, "--ca-file", node.caFile, "--api-key", node.adminKey,
		"agent", "register", "--name", "pkg-agent", "--hostname", "pkg.example.com", "--key-file", keyFile).CombinedOutput()
	require.NoError(t, err, string(reg))
	t.Cleanup(func() { m.root(t, "rm", "-f", keyFile) })
	m.root(t, "chgrp", "certctl-agent", keyFile)
	m.root(t, "chmod", "0640", keyFile)
	var agentID string
	for _, line := range strings.Split(string(reg), "\n") {
		if id, ok := strings.CutPrefix(line, "agent_id: "); ok {
			agentID = id
		}
	}
	require.NotEmpty(t, agentID, "certctl agent register prints the id: %s", reg)

	// The cluster CA where docs/install.md puts it, readable by the agent.
	caBundle := "/etc/certctl/cluster-ca.pem"
	ca, err := os.ReadFile(node.caFile)
	require.NoError(t, err)
	m.writeRoot(t, caBundle, string(ca))
	m.root(t, "chmod", "0644", caBundle)
	t.Cleanup(func() { m.root(t, "rm", "-f", caBundle) })
	shipped := m.readRoot(t, agentConfPath)
	m.writeRoot(t, agentConfPath, shipped+"\nserver_url: ["+api.base+"]\nca_bundle: "+caBundle+"\nagent_id: "+agentID+"\napi_key_file: "+keyFile+"\nheartbeat_interval: 1s\npoll_interval: 1s\n")

	agent := m.rootCmd("setpriv", "--reuid=certctl-agent", "--regid=certctl-agent", "--init-groups", "--",
		"/usr/bin/certctl-agent", "--config", agentConfPath)
	agent.Dir = "/"
	var log bytes.Buffer
	agent.Stdout, agent.Stderr = &log, &log
	require.NoError(t, agent.Start())
	done := make(chan error, 1)
	go func() { done <- agent.Wait() }()
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			_ = agent.Process.Kill()
			<-done
		}
		if t.Failed() {
			t.Logf("certctl-agent output:\n%s", log.String())
		}
	})

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for status := ""; status != "Online"; {
		select {
		case err := <-done:
			done <- err
			require.FailNow(t, "certctl-agent exited", "%v\n%s", err, log.String())
		case <-ctx.Done():
			require.FailNow(t, "the agent did not turn Online within 60 s", "status %q\n%s", status, log.String())
		case <-time.After(200 * time.Millisecond):
		}
		code, body := api.do(t, http.MethodGet, "/api/v1/agents/"+agentID, "")
		require.Equal(t, http.StatusOK, code, string(body))
		var a struct{ Status, Version string }
		require.NoError(t, json.Unmarshal(body, &a))
		status = a.Status
		if status == "Online" {
			assert.Equal(t, newVersion, a.Version, "the heartbeat carries the agent's version")
		}
	}

	require.NoError(t, agent.Process.Signal(syscall.SIGTERM))
	select {
	case err := <-done:
		stopped = true
		require.NoError(t, err, "certctl-agent exits cleanly on SIGTERM:\n%s", log.String())
	case <-time.After(45 * time.Second):
		require.FailNow(t, "certctl-agent did not stop within 45 s of SIGTERM", log.String())
	}
	n.stop(t)
	files := m.root(t, "find", "/var/lib/certctl-agent", "-mindepth", "1", "!", "-user", "certctl-agent")
	assert.Empty(t, strings.TrimSpace(files), "files in /var/lib/certctl-agent not owned by certctl-agent")

	m.root(t, "dpkg", "-r", "certctl-agent")
	assertStatus(t, "certctl-agent", "rc")
	assert.NoFileExists(t, "/usr/bin/certctl-agent")
	assertMode(t, m, "/var/lib/certctl-agent/keys", "700 certctl-agent certctl-agent")
	m.root(t, "dpkg", "--purge", "certctl-agent")
	assertStatus(t, "certctl-agent", "un")
	assert.NoDirExists(t, "/var/lib/certctl-agent")
	assert.NoFileExists(t, agentConfPath)
}
