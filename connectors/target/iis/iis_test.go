package iis_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/certctl/certctl/connectors/target"
	"github.com/certctl/certctl/connectors/target/iis"
	"github.com/certctl/certctl/connectors/target/iis/iistest"
	"github.com/certctl/certctl/connectors/target/targettest"
)

// deployment deploys c with cfg to the test's target.
func deployment(t *testing.T, cfg json.RawMessage, c targettest.Issued) target.DeploymentRequest {
	t.Helper()
	return targettest.Deployment(t, "tg-iis", cfg, c)
}

func TestIIS_DeployBindsCertificate(t *testing.T) {
	host := iistest.StartHost(t)
	c := targettest.Issue(t, "www.example.com", 0x42)
	endpoint := targettest.ServeTLS(t, c)
	req := deployment(t, host.Config("Default Web Site", `,"endpoint":"`+endpoint+`","server_name":"www.example.com"`), c)
	// A longer chain makes a PKCS#12 that one command line cannot carry.
	for i := range 3 {
		req.ChainPEM += targettest.Issue(t, "ca", int64(i)+2).ChainPEM
	}
	conn := iis.New(iis.Options{ProbeWait: 5 * time.Second})
	old := host.Bound("Default Web Site", "*:443:www.example.com")

	res, err := conn.DeployCertificate(targettest.Context(t), req)
	require.NoError(t, err)

	assert.Equal(t, iistest.Thumbprint(c.Cert), host.Bound("Default Web Site", "*:443:www.example.com"))
	st := host.State()
	assert.Equal(t, c.Cert.Raw, st.Stores["My"][iistest.Thumbprint(c.Cert)].Raw, "the deployed certificate is in LocalMachine\\My")
	assert.True(t, st.Keys[iistest.Thumbprint(c.Cert)], "with its private key")
	assert.NotNil(t, st.Stores["My"][old], "the previous certificate stays for rollback")
	assert.Greater(t, strings.Count(strings.Join(st.Scripts, " "), "upload"), 1, "the PKCS#12 travels in several commands")
	assert.Equal(t, []string{"query", "deploy"}, without(st.Scripts, "upload"))

	assert.Equal(t, iistest.Thumbprint(c.Cert), res.Details["thumbprint"])
	assert.Equal(t, old, res.Details["previous_thumbprint"])
	require.Len(t, res.Files, 1)
	assert.FileExists(t, res.Files[0])
	out, err := json.Marshal(res)
	require.NoError(t, err)
	assert.NotContains(t, string(out), "PRIVATE KEY")
	assert.NotContains(t, string(out), strings.Split(c.KeyPEM, "\n")[1])

	v, err := conn.ValidateDeployment(targettest.Context(t), targettest.Validation(req))
	require.NoError(t, err)
	assert.True(t, v.Valid, v.Message)
	assert.Equal(t, "tls", v.Method)

	v, err = conn.ValidateDeployment(targettest.Context(t), targettest.Validation(deployment(t, host.Config("Default Web Site", ""), c)))
	require.NoError(t, err)
	assert.True(t, v.Valid, v.Message)
	assert.Equal(t, "api", v.Method)
	assert.Equal(t, c.Fingerprint, v.ServedFingerprint)
}

func without(kinds []string, drop string) []string {
	var out []string
	for _, k := range kinds {
		if k != drop {
			out = append(out, k)
		}
	}
	return out
}

func TestIIS_FailingScriptCarriesStderr(t *testing.T) {
	host := iistest.StartHost(t)
	host.FailDeploy("certctl: Import-PfxCertificate : The data is invalid. (Exception from HRESULT: 0x8007000D)")
	c := targettest.Issue(t, "www.example.com", 0x43)
	req := deployment(t, host.Config("Default Web Site", ""), c)
	old := host.Bound("Default Web Site", "*:443:www.example.com")

	_, err := iis.New(iis.Options{}).DeployCertificate(targettest.Context(t), req)
	require.Error(t, err)
	assert.ErrorIs(t, err, target.ErrCommand)
	assert.ErrorContains(t, err, "exit status 1")
	assert.ErrorContains(t, err, "The data is invalid. (Exception from HRESULT: 0x8007000D)")
	assert.ErrorContains(t, err, `import into Cert:\LocalMachine\My and bind to *:443:www.example.com of site "Default Web Site"`)
	var ee *iis.ExitError
	require.ErrorAs(t, err, &ee)
	assert.Equal(t, 1, ee.Code)
	assert.Equal(t, old, host.Bound("Default Web Site", "*:443:www.example.com"), "nothing rebound")
}

func TestIIS_MissingBinding(t *testing.T) {
	host := iistest.StartHost(t)
	c := targettest.Issue(t, "www.example.com", 0x44)
	req := deployment(t, host.Config("Intranet", ""), c)
	_, err := iis.New(iis.Options{}).DeployCertificate(targettest.Context(t), req)
	assert.ErrorContains(t, err, "site 'Intranet' has no https binding '*:443:www.example.com': add it in IIS Manager first")
	entries, err := os.ReadDir(req.StateDir)
	require.NoError(t, err)
	assert.Empty(t, entries, "nothing kept when nothing could change")
}

