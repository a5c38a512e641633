package f5_test

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/certctl/certctl/connectors/target"
	"github.com/certctl/certctl/connectors/target/f5"
	"github.com/certctl/certctl/connectors/target/f5/f5test"
	"github.com/certctl/certctl/connectors/target/targettest"
)

// deployment deploys c with cfg to the test's target.
func deployment(t *testing.T, cfg json.RawMessage, c targettest.Issued) target.DeploymentRequest {
	t.Helper()
	return targettest.Deployment(t, "tg-f5", cfg, c)
}

func TestF5_DeploySwitchesProfile(t *testing.T) {
	dev := f5test.StartBIGIP(t)
	c := targettest.Issue(t, "www.example.com", 0x1a2b)
	endpoint := targettest.ServeTLS(t, c)
	req := deployment(t, dev.Config(`,"endpoint":"`+endpoint+`","server_name":"www.example.com"`), c)
	conn := f5.New(f5.Options{ChunkSize: 200, ProbeWait: 5 * time.Second}) // small chunks: every PEM takes several requests

	res, err := conn.DeployCertificate(targettest.Context(t), req)
	require.NoError(t, err)

	want := []f5test.Entry{{Name: "default", Cert: "/Common/certctl_mc-www_1a2b.crt", Key: "/Common/certctl_mc-www_1a2b.key", Chain: "/Common/certctl_mc-www_1a2b_chain.crt"}}
	assert.Equal(t, want, dev.Profile("~Common~clientssl-www"))
	st := dev.State()
	assert.Equal(t, c.CertPEM, st.Certs[want[0].Cert])
	assert.Equal(t, c.KeyPEM, st.Keys[want[0].Key], "the device holds the agent's key")
	assert.Equal(t, c.ChainPEM, st.Certs[want[0].Chain])
	assert.Contains(t, st.Certs, "/Common/default.crt", "the previous objects stay for rollback")
	assert.Empty(t, st.Uploads, "uploaded files, the key above all, are removed from the downloads folder")
	assert.Len(t, st.Removed, 3)
	assert.Equal(t, 1, st.Saves, "the configuration is saved")
	assert.Empty(t, st.Tokens, "the token is given back")

	assert.Equal(t, want[0].Cert, res.Details["cert"])
	assert.Equal(t, "/Common/default.crt", res.Details["previous_cert"])
	assert.Equal(t, c.Fingerprint, res.Details["fingerprint_sha256"])
	require.Len(t, res.Files, 1)
	assert.FileExists(t, res.Files[0])
	out, err := json.Marshal(res)
	require.NoError(t, err)
	assert.NotContains(t, string(out), "PRIVATE KEY")
	assert.NotContains(t, string(out), strings.Split(c.KeyPEM, "\n")[1], "no key material in the result")

	v, err := conn.ValidateDeployment(targettest.Context(t), targettest.Validation(req))
	require.NoError(t, err)
	assert.True(t, v.Valid, v.Message)
	assert.Equal(t, "tls", v.Method, "with an endpoint, the handshake has the last word")
	assert.Equal(t, c.Fingerprint, v.ServedFingerprint)

	noEndpoint := deployment(t, dev.Config(""), c)
	v, err = conn.ValidateDeployment(targettest.Context(t), targettest.Validation(noEndpoint))
	require.NoError(t, err)
	assert.True(t, v.Valid, v.Message)
	assert.Equal(t, "api", v.Method)
}

