package e2e

// The API benchmarks drive a three-node cluster through api/client, the
// typed client the CLI and the agent use. The list benchmarks share one
// inventory, loaded through the API once per test binary:
//
//	go test -run '^$' -bench 'BenchmarkList|BenchmarkCreateHTTP' -benchtime=1x ./e2e/
//
// Each measures for a fixed time (listSpan, createSpan) after a warm-up,
// rather than b.N iterations; ns/op is hidden because it means nothing here.

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/certctl/certctl/api/client"
	"github.com/certctl/certctl/api/wire"
)

const (
	// warmUp is run before each measurement and not counted.
	warmUp = time.Second
	// listSpan and createSpan are how long each measurement runs.
	listSpan   = 5 * time.Second
	createSpan = 5 * time.Second
	// perPage is the page size of the list benchmarks: the original's default.
	perPage = 50
	// loadClients is how many clients create the inventory concurrently.
	loadClients = 64
	// loadBudget bounds one growth of the inventory.
	loadBudget = 20 * time.Minute
)

// BenchmarkListFiltered measures one client paging through a filtered
// certificate list (random pages of 50) at 10,000 certificates, then grows
// the inventory to 100,000 and measures again: by=status asks for the
// Expiring certificates (8% of them), by=expires_before for those expiring
// within 30 days (16%).
func BenchmarkListFiltered(b *testing.B) {
	skipShort(b)
	for _, certs := range []int{10_000, 100_000} {
		for _, by := range []string{"status", "expires_before"} {
			b.Run(fmt.Sprintf("certs=%d/by=%s", certs, by), func(b *testing.B) {
				inv := loadInventory(b, certs)
				opts := client.ListCertificatesOptions{PerPage: perPage}
				switch by {
				case "status":
					opts.Status = "Expiring"
				case "expires_before":
					before := inv.epoch.Add(30 * 24 * time.Hour)
					opts.ExpiresBefore = &before
				}
				benchList(b, inv, 1, opts)
			})
		}
	}
}

// BenchmarkDashboard measures the dashboard's overview and first page of
// certificates in Chromium at 100,000 certificates (bench_dashboard_test.go).
// It is declared here, between the list benchmarks, because benchmarks run
// in the order of their declarations: it finds the inventory at 100,000
// before BenchmarkList stops it.
func BenchmarkDashboard(b *testing.B) { benchDashboard(b) }

// BenchmarkList measures clients paging through the whole list of 100,000
// certificates: GET /api/v1/certificates?per_page=50&page=K, K random. It is
// the last benchmark to use the shared inventory and stops it when done, so
// that the benchmarks after it have the machine to themselves.
func BenchmarkList(b *testing.B) {
	skipShort(b)
	b.Cleanup(func() {
		if err := closeInventory(); err != nil {
			b.Error(err)
		}
	})
	for _, clients := range []int{1, 16} {
		b.Run(fmt.Sprintf("certs=100000/clients=%d", clients), func(b *testing.B) {
			inv := loadInventory(b, 100_000)
			benchList(b, inv, clients, client.ListCertificatesOptions{PerPage: perPage})
		})
	}
}

// BenchmarkCreateHTTP measures certificate creation through api/client on a
// fresh three-node cluster, each client (its own client.Client and
// connections) posting to one follower, which forwards to the leader.
func BenchmarkCreateHTTP(b *testing.B) {
	skipShort(b)
	for _, clients := range []int{1, 16, 64} {
		b.Run(fmt.Sprintf("via=follower/clients=%d", clients), func(b *testing.B) {
			b.StopTimer()
			c := NewCluster(b, certctlBin)
			c.Start(3)
			leader := c.WaitLeader()
			fx := c.Seed(leader)
			follower := c.Followers(leader)[0]
			apis := make([]*client.Client, clients)
			for i := range apis {
				apis[i] = mustAPIClient(b, c, []string{follower.URL()})
			}
			var seq atomic.Int64
			b.StartTimer()
			res := measure(clients, createSpan, func(ctx context.Context, w int, _ *rand.Rand) error {
				id := fmt.Sprintf("ch-%07d", seq.Add(1))
				_, err := apis[w].CreateCertificate(client.WithIdempotencyKey(ctx, "e2e-"+id), benchCertificate(fx, id, time.Now().Add(90*24*time.Hour)))
				return err
			})
			b.StopTimer()
			res.report(b, "creates/s")
		})
	}
}

