package target_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"encoding/pem"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/certctl/certctl/connectors/target"
)

func TestDecodeConfig(t *testing.T) {
	type config struct {
		Host string `json:"host"`
		Port int    `json:"port"`
	}
	var c config
	require.NoError(t, target.DecodeConfig(json.RawMessage(`{"host":"h","port":8443}`), &c, []string{"host", "port"}))
	assert.Equal(t, config{"h", 8443}, c)

	for _, tc := range []struct {
		name, raw, field, reason string
	}{
		{"unknown field", `{"hots":"h"}`, "hots", "unknown field: check its spelling (host, port)"},
		{"wrong type", `{"port":"443"}`, "port", "must be a JSON int, not string"},
		{"not an object", `[1]`, "config", "not a JSON object"},
		{"trailing data", `{"host":"h"} {}`, "config", "trailing data after the JSON object"},
	} {
		var c config
		err := target.DecodeConfig(json.RawMessage(tc.raw), &c, []string{"host", "port"})
		var cerr *target.ConfigError
		require.ErrorAs(t, err, &cerr, tc.name)
		assert.Equal(t, tc.field, cerr.Field, tc.name)
		assert.Contains(t, cerr.Reason, tc.reason, tc.name)
	}
}

func TestLoadRoots(t *testing.T) {
	dir := t.TempDir()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	ca := filepath.Join(dir, "ca.pem")
	require.NoError(t, os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: selfSigned(t, key).Raw}), 0o600))
	pool, err := target.LoadRoots("ca_file", ca)
	require.NoError(t, err)
	assert.NotNil(t, pool)

	notPEM := filepath.Join(dir, "x.txt")
	require.NoError(t, os.WriteFile(notPEM, []byte("hello"), 0o600))
	for path, reason := range map[string]string{notPEM: "holds no PEM certificate", filepath.Join(dir, "missing"): "no such file"} {
		_, err := target.LoadRoots("ca_file", path)
		var cerr *target.ConfigError
		require.ErrorAs(t, err, &cerr, path)
		assert.Equal(t, "ca_file", cerr.Field)
		assert.Contains(t, cerr.Reason, reason)
	}
}
