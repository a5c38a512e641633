package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/certctl/certctl/internal/pgtest"
	"github.com/certctl/certctl/node/pgimport"
)

// BenchmarkImport measures `certctl import postgres` of a database of the
// original holding N certificates (with their teams, owners, issuers and
// policies) into a one-node cluster over TLS: certificates per second
// through Raft, in batches of 500 rows, each one raft entry. N comes from
// CERTCTL_BENCH_IMPORT_CERTS (default 100000).
//
//	make build
//	CERTCTL_BIN=$PWD/bin/certctl go test -count=1 -run '^$' -bench BenchmarkImport -benchtime=1x -timeout 30m ./e2e/
func BenchmarkImport(b *testing.B) {
	n := 100_000
	if v := os.Getenv("CERTCTL_BENCH_IMPORT_CERTS"); v != "" {
		var err error
		n, err = strconv.Atoi(v)
		require.NoError(b, err, "CERTCTL_BENCH_IMPORT_CERTS")
	}
	b.Run(strconv.Itoa(n), func(b *testing.B) {
		for range b.N {
			benchImport(b, n)
		}
	})
}

func benchImport(b *testing.B, n int) {
	b.StopTimer()
	pg := pgtest.Start(b)
	dsn := pg.CreateDB("bench")
	pg.Psql("bench", "-v", "ON_ERROR_STOP=1", "-q", "-f", filepath.Join("testdata", "original", "schema.sql"))
	pg.Psql("bench", "-v", "ON_ERROR_STOP=1", "-q", "-c", `
INSERT INTO teams (id, name) VALUES ('t-platform', 'Platform');
INSERT INTO owners (id, name, email, team_id) VALUES ('o-alice', 'Alice', 'alice@example.com', 't-platform');
INSERT INTO issuers (id, name, type, config) VALUES ('iss-local', 'Local CA', 'local', '{"validity_days": 90}');
INSERT INTO renewal_policies (id, name, renewal_window_days) VALUES ('rp-standard', 'Standard', 30);
INSERT INTO managed_certificates (id, name, common_name, sans, environment, owner_id, team_id, issuer_id, renewal_policy_id, status, expires_at, tags)
SELECT 'mc-' || lpad(g::text, 7, '0'), 'cert-' || g, 'h' || g || '.example.com', ARRAY['h' || g || '.example.com'], 'production',
       'o-alice', 't-platform', 'iss-local', 'rp-standard', 'active', now() + (g % 90 + 1) * interval '1 day', '{"tier": "bench"}'
FROM generate_series(1, `+strconv.Itoa(n)+`) AS g;`)
	nodeArgs := quietScheduler
	if addr := os.Getenv("CERTCTL_BENCH_IMPORT_PPROF"); addr != "" {
		nodeArgs = func(id string) []string { return append(quietScheduler(id), "--pprof-addr", addr) }
	}
	c := NewCluster(b, certctlBin, WithNodeArgs(nodeArgs))
	c.Start(1)
	leader := c.WaitLeader()

	ctx, cancel := context.WithTimeout(context.Background(), 25*time.Minute)
	defer cancel()
	args := []string{"--server", leader.URL(), "--ca-file", c.CAFile(), "--api-key", AdminKey,
		"-o", "json", "import", "postgres", "--dsn", dsn, "--checkpoint", "", "--batch", benchBatch()}
	cmd := exec.CommandContext(ctx, certctlBin, append(args, benchExtra()...)...)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "CERTCTL_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	b.StartTimer()
	start := time.Now()
	err := cmd.Run()
	took := time.Since(start)
	b.StopTimer()
	require.NoError(b, err, "stderr: %s", errOut.String())
	var rep pgimport.Report
	require.NoError(b, json.Unmarshal(out.Bytes(), &rep))
	require.Equal(b, n, rep.Tables["managed_certificates"].New, "%s", out.String())
	b.ReportMetric(float64(n)/took.Seconds(), "certs/s")
	b.ReportMetric(took.Seconds(), "s")
	cpu := cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	b.ReportMetric(cpu.Seconds(), "cli-cpu-s")
	fmt.Fprintf(os.Stderr, "import of %d certificates: %s, %.0f certificates/s (CLI CPU %s)\n", n, took.Round(time.Millisecond), float64(n)/took.Seconds(), cpu.Round(time.Millisecond))
}

// benchBatch is the --batch of the benchmark: CERTCTL_BENCH_IMPORT_BATCH or
// the default.
func benchBatch() string {
	if v := os.Getenv("CERTCTL_BENCH_IMPORT_BATCH"); v != "" {
		return v
	}
	return strconv.Itoa(pgimport.DefaultBatchRows)
}

// benchExtra are more flags from CERTCTL_BENCH_IMPORT_FLAGS (e.g. --dry-run).
func benchExtra() []string { return strings.Fields(os.Getenv("CERTCTL_BENCH_IMPORT_FLAGS")) }
