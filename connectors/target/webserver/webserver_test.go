package webserver_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/certctl/certctl/connectors/target"
	"github.com/certctl/certctl/connectors/target/webserver"
)

// deploy deploys l with the key at keyPath and requires it to succeed.
func (s *server) deploy(t *testing.T, p *pki, l leaf, keyPath string) target.DeploymentRequest {
	t.Helper()
	req := p.request(t, s.Config, l, keyPath)
	res, err := s.conn.DeployCertificate(context.Background(), req)
	require.NoError(t, err)
	assert.Contains(t, res.Files, s.LeafFile)
	assert.Contains(t, res.Output, "reload_command")
	return req
}

func (s *server) validate(t *testing.T, l leaf) *target.ValidationResult {
	t.Helper()
	return validate(t, s.conn, s.Config, l)
}

func validate(t *testing.T, conn *webserver.Connector, config map[string]string, l leaf) *target.ValidationResult {
	t.Helper()
	res, err := conn.ValidateDeployment(context.Background(), target.ValidationRequest{TargetID: "t-1",
		Config: rawConfig(t, config), CommonName: commonName, FingerprintSHA256: l.fp})
	require.NoError(t, err)
	return res
}

// assertFiles checks that the server's files hold l and the key at keyPath.
func (s *server) assertFiles(t *testing.T, p *pki, l leaf, keyPath string) {
	t.Helper()
	data, err := os.ReadFile(s.LeafFile)
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(string(data), l.pem+p.chainPEM), "%s starts with the leaf, then the chain", s.LeafFile)
	key, err := os.ReadFile(s.KeyFile)
	require.NoError(t, err)
	assert.Contains(t, string(key), readKey(t, keyPath))
}

func forEachServer(t *testing.T, test func(t *testing.T, p *pki, s *server)) {
	p := newPKI(t)
	for _, srv := range servers {
		t.Run(srv.name, func(t *testing.T) {
			t.Parallel()
			test(t, p, srv.run(t, p))
		})
	}
}

func TestServer_DeployIsServed(t *testing.T) {
	forEachServer(t, func(t *testing.T, p *pki, s *server) {
		s.deploy(t, p, p.a, p.keyAPath)
		res := s.validate(t, p.a)
		assert.True(t, res.Valid, res.Message)
		assert.Equal(t, "tls", res.Method)
		assert.Equal(t, p.a.fp, res.ServedFingerprint)
		s.assertFiles(t, p, p.a, p.keyAPath)

		// Another key: the server must pick up both new files together.
		s.deploy(t, p, p.b, p.keyBPath)
		res = s.validate(t, p.b)
		assert.True(t, res.Valid, res.Message)
		assert.Equal(t, p.b.fp, res.ServedFingerprint)
		assert.Equal(t, commonName, res.ServerName, "SNI defaults to the common name")
		s.assertFiles(t, p, p.b, p.keyBPath)

		key, err := os.Stat(s.KeyFile)
		require.NoError(t, err)
		assert.Equal(t, os.FileMode(0o600), key.Mode().Perm())
	})
}

func TestServer_RefusedValidationRestores(t *testing.T) {
	forEachServer(t, func(t *testing.T, p *pki, s *server) {
		s.deploy(t, p, p.a, p.keyAPath)
		s.WaitServing(t, p.a.fp)

		req := p.request(t, with(s.Config, "validate_command", s.BrokenValidate), p.b, p.keyBPath)
		_, err := s.conn.DeployCertificate(context.Background(), req)
		var cerr *target.CommandError
		require.ErrorAs(t, err, &cerr)
		assert.Equal(t, "validate_command", cerr.Field)
		assert.Contains(t, err.Error(), s.Refusal, "the server's complaint is in the error")
		assert.Contains(t, err.Error(), "previous files are restored")

		s.assertFiles(t, p, p.a, p.keyAPath)
		s.WaitServing(t, p.a.fp)
		res := validate(t, s.impatient, s.Config, p.b)
		assert.False(t, res.Valid)
		assert.Equal(t, p.a.fp, res.ServedFingerprint)
	})
}

func TestServer_RollbackRestoresPrevious(t *testing.T) {
	forEachServer(t, func(t *testing.T, p *pki, s *server) {
		s.deploy(t, p, p.a, p.keyAPath)
		s.WaitServing(t, p.a.fp)
		req := s.deploy(t, p, p.b, p.keyBPath)
		s.WaitServing(t, p.b.fp)

		rb := target.RollbackRequest{TargetID: "t-1", Config: req.Config, CertificateID: "mc-1", StateDir: req.StateDir}
		res, err := s.conn.Rollback(context.Background(), rb)
		require.NoError(t, err)
		assert.Contains(t, res.Files, s.LeafFile)
		assert.Contains(t, res.Message, "reloaded")
		s.assertFiles(t, p, p.a, p.keyAPath)
		s.WaitServing(t, p.a.fp)

		_, err = s.conn.Rollback(context.Background(), rb)
		require.NoError(t, err, "rolling back twice is rolling back once")
		s.WaitServing(t, p.a.fp)

		res, err = s.conn.Rollback(context.Background(), target.RollbackRequest{Config: req.Config, StateDir: t.TempDir()})
		require.NoError(t, err)
		assert.Contains(t, res.Message, "nothing to roll back")
	})
}

