package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/pflag"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A flag beats the environment, which beats the file, which beats the default.
func TestServerConfig_Precedence(t *testing.T) {
	file := filepath.Join(t.TempDir(), "certctl.yaml")
	require.NoError(t, os.WriteFile(file, []byte("job_processor_spec: \"@every 10s\"\nagent_health_spec: \"@every 5m\"\nnotification_spec: \"@every 3m\"\n"), 0o600))
	cfg := defaultServerConfig()
	require.NoError(t, cfg.loadFile(file))
	require.NoError(t, cfg.applyEnv(func(k string) string {
		return map[string]string{"CERTCTL_AGENT_HEALTH_SPEC": "@every 7m", "CERTCTL_NOTIFICATION_SPEC": "@every 4m"}[k]
	}))
	fs := pflag.NewFlagSet("server", pflag.ContinueOnError)
	given := defaultServerConfig()
	bindFlags(fs, &given)
	require.NoError(t, fs.Parse([]string{"--notification-spec", "@every 5m"}))
	cfg.applyFlags(fs, &given)
	assert.Equal(t, "@every 1h", cfg.RenewalCheckSpec, "default")
	assert.Equal(t, "@every 10s", cfg.JobProcessorSpec, "file")
	assert.Equal(t, "@every 7m", cfg.AgentHealthSpec, "environment over file")
	assert.Equal(t, "@every 5m", cfg.NotifySpec, "flag over environment")
	require.NoError(t, cfg.validate())
}

func TestServerConfig_RefusesABadLoopSpec(t *testing.T) {
	cfg := defaultServerConfig()
	cfg.RenewalCheckSpec = "every hour"
	err := cfg.validate()
	require.Error(t, err)
	assert.Contains(t, err.Error(), "--renewal-check-spec")
}

func TestServerConfig_AgentOfflineAfterMissedHeartbeats(t *testing.T) {
	cfg := defaultServerConfig()
	d, err := cfg.agentOfflineAfter()
	require.NoError(t, err)
	assert.Equal(t, "3m0s", d.String(), "three missed heartbeats of 60 s by default")
	cfg.AgentHeartbeatInterval, cfg.AgentMissedHeartbeats = "30s", 5
	d, err = cfg.agentOfflineAfter()
	require.NoError(t, err)
	assert.Equal(t, "2m30s", d.String())
	cfg.AgentMissedHeartbeats = 0
	assert.ErrorContains(t, cfg.validate(), "--agent-missed-heartbeats")
	cfg.AgentMissedHeartbeats, cfg.AgentHeartbeatInterval = 3, "soon"
	assert.ErrorContains(t, cfg.validate(), "--agent-heartbeat-interval")
}

// --dev has no authentication: from the flag, the file or the environment, it
// refuses any address but loopback, and says why.
func TestServerConfig_DevRefusesNonLoopback(t *testing.T) {
	devFile := filepath.Join(t.TempDir(), "certctl.yaml")
	require.NoError(t, os.WriteFile(devFile, []byte("dev: true\napi_addr: 10.0.0.1:8443\n"), 0o600))
	cases := []struct {
		name  string
		setup func(t *testing.T, cfg *serverConfig)
		flag  string
	}{
		{"flag with api-addr 0.0.0.0", func(t *testing.T, cfg *serverConfig) {
			cfg.Dev, cfg.APIAddr = true, "0.0.0.0:8443"
		}, "--api-addr"},
		{"flag with an empty host", func(t *testing.T, cfg *serverConfig) {
			cfg.Dev, cfg.APIAddr = true, ":8443"
		}, "--api-addr"},
		{"flag with a routable raft-addr", func(t *testing.T, cfg *serverConfig) {
			cfg.Dev, cfg.RaftAddr = true, "192.168.1.5:8300"
		}, "--raft-addr"},
		{"flag with a host name", func(t *testing.T, cfg *serverConfig) {
			cfg.Dev, cfg.APIAddr = true, "certctl.example.com:8443"
		}, "--api-addr"},
		{"flag with an advertise-addr", func(t *testing.T, cfg *serverConfig) {
			cfg.Dev, cfg.Advertise = true, "[2001:db8::1]:8300"
		}, "--advertise-addr"},
		{"dev: true in the file", func(t *testing.T, cfg *serverConfig) {
			require.NoError(t, cfg.loadFile(devFile))
		}, "--api-addr"},
		{"CERTCTL_DEV", func(t *testing.T, cfg *serverConfig) {
			require.NoError(t, cfg.applyEnv(func(k string) string {
				return map[string]string{"CERTCTL_DEV": "true", "CERTCTL_API_ADDR": "0.0.0.0:8443"}[k]
			}))
		}, "--api-addr"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := defaultServerConfig()
			tc.setup(t, &cfg)
			err := cfg.validateFor()
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.flag)
			assert.Contains(t, err.Error(), "no authentication")
			assert.Contains(t, err.Error(), "loopback only")
		})
	}

	for _, addr := range []string{"127.0.0.1:8443", "127.0.0.2:0", "[::1]:8443", "localhost:8443"} {
		cfg := defaultServerConfig()
		cfg.Dev, cfg.APIAddr = true, addr
		assert.NoError(t, cfg.validateFor(), addr)
	}
	cfg := defaultServerConfig()
	cfg.APIAddr, cfg.RaftAddr = "0.0.0.0:8443", "10.0.0.1:8300"
	assert.NoError(t, cfg.validateFor(), "without --dev any address is allowed")
}

