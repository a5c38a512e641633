package e2e

// BenchmarkDashboard (declared in bench_api_test.go, between the list
// benchmarks, so that it finds the shared inventory at 100,000 certificates
// before BenchmarkList stops it) loads the dashboard in Chromium from a
// follower of the inventory's cluster, over HTTPS with the admin key:
//
//	go test -run '^$' -bench 'BenchmarkDashboard' -benchtime=1x -timeout 30m ./e2e/
//
// Each load is a new tab in a new browser context (an empty cache, as a
// first visit), with the key already in the tab's session storage (as after
// a sign-in, or a reload). It reports the first contentful paint, the time
// until the view's data is shown (a MutationObserver marks the first moment
// its selector matches, on the page's own clock) and the bytes the page
// received until then (the encoded sizes of its responses, headers
// included, from the network events).

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/certctl/certctl/api"
)

// dashboardLoads is how many cold loads each view is measured over.
const dashboardLoads = 7

// dashboardViews are the views measured: the overview and the first page
// of the certificate list.
var dashboardViews = []struct{ name, route, shown string }{
	{"overview", "/", `[data-view="overview"] [data-tile] .tile-count`},
	{"certificates", "/certificates", `[data-view="certificates"] [data-testid$="-table"] [data-id]`},
}

// loadMark is the script run before the page's own in every document of a
// measured tab: it puts the key in session storage and records when the
// selector first matches.
const loadMark = `(() => {
	if (location.protocol !== 'https:') return;
	sessionStorage.setItem('certctl.apiKey', %s);
	const sel = %s;
	const mark = () => {
		if (window.e2eShown === undefined && document.querySelector(sel)) {
			window.e2eShown = performance.now();
			obs.disconnect();
		}
	};
	const obs = new MutationObserver(mark);
	obs.observe(document, { subtree: true, childList: true, characterData: true });
})()`

type dashboardLoad struct {
	fcp, shown time.Duration
	bytes      float64 // everything, the page and its files included
	apiBytes   float64 // the answers of /api/ alone
	requests   int
}

func benchDashboard(b *testing.B) {
	skipShort(b)
	inv := loadInventory(b, 100_000)
	br, err := NewBrowser(b, caSPKI(b, inv.c))
	if err != nil {
		b.Fatal(err)
	}
	defer br.Close()
	b.Run("certs=100000/summary", func(b *testing.B) { benchSummary(b, inv) })
	for _, v := range dashboardViews {
		b.Run("certs=100000/view="+v.name, func(b *testing.B) {
			b.StopTimer()
			var loads []dashboardLoad
			for i := range dashboardLoads {
				l := loadDashboard(b, br, inv.reader, v.route, v.shown)
				b.Logf("load %d: first paint %v, data shown %v, %d requests, %.1f KiB (API answers %.1f KiB)",
					i+1, l.fcp.Round(time.Millisecond), l.shown.Round(time.Millisecond), l.requests, l.bytes/1024, l.apiBytes/1024)
				loads = append(loads, l)
			}
			fcp := make([]time.Duration, len(loads))
			shown := make([]time.Duration, len(loads))
			var kib, apiKiB []float64
			for i, l := range loads {
				fcp[i], shown[i] = l.fcp, l.shown
				kib = append(kib, l.bytes/1024)
				apiKiB = append(apiKiB, l.apiBytes/1024)
			}
			slices.Sort(fcp)
			slices.Sort(shown)
			slices.Sort(kib)
			slices.Sort(apiKiB)
			b.ReportMetric(0, "ns/op")
			b.ReportMetric(ms(percentile(fcp, 50)), "paint-p50-ms")
			b.ReportMetric(ms(fcp[len(fcp)-1]), "paint-max-ms")
			b.ReportMetric(ms(percentile(shown, 50)), "data-p50-ms")
			b.ReportMetric(ms(shown[len(shown)-1]), "data-max-ms")
			b.ReportMetric(kib[len(kib)/2], "KiB")
			b.ReportMetric(apiKiB[len(apiKiB)/2], "api-KiB")
		})
	}
}