func TestF5_RedeployReusesObjectsAndKeepsFirstState(t *testing.T) {
	dev := f5test.StartBIGIP(t)
	c := targettest.Issue(t, "www.example.com", 0x55)
	req := deployment(t, dev.Config(""), c)
	req.ChainPEM = ""
	conn := f5.New(f5.Options{})
	_, err := conn.DeployCertificate(targettest.Context(t), req)
	require.NoError(t, err)
	// A retry after, say, a lost answer: the objects exist and the profile
	// already uses them; the kept state must still be the original one.
	_, err = conn.DeployCertificate(targettest.Context(t), req)
	require.NoError(t, err)
	assert.Equal(t, []f5test.Entry{{Name: "default", Cert: "/Common/certctl_mc-www_55.crt", Key: "/Common/certctl_mc-www_55.key"}}, dev.Profile("~Common~clientssl-www"))

	rb, err := conn.Rollback(targettest.Context(t), targettest.Rollback(req))
	require.NoError(t, err)
	assert.Contains(t, rb.Message, "/Common/default.crt")
	assert.Equal(t, []f5test.Entry{{Name: "default", Cert: "/Common/default.crt", Key: "/Common/default.key"}}, dev.Profile("~Common~clientssl-www"))
}

func TestF5_DualCertificateProfileKeepsOtherKeyType(t *testing.T) {
	dev := f5test.StartBIGIP(t)
	dev.AddDualProfile(t)
	c := targettest.Issue(t, "www.example.com", 0xec)
	req := deployment(t, dev.Config(""), c)
	req.Config = json.RawMessage(strings.Replace(string(req.Config), "clientssl-www", "dual", 1))
	conn := f5.New(f5.Options{})

	res, err := conn.DeployCertificate(targettest.Context(t), req)
	require.NoError(t, err)
	assert.Equal(t, []f5test.Entry{
		{Name: "rsa", Cert: "/Common/rsa.crt", Key: "/Common/rsa.key"},
		{Name: "ecdsa", Cert: "/Common/certctl_mc-www_ec.crt", Key: "/Common/certctl_mc-www_ec.key", Chain: "/Common/certctl_mc-www_ec_chain.crt"},
	}, dev.Profile("~Common~dual"), "the ECDSA entry is replaced, the RSA one kept")
	assert.Equal(t, "/Common/default.crt", res.Details["previous_cert"])

	v, err := conn.ValidateDeployment(targettest.Context(t), targettest.Validation(req))
	require.NoError(t, err)
	assert.True(t, v.Valid, v.Message)

	_, err = conn.Rollback(targettest.Context(t), target.RollbackRequest{Config: req.Config, StateDir: req.StateDir})
	require.NoError(t, err)
	assert.Equal(t, []f5test.Entry{
		{Name: "rsa", Cert: "/Common/rsa.crt", Key: "/Common/rsa.key"},
		{Name: "ecdsa", Cert: "/Common/default.crt", Key: "/Common/default.key"},
	}, dev.Profile("~Common~dual"))
}

func TestF5_CommitRefusedLeavesProfile(t *testing.T) {
	dev := f5test.StartBIGIP(t)
	dev.RefuseCommit("01071ac2:3: Profile (/Common/clientssl-www) is in use by a virtual server with an incompatible cipher group")
	c := targettest.Issue(t, "www.example.com", 0x99)
	req := deployment(t, dev.Config(""), c)
	conn := f5.New(f5.Options{})

	_, err := conn.DeployCertificate(targettest.Context(t), req)
	require.Error(t, err)
	assert.ErrorContains(t, err, "01071ac2:3: Profile (/Common/clientssl-www) is in use")
	assert.ErrorContains(t, err, "commit transaction")
	var ae *f5.APIError
	require.ErrorAs(t, err, &ae)
	assert.Equal(t, 400, ae.Status)
	assert.Equal(t, []f5test.Entry{{Name: "default", Cert: "/Common/default.crt", Key: "/Common/default.key"}}, dev.Profile("~Common~clientssl-www"), "nothing switched")
	st := dev.State()
	assert.Empty(t, st.Uploads, "the uploads are removed on failure too")
	assert.Zero(t, st.Saves)

	v, err := conn.ValidateDeployment(targettest.Context(t), targettest.Validation(req))
	require.NoError(t, err)
	assert.False(t, v.Valid)
	assert.Contains(t, v.Message, "/Common/default.crt")
}

