package webserver_test

import (
	"context"
	"encoding/json"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/certctl/certctl/connectors/target"
	"github.com/certctl/certctl/connectors/target/webserver"
)

// permissive are the options of an agent whose operator allowed the
// directories and commands of the configs below, the kinds' defaults
// among them.
var permissive = target.HostOptions{
	AllowedDirs: []string{"/etc/nginx/ssl", "/etc/apache2/ssl", "/etc/haproxy/certs", "/srv"},
	Runner: &target.Runner{Allowed: []string{"nginx -t", "nginx -s reload", "apachectl configtest", "apachectl graceful",
		"haproxy -c -f /etc/haproxy/haproxy.cfg", "systemctl reload haproxy", "systemctl reload nginx", "/usr/sbin/nginx -t -q",
		"docker restart app"}},
}

func TestConfig_Accepted(t *testing.T) {
	o := permissive
	for _, tc := range []struct {
		conn   *webserver.Connector
		config string
	}{
		{webserver.NewNGINX(o), `{"cert_path":"/etc/nginx/ssl/www.crt","key_path":"/etc/nginx/ssl/www.key"}`},
		{webserver.NewNGINX(o), `{"cert_path":"/etc/nginx/ssl/www.crt","key_path":"/etc/nginx/ssl/www.key","chain_path":"/etc/nginx/ssl/chain.crt",
			"reload_command":"systemctl reload nginx","validate_command":"/usr/sbin/nginx -t -q","owner":"root","group":"ssl-cert",
			"cert_mode":"0644","key_mode":"0640","endpoint":"www.example.com:443","server_name":"www.example.com"}`},
		{webserver.NewApache(o), `{"cert_path":"/etc/apache2/ssl/www.crt","key_path":"/etc/apache2/ssl/www.key","chain_path":"/etc/apache2/ssl/chain.crt"}`},
		{webserver.NewHAProxy(o), `{"pem_path":"/etc/haproxy/certs/www.pem","endpoint":"[::1]:8443"}`},
		{webserver.NewFiles(o), `{"fullchain_path":"/srv/app/tls/fullchain.pem"}`},
		{webserver.NewFiles(o), `{"cert_path":"/srv/a/c.pem","key_path":"/srv/a/k.pem","chain_path":"/srv/a/ch.pem","fullchain_path":"/srv/a/f.pem","reload_command":"docker restart app","owner":"1000","group":"1000"}`},
	} {
		assert.NoError(t, tc.conn.ValidateConfig(context.Background(), json.RawMessage(tc.config)), "%s %s", tc.conn.Type(), tc.config)
	}
}

func TestConfig_Refused(t *testing.T) {
	const nginxOK = `"cert_path":"/etc/nginx/ssl/www.crt","key_path":"/etc/nginx/ssl/www.key"`
	o := permissive
	o.ProtectedDirs = []string{"/var/lib/certctl"}
	for _, tc := range []struct {
		conn          *webserver.Connector
		config        string
		field, reason string
	}{
		{webserver.NewNGINX(o), ``, "config", "need a config with cert_path and key_path"},
		{webserver.NewNGINX(o), `[1]`, "config", "not a JSON object"},
		{webserver.NewNGINX(o), `{` + nginxOK + `,"pem_path":"/etc/nginx/ssl/x.pem","sni":"x"}`, "pem_path, sni", "not a field of NGINX targets"},
		{webserver.NewHAProxy(o), `{"pem_path":"/etc/haproxy/certs/a.pem","cert_path":"/etc/haproxy/certs/b.pem"}`, "cert_path", "not a field of HAProxy targets, which take pem_path"},
		{webserver.NewApache(o), `{"cert_path":"/etc/nginx/ssl/www.crt","key_path":"/etc/nginx/ssl/www.key","fullchain_path":"/srv/x"}`, "fullchain_path", "not a field"},
		{webserver.NewNGINX(o), `{"cert_path":"/etc/nginx/ssl/www.crt"}`, "key_path", "need the path"},
		{webserver.NewApache(o), `{"key_path":"/etc/nginx/ssl/www.key"}`, "cert_path", "need the path"},
		{webserver.NewHAProxy(o), `{}`, "pem_path", "crt"},
		{webserver.NewFiles(o), `{"reload_command":"true"}`, "cert_path", "at least one of"},
		{webserver.NewNGINX(o), `{"cert_path":"/etc/nginx/ssl/www.crt","key_path":"/etc/nginx/ssl/www.crt"}`, "cert_path", "is also key_path"},
		{webserver.NewFiles(o), `{"key_path":"/srv/../var/lib/certctl/keys/k.pem"}`, "key_path", `contains ".."`},
		{webserver.NewFiles(target.HostOptions{ProtectedDirs: o.ProtectedDirs}), `{"key_path":"/var/lib/certctl/keys/k.pem"}`, "key_path", "own keys and state"},
		{webserver.NewNGINX(o), `{` + nginxOK + `,"cert_mode":644}`, "cert_mode", "want a string"},
		{webserver.NewNGINX(o), `{` + nginxOK + `,"cert_mode":"rw-r--r--"}`, "cert_mode", "octal"},
		{webserver.NewNGINX(o), `{` + nginxOK + `,"key_mode":"0644"}`, "key_mode", "every user of the host"},
		{webserver.NewHAProxy(o), `{"pem_path":"/etc/haproxy/certs/a.pem","key_mode":"0604"}`, "key_mode", "every user"},
		{webserver.NewNGINX(o), `{` + nginxOK + `,"owner":"www data"}`, "owner", "not a user name"},
		{webserver.NewNGINX(o), `{` + nginxOK + `,"group":"a:b"}`, "group", "not a group name"},
		{webserver.NewNGINX(o), `{` + nginxOK + `,"endpoint":"www.example.com"}`, "endpoint", "host:port"},
		{webserver.NewNGINX(o), `{` + nginxOK + `,"endpoint":"www.example.com:https"}`, "endpoint", "host:port"},
		{webserver.NewNGINX(o), `{` + nginxOK + `,"server_name":"a b"}`, "server_name", "not a host name"},
		{webserver.NewNGINX(o), `{` + nginxOK + `,"reload_command":"nginx -s reload | tee /tmp/x"}`, "reload_command", "'|'"},
		{webserver.NewNGINX(o), `{` + nginxOK + `,"validate_command":"nginx -t\nreboot"}`, "validate_command", "newline"},
	} {
		err := tc.conn.ValidateConfig(context.Background(), json.RawMessage(tc.config))
		var cerr *target.ConfigError
		require.ErrorAs(t, err, &cerr, "%s %s", tc.conn.Type(), tc.config)
		assert.ErrorIs(t, err, target.ErrInvalidConfig)
		assert.Equal(t, tc.field, cerr.Field, tc.config)
		assert.Contains(t, cerr.Reason, tc.reason, tc.config)
	}
}