func TestIIS_Rollback(t *testing.T) {
	host := iistest.StartHost(t)
	c := targettest.Issue(t, "www.example.com", 0x45)
	req := deployment(t, host.Config("Default Web Site", ""), c)
	conn := iis.New(iis.Options{})
	old := host.Bound("Default Web Site", "*:443:www.example.com")

	rb, err := conn.Rollback(targettest.Context(t), targettest.Rollback(req))
	require.NoError(t, err)
	assert.Contains(t, rb.Message, "nothing to roll back")
	assert.Zero(t, host.State().Requests, "a no-op rollback does not contact the host")

	_, err = conn.DeployCertificate(targettest.Context(t), req)
	require.NoError(t, err)
	require.Equal(t, iistest.Thumbprint(c.Cert), host.Bound("Default Web Site", "*:443:www.example.com"))
	// A retry of the same deployment keeps the first attempt's state.
	_, err = conn.DeployCertificate(targettest.Context(t), req)
	require.NoError(t, err)

	for range 2 { // idempotent
		rb, err = conn.Rollback(targettest.Context(t), targettest.Rollback(req))
		require.NoError(t, err)
		assert.Contains(t, rb.Message, old)
		assert.Equal(t, old, host.Bound("Default Web Site", "*:443:www.example.com"))
	}
	v, err := conn.ValidateDeployment(targettest.Context(t), targettest.Validation(req))
	require.NoError(t, err)
	assert.False(t, v.Valid)
	assert.Contains(t, v.Message, old)

	other := host.Config("Other Site", "")
	_, err = conn.Rollback(targettest.Context(t), target.RollbackRequest{Config: other, StateDir: req.StateDir})
	assert.ErrorContains(t, err, "restore it by hand")
}

func TestIIS_HostileSiteNameIsQuoted(t *testing.T) {
	host := iistest.StartHost(t)
	// Quotes of every kind PowerShell honours, a subexpression and a
	// statement separator: all must reach IIS as the literal name.
	site := "Shop'; Remove-Item -Recurse C:\\ ; '\u2019$(calc)\u2018\u201a\u201b\"x\""
	host.AddBinding(site, "*:443:www.example.com", host.Bound("Default Web Site", "*:443:www.example.com"))
	c := targettest.Issue(t, "www.example.com", 0x46)
	req := deployment(t, host.Config(site, ""), c)

	_, err := iis.New(iis.Options{}).DeployCertificate(targettest.Context(t), req)
	require.NoError(t, err)
	assert.Equal(t, iistest.Thumbprint(c.Cert), host.Bound(site, "*:443:www.example.com"))
	assert.NotEqual(t, iistest.Thumbprint(c.Cert), host.Bound("Default Web Site", "*:443:www.example.com"))
	_, err = iis.New(iis.Options{}).Rollback(targettest.Context(t), targettest.Rollback(req))
	require.NoError(t, err)
	assert.NotEqual(t, iistest.Thumbprint(c.Cert), host.Bound(site, "*:443:www.example.com"))
}

func TestIIS_ControlCharactersRefused(t *testing.T) {
	host := iistest.StartHost(t)
	c := targettest.Issue(t, "www.example.com", 0x47)
	for _, site := range []string{"Default Web Site\n'; calc; '", "Site\r", "Site\u2028x", "Site\x00"} {
		req := deployment(t, host.Config(site, ""), c)
		_, err := iis.New(iis.Options{}).DeployCertificate(targettest.Context(t), req)
		var ce *target.ConfigError
		require.ErrorAs(t, err, &ce, "%q", site)
		assert.Equal(t, "site_name", ce.Field)
	}
	assert.Zero(t, host.State().Requests)
}

func TestIIS_MismatchedKeyRefusedBeforeAnyRequest(t *testing.T) {
	host := iistest.StartHost(t)
	c := targettest.Issue(t, "www.example.com", 0x48)
	other := targettest.Issue(t, "www.example.com", 0x49)
	req := deployment(t, host.Config("Default Web Site", ""), c)
	req.KeyPath = other.KeyPath
	_, err := iis.New(iis.Options{}).DeployCertificate(targettest.Context(t), req)
	require.ErrorIs(t, err, target.ErrKeyMismatch)
	assert.NotContains(t, err.Error(), strings.Split(other.KeyPEM, "\n")[1])
	assert.Zero(t, host.State().Requests)
}

func TestIIS_WrongPassword(t *testing.T) {
	host := iistest.StartHost(t)
	c := targettest.Issue(t, "www.example.com", 0x4a)
	req := deployment(t, host.Config("Default Web Site", ""), c)
	host.SetPassword("rotated")
	_, err := iis.New(iis.Options{}).DeployCertificate(targettest.Context(t), req)
	var fe *iis.FaultError
	require.ErrorAs(t, err, &fe)
	assert.Equal(t, 401, fe.Status)
	assert.ErrorContains(t, err, "check winrm_username and winrm_password")
	assert.NotContains(t, err.Error(), "p@ss'word")
}

