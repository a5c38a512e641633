package main

import (
	"os"
	"path/filepath"
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
