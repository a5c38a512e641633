package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	"github.com/stretchr/testify/require"

	"github.com/certctl/certctl/connectors/keywrap"
	"github.com/certctl/certctl/fsm"
	"github.com/certctl/certctl/fsm/fsmtest"
	"github.com/certctl/certctl/node/backup"
)

// BenchmarkSnapshot measures `certctl snapshot save`, `certctl snapshot
// restore` into a running 3-node cluster and `certctl server --restore-from`
// (offline, one new node) with a state of N certificates: wall time, file
// size, and the peak RSS of the CLI (/usr/bin/time) and of the nodes
// (VmHWM). N comes from CERTCTL_BENCH_SNAPSHOT_CERTS (comma-separated,
// default 100000).
//
//	make build
//	CERTCTL_BIN=$PWD/bin/certctl CERTCTL_BENCH_SNAPSHOT_CERTS=100000,1000000 \
//	  go test -count=1 -run '^$' -bench BenchmarkSnapshot -benchtime=1x -timeout 60m ./e2e/
func BenchmarkSnapshot(b *testing.B) {
	sizes := []int{100_000}
	if v := os.Getenv("CERTCTL_BENCH_SNAPSHOT_CERTS"); v != "" {
		sizes = nil
		for _, s := range strings.Split(v, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(s))
			require.NoError(b, err, "CERTCTL_BENCH_SNAPSHOT_CERTS")
			sizes = append(sizes, n)
		}
	}
	for _, n := range sizes {
		b.Run(strconv.Itoa(n), func(b *testing.B) {
			for range b.N {
				benchSnapshot(b, n)
			}
		})
	}
}

func benchSnapshot(b *testing.B, certs int) {
	c := NewCluster(b, certctlBin)
	c.Start(3)
	leader := c.WaitLeader()
	fx := c.Seed(leader)
	dir := b.TempDir()
	cli := func(args ...string) []string {
		return append([]string{"--server", leader.URL(), "--ca-file", c.CAFile(), "--api-key", AdminKey}, args...)
	}

	// The cluster's own small snapshot, grown offline to certs
	// certificates with the cluster's audit key, so it restores as if the
	// cluster had written them.
	small := filepath.Join(dir, "small.snap")
	timedCLI(b, cli("snapshot", "save", small)...)
	big := filepath.Join(dir, "big.snap")
	start := time.Now()
	growSnapshot(b, c, small, big, certs, fx)
	fi, err := os.Stat(big)
	require.NoError(b, err)
	b.Logf("made a snapshot of %d certificates, %d bytes, in %s", certs, fi.Size(), time.Since(start).Round(time.Millisecond))

	// Online restore into the running cluster.
	wall, rss := timedCLI(b, cli("snapshot", "restore", "--yes", big)...)
	b.ReportMetric(wall.Seconds(), "restore-s")
	b.ReportMetric(float64(rss)/1024, "restore-cli-MB")
	b.ReportMetric(float64(maxHWM(b, c.Live()))/1024, "restore-node-MB")
	b.Logf("online restore: %s, CLI peak RSS %d kB, node peak RSS %v kB", wall.Round(time.Millisecond), rss, hwms(b, c.Live()))

	// Save of that state.
	out := filepath.Join(dir, "saved.snap")
	wall, rss = timedCLI(b, cli("snapshot", "save", out)...)
	sfi, err := os.Stat(out)
	require.NoError(b, err)
	b.ReportMetric(wall.Seconds(), "save-s")
	b.ReportMetric(float64(sfi.Size())/(1<<20), "file-MB")
	b.ReportMetric(float64(rss)/1024, "save-cli-MB")
	b.Logf("save: %s, %d bytes, CLI peak RSS %d kB, node peak RSS %v kB (since start)", wall.Round(time.Millisecond), sfi.Size(), rss, hwms(b, c.Live()))

	// Offline: every node gone, one new node from the file.
	for _, n := range c.Live() {
		c.Stop(n)
	}
	r1 := c.AddNode(NodeConfig{ID: "r1", RestoreFrom: big})
	start = time.Now()
	c.StartNode(r1)
	require.NoError(b, c.WaitErr(10*time.Minute, func(ctx context.Context) error { return c.client.Ready(ctx, r1.URL()) }))
	wall = time.Since(start)
	b.ReportMetric(wall.Seconds(), "restore-from-s")
	b.ReportMetric(float64(maxHWM(b, []*Node{r1}))/1024, "restore-from-node-MB")
	b.Logf("--restore-from: ready in %s, node peak RSS %v kB", wall.Round(time.Millisecond), hwms(b, []*Node{r1}))
}

