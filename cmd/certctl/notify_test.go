package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	require.NoError(t, os.WriteFile(p, []byte(content), 0o600))
	return p
}

func TestConfig_NotifiersFromFile(t *testing.T) {
	dir := t.TempDir()
	pw := writeFile(t, dir, "smtp-password", "hunter2\n")
	secret := writeFile(t, dir, "webhook-secret", "s3cret\n")
	path := writeFile(t, dir, "certctl.yaml", `
data_dir: /var/lib/certctl
notify_email:
  smtp_host: mail.example.org
  smtp_port: 465
  username: certctl
  password_file: `+pw+`
  from_address: certctl@example.org
  tls: implicit
  link_base_url: https://certctl.example/certificates
notify_webhook:
  url: https://hooks.example.org/certctl
  secret_file: `+secret+`
  headers:
    X-Team: pki
`)
	cfg := defaultServerConfig()
	require.NoError(t, cfg.loadFile(path))
	require.NotNil(t, cfg.NotifyEmail)
	assert.Equal(t, 465, cfg.NotifyEmail.SMTPPort)
	assert.Equal(t, map[string]string{"X-Team": "pki"}, cfg.NotifyWebhook.Headers)
	require.NoError(t, cfg.validate())
	reg, err := cfg.notifiers()
	require.NoError(t, err)
	assert.Equal(t, []string{"Email", "Webhook"}, reg.Channels())
}

func TestConfig_NotifiersErrors(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct{ name, yaml, want string }{
		{"inline password refused", "notify_email:\n  smtp_host: mail\n  from_address: a@example.org\n  password: x\n", "field password not found"},
		{"missing password file", "notify_email:\n  smtp_host: mail\n  from_address: a@example.org\n  username: u\n  password_file: " + filepath.Join(dir, "none") + "\n", "notify_email.password_file"},
		{"bad email config", "notify_email:\n  smtp_host: mail\n", "from_address"},
		{"bad webhook url", "notify_webhook:\n  url: ftp://x/y\n", "notify_webhook"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := defaultServerConfig()
			err := cfg.loadFile(writeFile(t, dir, strings.ReplaceAll(tc.name, " ", "-")+".yaml", tc.yaml))
			if err == nil {
				err = cfg.validate()
			}
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
}

func TestConfig_NotifiersAreFileOnly(t *testing.T) {
	cmd := newServerCommand()
	assert.Nil(t, cmd.Flags().Lookup("notify-email"))
	assert.Nil(t, cmd.Flags().Lookup("notify-webhook"))
	assert.Contains(t, cmd.Long, "notify_email")
	assert.Contains(t, cmd.Long, "notify_webhook")
}
