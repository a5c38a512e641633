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
	everywhere := []string{"/"}
	protected := []string{"/var/lib/certctl/keys", "/var/lib/certctl/state"}
	for _, tc := range []struct {
		path    string
		allowed []string
		want    string // "" = accepted; otherwise part of the reason
	}{
		{"/etc/nginx/ssl/www.pem", allowed, ""},
		{"/etc/haproxy/certs/site.pem", allowed, ""},
		{"/etc/nginx/ssl/sub/dir/www.pem", allowed, ""},
		{"/anywhere/www.pem", everywhere, ""},
		{"", everywhere, "a path is required"},
		{"etc/nginx/ssl/www.pem", everywhere, "relative"},
		{"www.pem", everywhere, "relative"},
		{"/etc/nginx/ssl/", everywhere, "names a directory"},
		{"/etc/nginx/ssl/.", everywhere, "names a directory"},
		{"/etc/nginx/ssl/../../shadow", everywhere, `contains ".."`},
		{"/etc/nginx/ssl/..", everywhere, `contains ".."`},
		{"/../etc/passwd", everywhere, `contains ".."`},
		{"/etc/nginx/ssl/../../../etc/passwd", allowed, `contains ".."`},
		{"/etc/nginx//ssl/www.pem", everywhere, `write it as "/etc/nginx/ssl/www.pem"`},
		{"/etc/nginx/./ssl/www.pem", everywhere, "clean form"},
		{"/etc/nginx/ssl/www\x00.pem", everywhere, "NUL"},
		{"/var/lib/certctl/keys/mc-1.key", everywhere, "keeps its own keys and state"},
		{"/var/lib/certctl/state", everywhere, "keeps its own keys and state"},
		{"/var/lib/certctl/state/job/backup.json", everywhere, "keeps its own keys and state"},
		{"/var/lib/certctl/keys.pem", everywhere, ""},
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

// TestCheckPath_OutsideAllowedDirs: a path outside allowed_dirs, or any
// path when allowed_dirs is empty, is refused with the setting to change
// and the directory that would permit it.
func TestCheckPath_OutsideAllowedDirs(t *testing.T) {
	allowed := []string{"/etc/nginx/ssl", "/etc/haproxy/certs/"}
	for _, tc := range []struct {
		path    string
		allowed []string
		add     string
		want    string
	}{
		{"/anywhere/www.pem", nil, "/anywhere", "allowed_dirs, which is empty, so this agent writes nowhere but its own key and state directories"},
		{"/etc/nginx/ssl/www.pem", nil, "/etc/nginx/ssl", "which is empty"},
		{"/etc/nginx/sslx/www.pem", allowed, "/etc/nginx/sslx", "outside every directory of allowed_dirs (/etc/nginx/ssl, /etc/haproxy/certs/)"},
		{"/etc/nginx/ssl", allowed, "/etc/nginx", "outside every directory"},
		{"/etc/passwd", allowed, "/etc", "outside every directory"},
	} {
		err := target.CheckPath("cert_path", tc.path, tc.allowed, nil)
		var nerr *target.NotAllowedError
		require.ErrorAs(t, err, &nerr, "%q", tc.path)
		assert.ErrorIs(t, err, target.ErrNotAllowed)
		assert.ErrorIs(t, err, target.ErrInvalidConfig, "unusable on this agent")
		assert.Equal(t, "cert_path", nerr.Field)
		assert.Equal(t, "allowed_dirs", nerr.Setting)
		assert.Equal(t, tc.add, nerr.Add)
		assert.Contains(t, err.Error(), tc.want)
		assert.Contains(t, err.Error(), `cert_path "`+tc.path+`" is not allowed on this agent`)
		assert.Contains(t, err.Error(), `add "`+tc.add+`" to allowed_dirs`)
		require.NoError(t, target.CheckPath("cert_path", tc.path, append(tc.allowed, nerr.Add), nil), "the value it names permits the path")
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
	var nerr *target.NotAllowedError
	require.ErrorAs(t, err, &nerr)
	assert.Equal(t, filepath.Join(root, "www.pem"), nerr.Resolved)
	assert.Equal(t, root, nerr.Add, "the directory the link leads to")
	assert.ErrorContains(t, err, "it leads to")

	// An allowed directory that is itself a link still allows its files.
	link := filepath.Join(root, "ssl-link")
	require.NoError(t, os.Symlink(allowed, link))
	assert.NoError(t, target.CheckPathOnDisk("cert_path", filepath.Join(link, "www.pem"), []string{link}, []string{keys}))
}
