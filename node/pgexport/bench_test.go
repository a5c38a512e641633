package pgexport_test

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/certctl/certctl/internal/pgtest"
	"github.com/certctl/certctl/node/pgexport"
)

// BenchmarkExport exports a state of CERTCTL_EXPORT_BENCH_CERTS certificates
// (default 100,000; each with a version and a mapping, plus their audit
// events and the demo data) into an empty database, whole, and reports
// rows/s (every row of the fourteen tables) and certificates/s; then again
// into the same database (nothing changes), and the difference of 1,000
// new certificates, as --follow writes it.
func BenchmarkExport(b *testing.B) {
	n := 100_000
	if v := os.Getenv("CERTCTL_EXPORT_BENCH_CERTS"); v != "" {
		var err error
		n, err = strconv.Atoi(v)
		require.NoError(b, err)
	}
	pg := pgtest.Start(b)
	st := newState(b, "cluster-bench")
	st.addCertificates(0, n)
	cur := st.file()
	e := pgexport.New(pgexport.Secrets{}, nil)
	ctx := context.Background()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		conn := connect(b, pg.CreateDB(fmt.Sprintf("bench%d", i)))
		var backend int
		require.NoError(b, conn.QueryRow(ctx, "SELECT pg_backend_pid()").Scan(&backend))
		cpu0, pg0 := selfCPU(), procCPU(backend)
		start := time.Now()
		res, err := e.Sync(ctx, conn, nil, cur)
		require.NoError(b, err)
		took := time.Since(start)
		b.ReportMetric((selfCPU() - cpu0).Seconds(), "exporter-cpu-s")
		b.ReportMetric((procCPU(backend) - pg0).Seconds(), "postgres-cpu-s")
		b.ReportMetric(float64(res.Rows)/took.Seconds(), "rows/s")
		b.ReportMetric(float64(n)/took.Seconds(), "certs/s")
		b.ReportMetric(float64(res.Rows), "rows")
		b.ReportMetric(took.Seconds(), "s/export")

		start = time.Now()
		res, err = e.Sync(ctx, conn, nil, cur)
		require.NoError(b, err)
		require.Zero(b, total(res.Changed)+total(res.Deleted))
		b.ReportMetric(time.Since(start).Seconds(), "s/unchanged")
	}
	b.StopTimer()
	conn := connect(b, pg.CreateDB("benchdiff"))
	_, err := e.Sync(ctx, conn, nil, cur)
	require.NoError(b, err)
	st.addCertificates(n, 1000)
	next := st.file()
	start := time.Now()
	res, err := e.Sync(ctx, conn, cur, next)
	require.NoError(b, err)
	require.False(b, res.Full)
	b.ReportMetric(time.Since(start).Seconds(), "s/diff-1000")
}

// selfCPU is the CPU time (user + system) this process used so far.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// procCPU is the CPU time process pid used so far (Linux /proc, in clock ticks of 10 ms).
func procCPU(pid int) time.Duration {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	f := strings.Fields(string(raw[strings.LastIndexByte(string(raw), ')')+2:]))
	utime, _ := strconv.Atoi(f[11])
	stime, _ := strconv.Atoi(f[12])
	return time.Duration(utime+stime) * 10 * time.Millisecond
}
