package e2e

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/certctl/certctl/api/client"
)

// BenchmarkLocalCAIssuance measures Local CA issuances per second end to
// end through raft on a fresh three-node cluster: 500 certificates with
// server-side keys are renewed at once through the leader (16 clients), and
// the clock runs from the first POST /renew until every version is
// recorded (key made, CSR signed, key sealed, version and job outcome
// committed). Run it once:
//
//	go test -run '^$' -bench LocalCAIssuance -benchtime=1x ./e2e/
func BenchmarkLocalCAIssuance(b *testing.B) {
	skipShort(b)
	const (
		count   = 500
		clients = 16
	)
	c := NewCluster(b, certctlBin)
	c.Start(3)
	leader := c.WaitLeader()
	f := c.Seed(leader)
	api := c.APIClient(AdminKey, leader)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	issuerID := localCA(b, ctx, api, leader, "iss-bench")
	if err := api.TestIssuer(ctx, issuerID); err != nil { // the CA is made before the clock starts
		b.Fatal(err)
	}
	ids := make([]string, count)
	for i := range ids {
		ids[i] = fmt.Sprintf("mc-bench-%03d", i)
	}
	parallel(b, ids, clients, func(id string) error { return createServerKeyCert(ctx, api, f, id, issuerID) })
	issued := func(ctx context.Context) (int, error) {
		l, err := api.ListAudit(ctx, client.ListAuditOptions{Action: "certificate_issued", PerPage: 1})
		if err != nil {
			return 0, err
		}
		return l.Total, nil
	}
	before, err := issued(ctx)
	if err != nil {
		b.Fatal(err)
	}

	b.ResetTimer()
	start := time.Now()
	parallel(b, ids, clients, func(id string) error { return api.RenewCertificate(ctx, id) })
	queued := time.Since(start)
	err = c.WaitErr(5*time.Minute, func(ctx context.Context) error {
		n, err := issued(ctx)
		if err != nil {
			return err
		}
		if n-before < count {
			return fmt.Errorf("%d of %d certificates issued", n-before, count)
		}
		return nil
	})
	elapsed := time.Since(start)
	b.StopTimer()
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(0, "ns/op")
	b.ReportMetric(float64(count)/elapsed.Seconds(), "issuances/s")
	b.ReportMetric(elapsed.Seconds(), "s_total")
	b.ReportMetric(queued.Seconds(), "s_to_queue")
}

// parallel calls fn for every id from workers goroutines and fails b on the
// first error.
func parallel(b *testing.B, ids []string, workers int, fn func(id string) error) {
	b.Helper()
	work := make(chan string)
	errs := make(chan error, len(ids))
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for id := range work {
				if err := fn(id); err != nil {
					errs <- fmt.Errorf("%s: %w", id, err)
				}
			}
		})
	}
	for _, id := range ids {
		work <- id
	}
	close(work)
	wg.Wait()
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
}