// TestConfig_RefusedByAllowLists: a path outside allowed_dirs, a command
// that no line of allowed_commands matches whole (the kind's default
// commands included), and anything at all when the lists are empty, are
// refused with the setting to change and the value to add.
func TestConfig_RefusedByAllowLists(t *testing.T) {
	const nginxOK = `"cert_path":"/etc/nginx/ssl/www.crt","key_path":"/etc/nginx/ssl/www.key"`
	nginxOnly := target.HostOptions{AllowedDirs: []string{"/etc/nginx/ssl"},
		Runner: &target.Runner{Allowed: []string{"/usr/sbin/nginx -t", "nginx -s reload", "/usr/bin/openssl x509 -noout -in {cert_path}"}}}
	for _, tc := range []struct {
		o                   target.HostOptions
		kind                func(target.HostOptions) *webserver.Connector
		config              string
		field, setting, add string
	}{
		{target.HostOptions{}, webserver.NewFiles, `{"cert_path":"/srv/app/cert.pem"}`, "cert_path", "allowed_dirs", "/srv/app"},
		{target.HostOptions{AllowedDirs: []string{"/srv"}}, webserver.NewFiles, `{"cert_path":"/srv/app/cert.pem","reload_command":"true"}`, "reload_command", "allowed_commands", "true"},
		{nginxOnly, webserver.NewNGINX, `{"cert_path":"/etc/passwd","key_path":"/etc/nginx/ssl/www.key"}`, "cert_path", "allowed_dirs", "/etc"},
		{nginxOnly, webserver.NewNGINX, `{"cert_path":"/etc/nginx/ssl/www.crt","key_path":"/etc/nginx/ssl/sub/www.key"}`, "", "", ""},
		// The kinds' defaults are commands like any other.
		{nginxOnly, webserver.NewApache, `{"cert_path":"/etc/nginx/ssl/www.crt","key_path":"/etc/nginx/ssl/www.key"}`, "validate_command", "allowed_commands", "apachectl configtest"},
		// Same program, other arguments.
		{nginxOnly, webserver.NewNGINX, `{` + nginxOK + `,"reload_command":"nginx -s stop"}`, "reload_command", "allowed_commands", "nginx -s stop"},
		{nginxOnly, webserver.NewNGINX, `{` + nginxOK + `,"validate_command":"/usr/sbin/nginx -t -c /tmp/evil.conf"}`, "validate_command", "allowed_commands", "/usr/sbin/nginx -t -c /tmp/evil.conf"},
		// A placeholder stands for the target's own path only.
		{nginxOnly, webserver.NewNGINX, `{` + nginxOK + `,"validate_command":"/usr/bin/openssl x509 -noout -in /etc/nginx/ssl/www.crt"}`, "", "", ""},
		{nginxOnly, webserver.NewNGINX, `{` + nginxOK + `,"validate_command":"/usr/bin/openssl x509 -noout -in /etc/nginx/ssl/www.key"}`, "validate_command", "allowed_commands", "/usr/bin/openssl x509 -noout -in /etc/nginx/ssl/www.key"},
	} {
		err := tc.kind(tc.o).ValidateConfig(context.Background(), json.RawMessage(tc.config))
		if tc.field == "" {
			assert.NoError(t, err, tc.config)
			continue
		}
		var nerr *target.NotAllowedError
		require.ErrorAs(t, err, &nerr, tc.config)
		assert.ErrorIs(t, err, target.ErrNotAllowed)
		assert.Equal(t, tc.field, nerr.Field, tc.config)
		assert.Equal(t, tc.setting, nerr.Setting, tc.config)
		assert.Equal(t, tc.add, nerr.Add, tc.config)
		assert.Contains(t, err.Error(), "add "+strconv.Quote(tc.add)+" to "+tc.setting, tc.config)
	}
}

func TestConnector_Type(t *testing.T) {
	o := target.HostOptions{}
	assert.Equal(t, "NGINX", webserver.NewNGINX(o).Type())
	assert.Equal(t, "Apache", webserver.NewApache(o).Type())
	assert.Equal(t, "HAProxy", webserver.NewHAProxy(o).Type())
	assert.Equal(t, "Files", webserver.NewFiles(o).Type())
}