// benchList has clients page through the list opts selects, at random
// pages, on the inventory's reader node, and checks each page's size and
// total.
func benchList(b *testing.B, inv *inventory, clients int, opts client.ListCertificatesOptions) {
	b.StopTimer()
	apis := make([]*client.Client, clients)
	for i := range apis {
		apis[i] = mustAPIClient(b, inv.c, []string{inv.reader.URL()})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	first, err := apis[0].ListCertificates(ctx, opts)
	if err != nil {
		b.Fatal(err)
	}
	total := first.Total
	if total == 0 {
		b.Fatalf("the list %+v is empty", opts)
	}
	if opts == (client.ListCertificatesOptions{PerPage: perPage}) && total != inv.count {
		b.Fatalf("total %d, want %d", total, inv.count)
	}
	pages := (total + perPage - 1) / perPage
	b.StartTimer()
	res := measure(clients, listSpan, func(ctx context.Context, w int, rng *rand.Rand) error {
		o := opts
		o.Page = 1 + rng.IntN(pages)
		l, err := apis[w].ListCertificates(ctx, o)
		if err != nil {
			return err
		}
		want := min(perPage, total-(o.Page-1)*perPage)
		if l.Total != total || len(l.Data) != want {
			return fmt.Errorf("page %d: %d certificates of %d, want %d of %d", o.Page, len(l.Data), l.Total, want, total)
		}
		return nil
	})
	b.StopTimer()
	b.ReportMetric(float64(inv.count), "certs")
	b.ReportMetric(float64(total), "matches")
	res.report(b, "pages/s")
	b.Logf("median of 20 reads, one client: first page %v, middle page %v, last page %v",
		pageLatency(b, apis[0], opts, 1), pageLatency(b, apis[0], opts, (pages+1)/2), pageLatency(b, apis[0], opts, pages))
}

// pageLatency returns the median time of 20 reads of page page of opts: how
// the cost of a page depends on its position.
func pageLatency(b *testing.B, api *client.Client, opts client.ListCertificatesOptions, page int) time.Duration {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	opts.Page = page
	var lat []time.Duration
	for range 20 {
		t0 := time.Now()
		if _, err := api.ListCertificates(ctx, opts); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(t0))
	}
	slices.Sort(lat)
	return lat[len(lat)/2].Round(10 * time.Microsecond)
}

// measurement is what measure saw: the latency of each call completed in the
// measured span, and the failed calls.
type measurement struct {
	lat    []time.Duration
	errs   int
	span   time.Duration
	sample []error
}

// measure runs op in clients goroutines for warmUp and then span, and
// returns the calls that started after the warm-up and ended within span.
// Each goroutine has its index w and a random source of its own.
func measure(clients int, span time.Duration, op func(ctx context.Context, w int, rng *rand.Rand) error) measurement {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	start := time.Now().Add(warmUp)
	end := start.Add(span)
	lats := make([][]time.Duration, clients)
	var (
		mu     sync.Mutex
		errs   int
		sample []error
		wg     sync.WaitGroup
	)
	for w := range clients {
		wg.Add(1)
		go func() { // owned by measure: runs until end, waited for below
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w)+1, 0x5eed))
			for {
				t0 := time.Now()
				if !t0.Before(end) {
					return
				}
				rctx, rcancel := context.WithTimeout(ctx, 30*time.Second)
				err := op(rctx, w, rng)
				rcancel()
				t1 := time.Now()
				if t0.Before(start) || t1.After(end) {
					continue
				}
				if err != nil {
					mu.Lock()
					errs++
					if len(sample) < 3 {
						sample = append(sample, err)
					}
					mu.Unlock()
					continue
				}
				lats[w] = append(lats[w], t1.Sub(t0))
			}
		}()
	}
	wg.Wait()
	return measurement{lat: slices.Concat(lats...), errs: errs, span: span, sample: sample}
}

// report reports the rate of successful calls as unit, p50 and p99 and the
// errors, and fails the benchmark when a call failed or none succeeded.
func (m measurement) report(b *testing.B, unit string) {
	b.ReportMetric(0, "ns/op")
	b.ReportMetric(float64(len(m.lat))/m.span.Seconds(), unit)
	b.ReportMetric(float64(m.errs), "errors")
	if len(m.lat) > 0 {
		reportLatency(b, m.lat)
	}
	for _, err := range m.sample {
		b.Errorf("call failed: %v", err)
	}
	if len(m.lat) == 0 {
		b.Errorf("no call succeeded in %v", m.span)
	}
}

func mustAPIClient(b *testing.B, c *Cluster, urls []string) *client.Client {
	api, err := NewAPIClient(AdminKey, urls, c.NewHTTPClient(4, nil))
	if err != nil {
		b.Fatal(err)
	}
	return api
}

// inventory is a three-node cluster holding certificates inv-000000,
// inv-000001, ... shared by the list benchmarks of one test binary, so that
// the inventory is loaded once and grown only when a benchmark needs more.
// Its methods are for the goroutine of the benchmark using it.
type inventory struct {
	c      *Cluster
	fx     Fixtures
	reader *Node     // the follower the list benchmarks read from
	epoch  time.Time // expiries are spread from epoch-30d to epoch+335d
	count  int
}

// sharedInventory is the test binary's one inventory: made by the first
// benchmark that needs it, closed by BenchmarkList or else by TestMain
// through closeInventory. It is
// only touched by benchmarks, which run one at a time, and by TestMain after
// they all ended.
var sharedInventory struct {
	sync.Mutex
	inv *inventory
}