// growSnapshot writes to dst the snapshot file src with certs certificates
// added, applied as the cluster would (the same audit key, the next raft
// indexes).
func growSnapshot(b *testing.B, c *Cluster, src, dst string, certs int, fx Fixtures) {
	_, state := snapshotBody(b, src)
	kek, err := keywrap.LoadKEK(c.KEKFile())
	require.NoError(b, err)
	auditKey, err := keywrap.AuditKey(kek)
	require.NoError(b, err)
	f, err := fsm.Open(state, fsm.Options{NoSync: true, AuditKey: auditKey})
	require.NoError(b, err)
	defer f.Close()
	l := fsmtest.NewLog(b)
	l.Index = f.AppliedIndex()
	l.Now = time.Now().UTC()
	exp := l.Now.Add(300 * 24 * time.Hour)
	const batch = 5000
	entries := make([]*raft.Log, 0, batch)
	flush := func() {
		for _, r := range fsmtest.ApplyBatch(b, f, entries...) {
			require.NoError(b, r.Err)
		}
		entries = entries[:0]
	}
	for i := range certs {
		cert := fsm.Certificate{ID: fmt.Sprintf("mc-%07d", i), Name: fmt.Sprintf("cert %07d", i),
			CommonName: fmt.Sprintf("h%07d.example.com", i), Environment: "production",
			OwnerID: fx.OwnerID, TeamID: fx.TeamID, IssuerID: fx.IssuerID, Status: fsm.CertActive, ExpiresAt: &exp}
		entries = append(entries, l.Entry(&fsm.CreateCertificate{Certificate: cert}))
		if len(entries) == batch {
			flush()
		}
	}
	if len(entries) > 0 {
		flush()
	}
	p, err := backup.Prepare(f, filepath.Dir(dst), "bench", time.Now())
	require.NoError(b, err)
	defer p.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	require.NoError(b, err)
	_, err = p.WriteTo(out)
	require.NoError(b, err)
	require.NoError(b, out.Close())
}

// timedCLI runs certctl with args under /usr/bin/time and returns its wall
// time and peak RSS in kB.
func timedCLI(b *testing.B, args ...string) (time.Duration, int) {
	b.Helper()
	stats := filepath.Join(b.TempDir(), "time")
	cmd := exec.Command("/usr/bin/time", append([]string{"-f", "%e %M", "-o", stats, certctlBin}, args...)...)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "CERTCTL_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	start := time.Now()
	out, err := cmd.CombinedOutput()
	wall := time.Since(start)
	require.NoError(b, err, "certctl %s: %s", strings.Join(args, " "), out)
	raw, err := os.ReadFile(stats)
	require.NoError(b, err)
	var secs float64
	var rss int
	_, err = fmt.Sscanf(string(raw), "%f %d", &secs, &rss)
	require.NoError(b, err, "%s", raw)
	return wall, rss
}

// hwm returns a running node's peak RSS (VmHWM) in kB.
func hwm(b *testing.B, n *Node) int {
	b.Helper()
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", n.Pid()))
	require.NoError(b, err)
	for _, line := range strings.Split(string(raw), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")))
			require.NoError(b, err)
			return kb
		}
	}
	b.Fatalf("no VmHWM for %s", n.ID)
	return 0
}

func hwms(b *testing.B, ns []*Node) map[string]int {
	out := map[string]int{}
	for _, n := range ns {
		out[n.ID] = hwm(b, n)
	}
	return out
}

func maxHWM(b *testing.B, ns []*Node) int {
	m := 0
	for _, n := range ns {
		m = max(m, hwm(b, n))
	}
	return m
}