func TestF5_SaveRefusedSwitchesBack(t *testing.T) {
	dev := f5test.StartBIGIP(t)
	dev.RefuseSave("01070711:3: Caught configuration exception (disk full)")
	c := targettest.Issue(t, "www.example.com", 0x77)
	req := deployment(t, dev.Config(""), c)
	_, err := f5.New(f5.Options{}).DeployCertificate(targettest.Context(t), req)
	assert.ErrorContains(t, err, "save the configuration")
	assert.ErrorContains(t, err, "disk full")
	assert.Equal(t, []f5test.Entry{{Name: "default", Cert: "/Common/default.crt", Key: "/Common/default.key"}}, dev.Profile("~Common~clientssl-www"))
}

func TestF5_Rollback(t *testing.T) {
	dev := f5test.StartBIGIP(t)
	c := targettest.Issue(t, "www.example.com", 0x1234)
	req := deployment(t, dev.Config(""), c)
	conn := f5.New(f5.Options{})
	rreq := targettest.Rollback(req)

	rb, err := conn.Rollback(targettest.Context(t), rreq)
	require.NoError(t, err)
	assert.Contains(t, rb.Message, "nothing to roll back", "before any deployment StateDir is empty")
	assert.Zero(t, dev.State().Requests, "a no-op rollback does not contact the device")

	_, err = conn.DeployCertificate(targettest.Context(t), req)
	require.NoError(t, err)
	require.NotEqual(t, "/Common/default.crt", dev.Profile("~Common~clientssl-www")[0].Cert)

	for range 2 { // idempotent
		_, err = conn.Rollback(targettest.Context(t), rreq)
		require.NoError(t, err)
		assert.Equal(t, []f5test.Entry{{Name: "default", Cert: "/Common/default.crt", Key: "/Common/default.key"}}, dev.Profile("~Common~clientssl-www"))
	}
	assert.Equal(t, 3, dev.State().Saves)

	other := dev.Config(`,"partition":"Other"`)
	_, err = conn.Rollback(targettest.Context(t), target.RollbackRequest{Config: other, StateDir: req.StateDir})
	assert.ErrorContains(t, err, "restore it by hand", "state kept for one profile is never applied to another")
}

func TestF5_MismatchedKeyRefusedBeforeAnyRequest(t *testing.T) {
	dev := f5test.StartBIGIP(t)
	c := targettest.Issue(t, "www.example.com", 0x10)
	other := targettest.Issue(t, "www.example.com", 0x11)
	req := deployment(t, dev.Config(""), c)
	req.KeyPath = other.KeyPath

	_, err := f5.New(f5.Options{}).DeployCertificate(targettest.Context(t), req)
	require.ErrorIs(t, err, target.ErrKeyMismatch)
	assert.ErrorContains(t, err, other.KeyPath)
	assert.NotContains(t, err.Error(), strings.Split(other.KeyPEM, "\n")[1])
	assert.Zero(t, dev.State().Requests)
	entries, err := os.ReadDir(req.StateDir)
	require.NoError(t, err)
	assert.Empty(t, entries)
}

func TestF5_WrongPassword(t *testing.T) {
	dev := f5test.StartBIGIP(t)
	c := targettest.Issue(t, "www.example.com", 0x10)
	req := deployment(t, dev.Config(""), c)
	dev.SetPassword("rotated")
	_, err := f5.New(f5.Options{}).DeployCertificate(targettest.Context(t), req)
	assert.ErrorContains(t, err, `login as "admin" refused: check username and password`)
	assert.NotContains(t, err.Error(), "s3cret!")
}

func TestF5_UnknownProfile(t *testing.T) {
	dev := f5test.StartBIGIP(t)
	c := targettest.Issue(t, "www.example.com", 0x10)
	req := deployment(t, dev.Config(""), c)
	req.Config = json.RawMessage(strings.Replace(string(req.Config), "clientssl-www", "clientssl-typo", 1))
	_, err := f5.New(f5.Options{}).DeployCertificate(targettest.Context(t), req)
	assert.ErrorContains(t, err, "client-ssl profile /Common/clientssl-typo does not exist")
}