func TestReadAdminKey_RefusesShortKeys(t *testing.T) {
	dir := t.TempDir()
	short := filepath.Join(dir, "short.key")
	require.NoError(t, os.WriteFile(short, []byte("  "+strings.Repeat("k", 31)+"\n"), 0o600))
	_, err := readAdminKey(short)
	require.Error(t, err)
	var ue usageError
	assert.ErrorAs(t, err, &ue)
	assert.Contains(t, err.Error(), "holds 31 characters")
	assert.Contains(t, err.Error(), "at least 32")
	assert.Contains(t, err.Error(), "openssl rand -base64 32")

	ok := filepath.Join(dir, "ok.key")
	require.NoError(t, os.WriteFile(ok, []byte(strings.Repeat("k", 32)+"\n"), 0o600))
	secret, err := readAdminKey(ok)
	require.NoError(t, err)
	assert.Equal(t, strings.Repeat("k", 32), secret)

	_, err = readAdminKey(filepath.Join(dir, "missing.key"))
	assert.ErrorContains(t, err, "admin key file")
}

// Scheduled snapshots: off by default and with snapshot_interval 0 (as the
// shipped config has it), on with an interval and a directory, from the
// file, the environment or flags; a bad value names the key and the fix.
func TestServerConfig_ScheduledSnapshots(t *testing.T) {
	cfg := defaultServerConfig()
	sc, err := cfg.snapshotSchedule()
	require.NoError(t, err)
	assert.Zero(t, sc.Interval, "off by default")

	file := filepath.Join(t.TempDir(), "certctl.yaml")
	require.NoError(t, os.WriteFile(file, []byte("snapshot_interval: 0\nsnapshot_dir: \"\"\nsnapshot_retain: 7\n"), 0o600))
	require.NoError(t, cfg.loadFile(file))
	require.NoError(t, cfg.validate())
	sc, _ = cfg.snapshotSchedule()
	assert.Zero(t, sc.Interval, "0 is off")

	require.NoError(t, os.WriteFile(file, []byte("snapshot_interval: 6h\nsnapshot_dir: /var/lib/certctl/snapshots\n"), 0o600))
	require.NoError(t, cfg.loadFile(file))
	require.NoError(t, cfg.applyEnv(func(k string) string { return map[string]string{"CERTCTL_SNAPSHOT_RETAIN": "3"}[k] }))
	require.NoError(t, cfg.validate())
	sc, err = cfg.snapshotSchedule()
	require.NoError(t, err)
	assert.Equal(t, "6h0m0s", sc.Interval.String())
	assert.Equal(t, "/var/lib/certctl/snapshots", sc.Dir)
	assert.Equal(t, 3, sc.Retain)

	fs := pflag.NewFlagSet("server", pflag.ContinueOnError)
	given := defaultServerConfig()
	bindFlags(fs, &given)
	require.NoError(t, fs.Parse([]string{"--snapshot-retain", "12"}))
	cfg.applyFlags(fs, &given)
	assert.Equal(t, 12, cfg.SnapshotRetain)

	for _, tt := range []struct {
		set  func(c *serverConfig)
		want string
	}{
		{func(c *serverConfig) { c.SnapshotInterval = "six hours" }, "--snapshot-interval \"six hours\" is not a duration"},
		{func(c *serverConfig) { c.SnapshotInterval = "10s" }, "--snapshot-interval 10s is too short"},
		{func(c *serverConfig) { c.SnapshotDir = "" }, "--snapshot-dir is required"},
		{func(c *serverConfig) { c.SnapshotDir = "snaps" }, "--snapshot-dir \"snaps\" must be an absolute path"},
		{func(c *serverConfig) { c.SnapshotRetain = 0 }, "--snapshot-retain 0 must be 1 or more"},
	} {
		c := cfg
		tt.set(&c)
		assert.ErrorContains(t, c.validate(), tt.want)
	}
	assert.ErrorContains(t, cfg.applyEnv(func(k string) string { return map[string]string{"CERTCTL_SNAPSHOT_RETAIN": "many"}[k] }),
		"CERTCTL_SNAPSHOT_RETAIN=\"many\" is not a whole number")
}