// loadDashboard opens route on node n in a new tab of a new browser
// context and measures it.
func loadDashboard(b *testing.B, br *Browser, n *Node, route, shown string) dashboardLoad {
	b.Helper()
	p := br.NewPage(b, n.URL())
	defer p.cancel()
	ctx, cancel := context.WithTimeout(p.ctx, browserWait)
	defer cancel()
	if _, err := chromedp.Call(ctx, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{
		Source: fmt.Sprintf(loadMark, jsString(AdminKey), jsString(shown)),
	}); err != nil {
		b.Fatal(err)
	}
	p.run("open "+route, chromedp.Navigate(p.base+"/#"+route))
	p.WaitJS("the view's data", `window.e2eShown !== undefined && performance.getEntriesByName('first-contentful-paint').length > 0`)
	var m struct {
		FCP   float64 `json:"fcp"`
		Shown float64 `json:"shown"`
	}
	p.Eval(`({fcp: performance.getEntriesByName('first-contentful-paint')[0].startTime, shown: window.e2eShown})`, &m)
	// The bytes of what was asked until the data was shown, once each
	// answer is complete.
	var until int
	p.Eval(`performance.getEntriesByType('resource').filter((e) => e.startTime <= window.e2eShown).length + 1`, &until)
	var reqs []request
	err := WaitFor(WaitTimeout, func(context.Context) error {
		reqs = p.Requests()
		if len(reqs) > until {
			reqs = reqs[:until]
		}
		for _, r := range reqs {
			if !r.Done {
				return errors.New(r.URL + " still loading")
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	l := dashboardLoad{fcp: msDuration(m.FCP), shown: msDuration(m.Shown), requests: len(reqs)}
	for _, r := range reqs {
		l.bytes += r.Bytes
		if u, err := url.Parse(r.URL); err == nil && strings.HasPrefix(u.Path, "/api/") {
			l.apiBytes += r.Bytes
		}
	}
	return l
}

func msDuration(v float64) time.Duration { return time.Duration(v * float64(time.Millisecond)) }

// benchSummary times GET /api/v1/stats/summary on the reader over HTTPS:
// computed (the node's cached summary is older than api.SummaryMaxAge),
// served again from the cache, and eight concurrent pollers after it
// expired (the wall time of all eight: one computation, shared).
func benchSummary(b *testing.B, inv *inventory) {
	b.StopTimer()
	get := func() time.Duration {
		ctx, cancel := context.WithTimeout(context.Background(), requestTimeout)
		defer cancel()
		var out map[string]any
		t0 := time.Now()
		if err := inv.c.Client().GetJSON(ctx, inv.reader.URL(), "/api/v1/stats/summary", "", &out); err != nil {
			b.Fatal(err)
		}
		return time.Since(t0)
	}
	const rounds = 5
	var computed, cached, eight []time.Duration
	for range rounds {
		time.Sleep(api.SummaryMaxAge + 100*time.Millisecond)
		computed = append(computed, get())
		cached = append(cached, get())
		time.Sleep(api.SummaryMaxAge + 100*time.Millisecond)
		t0 := time.Now()
		var wg sync.WaitGroup
		for range 8 {
			wg.Add(1)
			go func() { defer wg.Done(); get() }()
		}
		wg.Wait()
		eight = append(eight, time.Since(t0))
	}
	for _, l := range [][]time.Duration{computed, cached, eight} {
		slices.Sort(l)
	}
	b.Logf("summary: computed %v, cached %v, 8 concurrent %v (medians of %d)",
		computed[rounds/2].Round(time.Millisecond), cached[rounds/2].Round(100*time.Microsecond), eight[rounds/2].Round(time.Millisecond), rounds)
	b.ReportMetric(0, "ns/op")
	b.ReportMetric(ms(computed[rounds/2]), "computed-ms")
	b.ReportMetric(ms(cached[rounds/2]), "cached-ms")
	b.ReportMetric(ms(eight[rounds/2]), "8-concurrent-ms")
}
