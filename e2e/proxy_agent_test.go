package e2e

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/certctl/certctl/connectors/keywrap"
	"github.com/certctl/certctl/connectors/target/f5/f5test"
	"github.com/certctl/certctl/connectors/target/iis/iistest"
)

// TestAgent_ProxyAgentServesF5AndIIS: one certctl-agent, as a proxy agent,
// deploys the certificates whose keys it makes to devices it does not run
// on: a BIG-IP over iControl REST and an IIS host over WinRM, both fakes in
// this process that fail the test on any request outside their vendor's
// protocol. Each renewal's Deployment job is Completed with the validation
// the agent asked the device for (method "api"), and the device then names
// the latest version of the certificate. A device refusing the change
// fails the job with the device's own message, and keeps the previous
// certificate.
func TestAgent_ProxyAgentServesF5AndIIS(t *testing.T) {
	skipShort(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	// The devices start before the cluster, so that their Cleanup (which
	// fails the test on a shell or an upload left behind) runs after the
	// cluster's has stopped the agent.
	bigip := f5test.StartBIGIP(t)
	iisHost := iistest.StartHost(t)
	// A proxy agent writes and runs nothing on its host, so it needs no
	// allow-list; but run as root (as CI runs the tests), an agent without
	// one refuses to start. This one may write only into an empty
	// directory of its own.
	r := newAgentRig(t, ctx, allowLists{dirs: []string{filepath.Join(t.TempDir(), "unused")}})

	for _, dev := range []struct {
		name, typ string
		config    json.RawMessage
		// current is the certificate the device uses now.
		current func(t *testing.T) *x509.Certificate
		// refuse makes the device refuse every change with msg ("" stops).
		refuse func(msg string)
		// refusal is what the device says, words the job must carry.
		refusal, words string
	}{
		{
			name: "f5", typ: "F5", config: bigip.Config(""),
			current: func(t *testing.T) *x509.Certificate { return bigip.ProfileCertificate(t, f5test.ProfilePath) },
			refuse:  bigip.RefuseCommit,
			refusal: "01071ac2:3: Profile (/Common/clientssl-www) is in use by a virtual server with an incompatible cipher group",
			words:   "01071ac2:3: Profile (/Common/clientssl-www) is in use",
		},
		{
			name: "iis", typ: "IIS", config: iisHost.Config(iistest.Site, ""),
			current: func(t *testing.T) *x509.Certificate {
				return iisHost.BoundCertificate(t, iistest.Site, iistest.Binding)
			},
			refuse:  iisHost.FailDeploy,
			refusal: "certctl: Import-PfxCertificate : The data is invalid. (Exception from HRESULT: 0x8007000D)",
			words:   "The data is invalid. (Exception from HRESULT: 0x8007000D)",
		},
	} {
		t.Run(dev.name, func(t *testing.T) {
			certID := "mc-" + dev.name
			r.serveConfig(t, ctx, dev.config, dev.typ, certID, "")

			for range 2 { // the first deployment replaces the device's own certificate, the second certctl's
				job := r.renew(t, ctx, certID, 90*time.Second)
				require.Equal(t, "Completed", string(job.Status), "last error: %s\nagent log:\n%s", job.LastError, r.agent.LogTail(40))
				v := validationOf(t, job)
				assert.Equal(t, true, v["valid"], v["message"])
				assert.Equal(t, "api", v["method"], "no endpoint configured: the device's answer is the validation")
				latest := r.latestVersion(t, ctx, certID)
				assert.Equal(t, latest.SerialNumber, serialOf(dev.current(t)), "%s uses the latest version", dev.name)
				assert.Equal(t, latest.FingerprintSHA256, fingerprintOf(dev.current(t)))
			}
			good := r.latestVersion(t, ctx, certID)

			dev.refuse(dev.refusal)
			defer dev.refuse("")
			job := r.renew(t, ctx, certID, 90*time.Second)
			require.Equal(t, "Failed", string(job.Status), "agent log:\n%s", r.agent.LogTail(40))
			assert.Contains(t, job.LastError, dev.words, "the job carries the device's own message")
			renewed := r.latestVersion(t, ctx, certID)
			require.NotEqual(t, good.SerialNumber, renewed.SerialNumber, "the renewal issued a version that was not deployed")
			assert.Equal(t, good.SerialNumber, serialOf(dev.current(t)), "%s still uses the previous certificate", dev.name)
			assert.Equal(t, good.FingerprintSHA256, fingerprintOf(dev.current(t)))
		})
	}

	// The targets as an admin sees them show "********" for the passwords;
	// sent back as shown, the stored passwords are kept and still work.
	var shown [][]byte
	for _, certID := range []string{"mc-f5", "mc-iis"} {
		tgt, err := r.api.GetTarget(ctx, "tgt-"+certID)
		require.NoError(t, err)
		var cfg map[string]any
		require.NoError(t, json.Unmarshal(tgt.Config, &cfg))
		assert.Contains(t, []any{cfg["password"], cfg["winrm_password"]}, "********", "config shown: %s", tgt.Config)
		updated, err := r.api.UpdateTarget(ctx, tgt.ID, *tgt)
		require.NoError(t, err)
		raw, err := json.Marshal(updated)
		require.NoError(t, err)
		shown = append(shown, raw)
		job := r.renew(t, ctx, certID, 90*time.Second)
		require.Equal(t, "Completed", string(job.Status), "after an update with the placeholder; last error: %s\nagent log:\n%s", job.LastError, r.agent.LogTail(40))
	}
	assertTargetPasswordsNowhere(t, ctx, r, shown, f5test.Password, iistest.Password)

	// Moved to another agent with the placeholder, a target loses its
	// password, and the answer says so: it is never carried to that agent.
	other, err := r.api.RegisterAgent(ctx, "proxy-other", "proxy-other.example.com")
	require.NoError(t, err)
	tgt, err := r.api.GetTarget(ctx, "tgt-mc-f5")
	require.NoError(t, err)
	tgt.AgentID = other.ID
	moved, err := r.api.UpdateTarget(ctx, tgt.ID, *tgt)
	require.NoError(t, err)
	assert.Equal(t, []string{"password"}, moved.SecretsCleared)
	var movedConfig map[string]any
	require.NoError(t, json.Unmarshal(moved.Config, &movedConfig))
	assert.Equal(t, "", movedConfig["password"])
	assert.Empty(t, bigip.Violations(), "the agent spoke iControl REST as F5 documents it")
	assert.Empty(t, iisHost.Violations(), "the agent spoke WS-Management as Microsoft documents it")
	assertAgentKeysNowhere(t, ctx, r)
}

// serialOf is c's serial in the form of certificate versions.
func serialOf(c *x509.Certificate) string { return hex.EncodeToString(c.SerialNumber.Bytes()) }

// fingerprintOf is the hex SHA-256 of c's DER.
func fingerprintOf(c *x509.Certificate) string {
	sum := sha256.Sum256(c.Raw)
	return hex.EncodeToString(sum[:])
}

// assertTargetPasswordsNowhere checks that no byte sequence of passwords
// is in any node's files (state, raft log, snapshots) or log, and that
// none is in an answer an admin gets that shows targets (answers holds
// more such answers), where the sealed form is not shown either. The
// state holds them sealed.
func assertTargetPasswordsNowhere(t *testing.T, ctx context.Context, r *agentRig, answers [][]byte, passwords ...string) {
	t.Helper()
	sealed := 0
	searched, err := r.c.NodeFiles(true, func(p string, data []byte) {
		if bytes.Contains(data, []byte(keywrap.FieldPrefix)) {
			sealed++
		}
		for _, pw := range passwords {
			assert.False(t, bytes.Contains(data, []byte(pw)), "%s holds the target password %q", p, pw)
		}
	})
	require.NoError(t, err)
	assert.GreaterOrEqual(t, searched, 9, "every node's state file, raft log and log were searched")
	assert.Positive(t, sealed, "the passwords are stored sealed")

	paths := []string{"/api/v1/targets?per_page=500", "/api/v1/targets/tgt-mc-f5", "/api/v1/targets/tgt-mc-iis",
		"/api/v1/agents/" + r.reg.ID + "/work", "/api/v1/audit?per_page=500", "/api/v1/jobs?per_page=500"}
	for _, path := range paths {
		for _, n := range r.c.Nodes() {
			var raw json.RawMessage
			require.NoError(t, r.c.Client().GetJSON(ctx, n.URL(), path, "", &raw), path)
			answers = append(answers, raw)
		}
	}
	for _, a := range answers {
		assert.NotContains(t, string(a), "sealed:", "an answer to the admin shows no sealed blob")
		for _, pw := range passwords {
			assert.False(t, bytes.Contains(a, []byte(pw)), "an answer to the admin holds the target password %q", pw)
		}
	}
}
