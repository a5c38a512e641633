package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Bad export command lines are usage errors naming what to fix, and send
// nothing; a DSN's password never shows in a message.
func TestCLI_ExportUsageErrors(t *testing.T) {
	empty := filepath.Join(t.TempDir(), "empty.dsn")
	require.NoError(t, os.WriteFile(empty, []byte("\n"), 0o600))
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no database", []string{"export", "postgres"}, "give the database with --dsn-file FILE"},
		{"both dsn flags", []string{"export", "postgres", "--dsn", "postgres://x@h/db", "--dsn-file", empty}, "give --dsn or --dsn-file, not both"},
		{"empty dsn file", []string{"export", "postgres", "--dsn-file", empty}, "is empty: it should hold one connection string"},
		{"missing dsn file", []string{"export", "postgres", "--dsn-file", "/nonexistent/export.dsn"}, "--dsn-file: open /nonexistent/export.dsn"},
		{"bad dsn", []string{"export", "postgres", "--dsn", "postgres://u:hunter2@h/db?sslmode=bogus"}, "--dsn: cannot parse"},
		{"follow a file", []string{"export", "postgres", "--dsn", "postgres://x@h/db", "--follow", "--state-dir", "/tmp", "--snapshot", "f.snap"}, "--follow reads the cluster, not a --snapshot file"},
		{"follow without state", []string{"export", "postgres", "--dsn", "postgres://x@h/db", "--follow"}, "--follow needs --state-dir DIR"},
		{"sql without out", []string{"export", "sql"}, "give the script's file with --out FILE"},
		{"sql into nowhere", []string{"export", "sql", "--out", "/nonexistent/dir/x.sql"}, "its directory /nonexistent/dir does not exist"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			api := newFakeAPI(t)
			_, _, err := runCLI(t, api, tt.args...)
			require.Error(t, err)
			assert.True(t, isUsage(err), "%v is a usage error", err)
			assert.Contains(t, err.Error(), tt.want)
			assert.NotContains(t, err.Error(), "hunter2")
			assert.Empty(t, api.requests(), "a usage error sends nothing")
		})
	}
}