func TestF5_UntrustedManagementCertificate(t *testing.T) {
	dev := f5test.StartBIGIP(t)
	c := targettest.Issue(t, "www.example.com", 0x10)
	req := deployment(t, dev.Config(""), c)
	var cfg map[string]any
	require.NoError(t, json.Unmarshal(req.Config, &cfg))
	delete(cfg, "ca_file")
	req.Config, _ = json.Marshal(cfg)
	_, err := f5.New(f5.Options{}).DeployCertificate(targettest.Context(t), req)
	var verr *tls.CertificateVerificationError
	assert.True(t, errors.As(err, &verr), "without ca_file the host's roots do not trust the device: %v", err)
	assert.Zero(t, dev.State().Requests, "nothing, the password above all, is sent to an unverified device")
}

func TestF5_ValidateConfig(t *testing.T) {
	ca := filepath.Join(t.TempDir(), "ca.pem")
	require.NoError(t, os.WriteFile(ca, []byte(targettest.Issue(t, "ca", 1).ChainPEM), 0o600))
	notPEM := filepath.Join(t.TempDir(), "x.txt")
	require.NoError(t, os.WriteFile(notPEM, []byte("hello"), 0o600))
	base := `"host":"bigip.example","username":"u","password":"p","ssl_profile":"clientssl"`
	for _, tc := range []struct{ name, config, field string }{
		{"unknown field", `{` + base + `,"sslprofile":"x"}`, "sslprofile"},
		{"wrong type", `{` + base + `,"port":"443"}`, "port"},
		{"no host", `{"username":"u","password":"p","ssl_profile":"c"}`, "host"},
		{"url as host", `{"host":"https://bigip/","username":"u","password":"p","ssl_profile":"c"}`, "host"},
		{"bad port", `{` + base + `,"port":70000}`, "port"},
		{"no password", `{"host":"h","username":"u","ssl_profile":"c"}`, "password"},
		{"no profile", `{"host":"h","username":"u","password":"p"}`, "ssl_profile"},
		{"profile with partition", `{"host":"h","username":"u","password":"p","ssl_profile":"/Common/c"}`, "ssl_profile"},
		{"profile with tilde", `{"host":"h","username":"u","password":"p","ssl_profile":"a~b"}`, "ssl_profile"},
		{"bad partition", `{` + base + `,"partition":"Com mon"}`, "partition"},
		{"both trust settings", `{` + base + `,"ca_file":"` + ca + `","insecure_skip_verify":true}`, "insecure_skip_verify"},
		{"missing ca file", `{` + base + `,"ca_file":"/nonexistent/ca.pem"}`, "ca_file"},
		{"ca file without PEM", `{` + base + `,"ca_file":"` + notPEM + `"}`, "ca_file"},
		{"endpoint without port", `{` + base + `,"endpoint":"www.example.com"}`, "endpoint"},
		{"server_name alone", `{` + base + `,"server_name":"www.example.com"}`, "server_name"},
		{"not an object", `[1]`, "config"},
		{"trailing data", `{` + base + `}{}`, "config"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := f5.New(f5.Options{}).ValidateConfig(context.Background(), json.RawMessage(tc.config))
			var ce *target.ConfigError
			require.ErrorAs(t, err, &ce)
			assert.Equal(t, tc.field, ce.Field, err.Error())
			assert.ErrorIs(t, err, target.ErrInvalidConfig)
			assert.NotContains(t, err.Error(), `"p"`, "never repeat the password")
		})
	}
	cfg, err := f5.ParseConfig(json.RawMessage(`{` + base + `,"ca_file":"` + ca + `","endpoint":"10.0.0.5:443","server_name":"www.example.com"}`))
	require.NoError(t, err)
	assert.Equal(t, 443, cfg.Port)
	assert.Equal(t, "Common", cfg.Partition)
	assert.NoError(t, f5.New(f5.Options{}).ValidateConfig(context.Background(), json.RawMessage(`{`+base+`,"insecure_skip_verify":true,"port":8443}`)))
	assert.NoError(t, f5.New(f5.Options{}).ValidateConfig(context.Background(), json.RawMessage(`{"host":"2001:db8::1","username":"u","password":"p","ssl_profile":"c"}`)))
}
