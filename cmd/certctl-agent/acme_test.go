package main

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The ACME HTTP-01 settings: a webroot only inside allowed_dirs, an
// address that is one, a poll of at least 500ms; each mistake named.
func TestConfig_ACMESettingsChecked(t *testing.T) {
	cfg, _, err := loadConfig(fullConfig(t, "-allowed-dirs", "/var/www", "-acme-webroot", "/var/www/html",
		"-acme-http-addr", ":80", "-acme-poll-interval", "1s"), env(nil), &bytes.Buffer{})
	require.NoError(t, err)
	s, err := cfg.check()
	require.NoError(t, err)
	assert.Equal(t, time.Second, s.acmePoll)
	assert.Equal(t, "/var/www/html", s.ACMEWebroot)

	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-acme-webroot", "/var/www/html"}, `acme_webroot "/var/www/html" must be inside one of allowed_dirs`},
		{[]string{"-allowed-dirs", "/var/www", "-acme-webroot", "/var/wwwx"}, `acme_webroot "/var/wwwx" must be inside one of allowed_dirs`},
		{[]string{"-allowed-dirs", "/var/www", "-acme-webroot", "/var/www/../../etc"}, `acme_webroot "/var/www/../../etc" must be an absolute directory`},
		{[]string{"-acme-http-addr", "80"}, `acme_http_addr "80" must be host:port`},
		{[]string{"-acme-http-addr", ":80", "-acme-poll-interval", "10ms"}, `acme_poll_interval "10ms" must be a duration of at least 500ms`},
	} {
		var stdout, stderr bytes.Buffer
		code := run(context.Background(), fullConfig(t, tc.args...), env(nil), 1000, &stdout, &stderr)
		assert.Equal(t, exitConfig, code, "%v", tc.args)
		assert.Contains(t, stderr.String(), tc.want, "%v", tc.args)
	}
}