func TestIIS_LegacyPFX(t *testing.T) {
	host := iistest.StartHost(t)
	c := targettest.Issue(t, "www.example.com", 0x4b)
	req := deployment(t, host.Config("Default Web Site", `,"pfx_encryption":"3des"`), c)
	_, err := iis.New(iis.Options{}).DeployCertificate(targettest.Context(t), req)
	require.NoError(t, err)
	assert.Equal(t, iistest.Thumbprint(c.Cert), host.Bound("Default Web Site", "*:443:www.example.com"))
}

func TestIIS_ValidateConfig(t *testing.T) {
	ca := filepath.Join(t.TempDir(), "ca.pem")
	require.NoError(t, os.WriteFile(ca, []byte(targettest.Issue(t, "ca", 1).ChainPEM), 0o600))
	base := `"hostname":"web01","site_name":"Default Web Site","binding_info":"*:443:www.example.com","winrm_username":"u","winrm_password":"p","winrm_https":true`
	for _, tc := range []struct{ name, config, field string }{
		{"unknown field", `{` + base + `,"winrm_pasword":"x"}`, "winrm_pasword"},
		{"wrong type", `{` + base + `,"winrm_port":"5986"}`, "winrm_port"},
		{"no host", `{"site_name":"s","binding_info":"*:443:","winrm_username":"u","winrm_password":"p","winrm_https":true}`, "hostname"},
		{"url as winrm host", `{` + base + `,"winrm_host":"https://web01/wsman"}`, "winrm_host"},
		{"no site", `{"hostname":"h","binding_info":"*:443:","winrm_username":"u","winrm_password":"p","winrm_https":true}`, "site_name"},
		{"newline in site", `{"hostname":"h","site_name":"a\nb","binding_info":"*:443:","winrm_username":"u","winrm_password":"p","winrm_https":true}`, "site_name"},
		{"no binding", `{"hostname":"h","site_name":"s","winrm_username":"u","winrm_password":"p","winrm_https":true}`, "binding_info"},
		{"binding without port", `{"hostname":"h","site_name":"s","binding_info":"*:www","winrm_username":"u","winrm_password":"p","winrm_https":true}`, "binding_info"},
		{"binding bad ip", `{"hostname":"h","site_name":"s","binding_info":"10.0.0:443:","winrm_username":"u","winrm_password":"p","winrm_https":true}`, "binding_info"},
		{"binding bad host", `{"hostname":"h","site_name":"s","binding_info":"*:443:www example","winrm_username":"u","winrm_password":"p","winrm_https":true}`, "binding_info"},
		{"binding quote", `{"hostname":"h","site_name":"s","binding_info":"*:443:a'b","winrm_username":"u","winrm_password":"p","winrm_https":true}`, "binding_info"},
		{"bad store", `{` + base + `,"cert_store":"My'"}`, "cert_store"},
		{"no user", `{"hostname":"h","site_name":"s","binding_info":"*:443:","winrm_password":"p","winrm_https":true}`, "winrm_username"},
		{"no password", `{"hostname":"h","site_name":"s","binding_info":"*:443:","winrm_username":"u","winrm_https":true}`, "winrm_password"},
		{"plain http", `{"hostname":"h","site_name":"s","binding_info":"*:443:","winrm_username":"u","winrm_password":"p"}`, "winrm_https"},
		{"both trust settings", `{` + base + `,"winrm_ca_file":"` + ca + `","winrm_insecure_skip_verify":true}`, "winrm_insecure_skip_verify"},
		{"missing ca", `{` + base + `,"winrm_ca_file":"/nonexistent"}`, "winrm_ca_file"},
		{"endpoint without port", `{` + base + `,"endpoint":"www.example.com"}`, "endpoint"},
		{"server_name alone", `{` + base + `,"server_name":"www.example.com"}`, "server_name"},
		{"pfx encryption", `{` + base + `,"pfx_encryption":"rc2"}`, "pfx_encryption"},
		{"trailing data", `{` + base + `} x`, "config"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := iis.New(iis.Options{}).ValidateConfig(context.Background(), json.RawMessage(tc.config))
			var ce *target.ConfigError
			require.ErrorAs(t, err, &ce)
			assert.Equal(t, tc.field, ce.Field, err.Error())
			assert.ErrorIs(t, err, target.ErrInvalidConfig)
		})
	}
	cfg, err := iis.ParseConfig(json.RawMessage(`{` + base + `}`))
	require.NoError(t, err)
	assert.Equal(t, "My", cfg.CertStore)
	assert.Equal(t, 5986, cfg.WinRMPort)
	assert.Equal(t, "web01", cfg.WinRMHost)
	for _, b := range []string{"*:443:", "10.0.0.5:8443:shop.example.com", "[2001:db8::1]:443:www.example.com", "*:443:*.example.com"} {
		assert.NoError(t, iis.New(iis.Options{}).ValidateConfig(context.Background(),
			json.RawMessage(`{"hostname":"h","site_name":"s","binding_info":"`+b+`","winrm_username":"u","winrm_password":"p","winrm_https":true}`)), b)
	}
}