func TestServer_KeyMismatchWritesNothing(t *testing.T) {
	forEachServer(t, func(t *testing.T, p *pki, s *server) {
		s.deploy(t, p, p.a, p.keyAPath)
		before, err := os.ReadFile(s.LeafFile)
		require.NoError(t, err)

		req := p.request(t, s.Config, p.b, p.keyAPath) // B's certificate, A's key
		_, err = s.conn.DeployCertificate(context.Background(), req)
		require.ErrorIs(t, err, target.ErrKeyMismatch)
		assert.Contains(t, err.Error(), "certificate "+p.b.fp)
		assert.Contains(t, err.Error(), "does not match the local key at "+p.keyAPath)
		assert.NotContains(t, err.Error(), "PRIVATE KEY")

		after, err := os.ReadFile(s.LeafFile)
		require.NoError(t, err)
		assert.Equal(t, before, after)
		assert.NoDirExists(t, req.StateDir, "refused before the backup")
		s.WaitServing(t, p.a.fp)
	})
}

func TestServer_RefusesUnsafeConfig(t *testing.T) {
	forEachServer(t, func(t *testing.T, p *pki, s *server) {
		s.deploy(t, p, p.a, p.keyAPath)
		before, err := os.ReadFile(s.LeafFile)
		require.NoError(t, err)
		pathField := "cert_path"
		if _, ok := s.Config["pem_path"]; ok {
			pathField = "pem_path"
		}
		for _, tc := range []struct {
			field, value, reason string
		}{
			{"reload_command", s.Config["reload_command"] + "; rm -rf /", "without a shell"},
			{"reload_command", s.Config["reload_command"] + " && touch /tmp/pwned", "without a shell"},
			{"validate_command", "$(id)", "without a shell"},
			{pathField, filepath.Join(s.Dir, "ssl") + "/../../../etc/cron.d/x", `contains ".."`},
			{pathField, "ssl/cert.pem", "relative"},
		} {
			config := with(s.Config, tc.field, tc.value)
			err := s.conn.ValidateConfig(context.Background(), rawConfig(t, config))
			var cerr *target.ConfigError
			require.ErrorAs(t, err, &cerr, "%s=%q", tc.field, tc.value)
			assert.Equal(t, tc.field, cerr.Field)
			assert.Contains(t, cerr.Reason, tc.reason)

			req := p.request(t, config, p.b, p.keyBPath)
			_, err = s.conn.DeployCertificate(context.Background(), req)
			require.ErrorAs(t, err, &cerr)
			assert.Equal(t, tc.field, cerr.Field)
			assert.NoDirExists(t, req.StateDir)
		}
		after, err := os.ReadFile(s.LeafFile)
		require.NoError(t, err)
		assert.Equal(t, before, after)
		s.WaitServing(t, p.a.fp)
	})
}

// TestServer_RefusedByAllowLists: against the real server, a reload
// command that the allow-list does not hold whole (the server's own
// program with arguments that would stop it) and a path outside
// allowed_dirs fail before anything is written or run: the files are as
// they were and the server still serves the deployed certificate.
func TestServer_RefusedByAllowLists(t *testing.T) {
	forEachServer(t, func(t *testing.T, p *pki, s *server) {
		s.deploy(t, p, p.a, p.keyAPath)
		s.WaitServing(t, p.a.fp)
		before, err := os.ReadFile(s.LeafFile)
		require.NoError(t, err)
		pathField := "cert_path"
		if _, ok := s.Config["pem_path"]; ok {
			pathField = "pem_path"
		}
		stop := strings.NewReplacer("-s reload", "-s stop", "-k graceful", "-k stop", "-USR2", "-TERM").Replace(s.Config["reload_command"])
		require.NotEqual(t, s.Config["reload_command"], stop)
		elsewhere := t.TempDir()
		for _, tc := range []struct {
			field, value, setting string
		}{
			{"reload_command", stop, "allowed_commands"},
			{pathField, filepath.Join(elsewhere, "cert.pem"), "allowed_dirs"},
		} {
			req := p.request(t, with(s.Config, tc.field, tc.value), p.b, p.keyBPath)
			_, err := s.conn.DeployCertificate(context.Background(), req)
			var nerr *target.NotAllowedError
			require.ErrorAs(t, err, &nerr, "%s=%q", tc.field, tc.value)
			assert.Equal(t, tc.field, nerr.Field)
			assert.Equal(t, tc.setting, nerr.Setting)
			assert.NoDirExists(t, req.StateDir)
		}
		after, err := os.ReadFile(s.LeafFile)
		require.NoError(t, err)
		assert.Equal(t, before, after, "nothing written")
		entries, err := os.ReadDir(elsewhere)
		require.NoError(t, err)
		assert.Empty(t, entries)
		res := validate(t, s.impatient, s.Config, p.a)
		assert.True(t, res.Valid, "the server was not stopped and serves the deployed certificate: %s", res.Message)
	})
}
