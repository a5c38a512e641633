package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/certctl/certctl/api/wire"
	"github.com/certctl/certctl/internal/pgtest"
)

// BenchmarkExportFollowLag measures how long a certificate created through
// the API takes to appear in PostgreSQL under `certctl export postgres
// --follow --interval 200ms`, while 64 writers create certificates for 20
// s against a three-node cluster: from each create's 201 to the first poll
// (every 50 ms) of the database that shows it. Reported as p50/p99/max.
func BenchmarkExportFollowLag(b *testing.B) {
	skipShort(b)
	const writers, window = 64, 20 * time.Second
	for i := 0; i < b.N; i++ {
		pg := pgtest.Start(b)
		c := NewCluster(b, certctlBin)
		c.Start(3)
		leader := c.WaitLeader()
		f := c.Seed(leader)
		api := c.APIClient(AdminKey)
		dir := b.TempDir()
		dsnFile := filepath.Join(dir, "export.dsn")
		require.NoError(b, os.WriteFile(dsnFile, []byte(pg.CreateDB("lag")), 0o600))
		fol := startFollower(b, "--server", leader.URL(), "--ca-file", c.CAFile(), "--api-key", AdminKey,
			"export", "postgres", "--dsn-file", dsnFile, "--follow", "--state-dir", filepath.Join(dir, "state"),
			"--interval", "200ms", "--metrics-addr", "")

		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		var (
			mu    sync.Mutex
			acked = map[string]time.Time{}
			seen  = map[string]time.Time{}
			wg    sync.WaitGroup
		)
		stop := time.Now().Add(window)
		for w := range writers {
			wg.Go(func() {
				for n := 0; time.Now().Before(stop) && ctx.Err() == nil; n++ {
					cert := f.NewCertificate(fmt.Sprintf("mc-lag-%02d-%05d", w, n))
					_, err := api.CreateCertificate(ctx, wire.Certificate{ID: cert.ID, Name: cert.Name, CommonName: cert.CommonName,
						SANs: cert.SANs, OwnerID: cert.OwnerID, TeamID: cert.TeamID, IssuerID: cert.IssuerID})
					if err != nil {
						continue
					}
					mu.Lock()
					acked[cert.ID] = time.Now()
					mu.Unlock()
				}
			})
		}
		done := make(chan struct{})
		go func() { wg.Wait(); close(done) }()
		poll := func() {
			out, err := pg.PsqlErr("lag", "-c", "SELECT id FROM managed_certificates WHERE id LIKE 'mc-lag-%'")
			if err != nil {
				return
			}
			now := time.Now()
			mu.Lock()
			for _, id := range strings.Fields(out) {
				if _, ok := seen[id]; !ok {
					seen[id] = now
				}
			}
			mu.Unlock()
		}
	loop:
		for {
			select {
			case <-done:
				break loop
			case <-time.After(50 * time.Millisecond):
				poll()
			}
		}
		// Until every acknowledged create is seen, at most 60 s more.
		for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); {
			poll()
			mu.Lock()
			all := len(seen) >= len(acked)
			mu.Unlock()
			if all {
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
		cancel()
		fol.stop(b)
		var lags []time.Duration
		missing := 0
		for id, at := range acked {
			s, ok := seen[id]
			if !ok {
				missing++
				continue
			}
			lags = append(lags, max(s.Sub(at), 0))
		}
		require.Zero(b, missing, "acknowledged creates never exported")
		slices.Sort(lags)
		b.ReportMetric(float64(len(acked))/window.Seconds(), "creates/s")
		b.ReportMetric(ms(percentile(lags, 50)), "lag-p50-ms")
		b.ReportMetric(ms(percentile(lags, 99)), "lag-p99-ms")
		b.ReportMetric(ms(lags[len(lags)-1]), "lag-max-ms")
	}
}