// loadInventory returns the shared inventory, bound to b and holding at
// least certs certificates.
func loadInventory(b *testing.B, certs int) *inventory {
	b.StopTimer()
	sharedInventory.Lock()
	defer sharedInventory.Unlock()
	inv := sharedInventory.inv
	if inv == nil {
		c := NewSharedCluster(b, certctlBin, WithNodePrefix("inv"))
		inv = &inventory{c: c, epoch: time.Now().UTC().Truncate(24 * time.Hour)}
		sharedInventory.inv = inv // closed by TestMain even if the start fails
		c.Start(3)
		leader := c.WaitLeader()
		inv.fx = c.Seed(leader)
		inv.reader = c.Followers(leader)[0]
	}
	inv.c.Bind(b)
	if inv.count < certs {
		inv.grow(b, certs)
	}
	return inv
}

// closeInventory stops the shared inventory's cluster, if one was started.
func closeInventory() error {
	sharedInventory.Lock()
	defer sharedInventory.Unlock()
	if sharedInventory.inv == nil {
		return nil
	}
	err := sharedInventory.inv.c.Close()
	sharedInventory.inv = nil
	return err
}

// grow creates certificates inv.count .. certs-1 with loadClients clients,
// each its own api/client naming all three nodes, starting on different
// ones. An id that fails is retried with the same Idempotency-Key.
func (inv *inventory) grow(b *testing.B, certs int) {
	ctx, cancel := context.WithTimeout(context.Background(), loadBudget)
	defer cancel()
	nodes := inv.c.Nodes()
	from := inv.count
	var next atomic.Int64
	next.Store(int64(from))
	var retries, failed atomic.Int64
	var firstErr atomic.Value
	var wg sync.WaitGroup
	start := time.Now()
	for w := range loadClients {
		urls := URLs(append(append([]*Node{}, nodes[w%3:]...), nodes[:w%3]...))
		api := mustAPIClient(b, inv.c, urls)
		wg.Add(1)
		go func() { // owned by grow: ends when the ids run out, waited for below
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= certs || ctx.Err() != nil {
					return
				}
				id := fmt.Sprintf("inv-%06d", i)
				cert := benchCertificate(inv.fx, id, inv.expiry(i))
				var err error
				for attempt := range 5 {
					if attempt > 0 {
						retries.Add(1)
					}
					_, err = api.CreateCertificate(client.WithIdempotencyKey(ctx, "e2e-"+id), cert)
					if err == nil || client.IsConflict(err) && attempt > 0 {
						err = nil
						break
					}
				}
				if err != nil {
					failed.Add(1)
					firstErr.CompareAndSwap(nil, err)
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	if n := failed.Load(); n > 0 {
		b.Fatalf("loading the inventory: %d ids failed, the first with %v", n, firstErr.Load())
	}
	if ctx.Err() != nil {
		b.Fatalf("loading %d certificates took longer than %v", certs-from, loadBudget)
	}
	inv.c.Wait(fmt.Sprintf("%d certificates on %s", certs, inv.reader.ID), func(ctx context.Context) error {
		l, err := mustAPIClient(b, inv.c, []string{inv.reader.URL()}).ListCertificates(ctx, client.ListCertificatesOptions{PerPage: 1})
		if err == nil && l.Total != certs {
			err = fmt.Errorf("%d certificates, want %d", l.Total, certs)
		}
		return err
	})
	inv.count = certs
	b.Logf("inventory: created %d certificates (%d..%d) in %v with %d clients: %.0f creates/s, %d retries",
		certs-from, from, certs-1, elapsed.Round(time.Millisecond), loadClients,
		float64(certs-from)/elapsed.Seconds(), retries.Load())
}

// expiry is the expiry of certificate i: spread over 365 days from 30 days
// before the epoch, in an order unrelated to the id.
func (inv *inventory) expiry(i int) time.Time {
	day := (i * 7919) % 365
	return inv.epoch.Add(time.Duration(day-30)*24*time.Hour + time.Duration(i%86400)*time.Second)
}

// benchCertificate is the certificate id of the benchmarks, with a status
// that matches its expiry at the time of writing: Expired, Expiring (within
// 30 days) or Active.
func benchCertificate(fx Fixtures, id string, expires time.Time) wire.Certificate {
	status := "Active"
	switch now := time.Now(); {
	case expires.Before(now):
		status = "Expired"
	case expires.Before(now.Add(30 * 24 * time.Hour)):
		status = "Expiring"
	}
	cn := id + ".bench.example.com"
	return wire.Certificate{ID: id, Name: "bench " + id, CommonName: cn, SANs: []string{cn},
		Environment: "production", OwnerID: fx.OwnerID, TeamID: fx.TeamID, IssuerID: fx.IssuerID,
		Status: wire.CertificateStatus(status), ExpiresAt: &expires, Tags: map[string]string{"suite": "bench"}}
}
