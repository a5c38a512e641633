package target_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/certctl/certctl/connectors/target"
)

func TestCheckPath(t *testing.T) {
	allowed := []string{"/etc/nginx/ssl", "/etc/haproxy/certs/"}
	protected := []string{"/var/lib/certctl/keys", "/var/lib/certctl/state"}
	for _, tc := range []struct {
		path    string
		allowed []string
		want    string // "" = accepted; otherwise part of the reason
	}{
		{"/etc/nginx/ssl/www.pem", allowed, ""},
		{"/etc/haproxy/certs/site.pem", allowed, ""},
		{"/etc/nginx/ssl/sub/dir/www.pem", allowed, ""},
		{"/anywhere/www.pem", nil, ""},
		{"", nil, "a path is required"},
		{"etc/nginx/ssl/www.pem", nil, "relative"},
		{"www.pem", nil, "relative"},
		{"/etc/nginx/ssl/", nil, "names a directory"},
		{"/etc/nginx/ssl/.", nil, "names a directory"},
		{"/etc/nginx/ssl/../../shadow", nil, `contains ".."`},
		{"/etc/nginx/ssl/..", nil, `contains ".."`},
		{"/../etc/passwd", nil, `contains ".."`},
		{"/etc/nginx/ssl/../../../etc/passwd", allowed, `contains ".."`},
		{"/etc/nginx//ssl/www.pem", nil, `write it as "/etc/nginx/ssl/www.pem"`},
		{"/etc/nginx/./ssl/www.pem", nil, "clean form"},
		{"/etc/nginx/ssl/www\x00.pem", nil, "NUL"},
		{"/etc/nginx/sslx/www.pem", allowed, "outside the directories"},
		{"/etc/nginx/ssl", allowed, "outside the directories"},
		{"/etc/passwd", allowed, "allowed_dirs: /etc/nginx/ssl, /etc/haproxy/certs/"},
		{"/var/lib/certctl/keys/mc-1.key", nil, "keeps its own keys and state"},
		{"/var/lib/certctl/state", nil, "keeps its own keys and state"},
		{"/var/lib/certctl/state/job/backup.json", []string{"/"}, "keeps its own keys and state"},
		{"/var/lib/certctl/keys.pem", nil, ""},
	} {
		err := target.CheckPath("cert_path", tc.path, tc.allowed, protected)
		if tc.want == "" {
			assert.NoError(t, err, "%q", tc.path)
			continue
		}
		var cerr *target.ConfigError
		require.ErrorAs(t, err, &cerr, "%q", tc.path)
		assert.Equal(t, "cert_path", cerr.Field)
		assert.Contains(t, cerr.Reason, tc.want, "%q", tc.path)
	}
}

func TestCheckPathOnDisk_FollowsDirectoryLinks(t *testing.T) {
	root := t.TempDir()
	allowed := filepath.Join(root, "ssl")
	keys := filepath.Join(root, "keys")
	require.NoError(t, os.Mkdir(allowed, 0o755))
	require.NoError(t, os.Mkdir(keys, 0o700))
	require.NoError(t, os.Symlink(keys, filepath.Join(allowed, "sneaky")))
	require.NoError(t, os.Symlink(root, filepath.Join(allowed, "up")))
	require.NoError(t, os.Mkdir(filepath.Join(allowed, "real"), 0o755))

	ok := filepath.Join(allowed, "real", "www.pem")
	require.NoError(t, target.CheckPath("cert_path", ok, []string{allowed}, []string{keys}))
	assert.NoError(t, target.CheckPathOnDisk("cert_path", ok, []string{allowed}, []string{keys}))

	intoKeys := filepath.Join(allowed, "sneaky", "www.pem")
	require.NoError(t, target.CheckPath("cert_path", intoKeys, []string{allowed}, []string{keys}), "the string alone looks fine")
	err := target.CheckPathOnDisk("cert_path", intoKeys, []string{allowed}, []string{keys})
	assert.ErrorContains(t, err, "keeps its own keys")

	out := filepath.Join(allowed, "up", "www.pem")
	err = target.CheckPathOnDisk("cert_path", out, []string{allowed}, nil)
	assert.ErrorContains(t, err, "outside the directories")

	// An allowed directory that is itself a link still allows its files.
	link := filepath.Join(root, "ssl-link")
	require.NoError(t, os.Symlink(allowed, link))
	assert.NoError(t, target.CheckPathOnDisk("cert_path", filepath.Join(link, "www.pem"), []string{link}, []string{keys}))
}
