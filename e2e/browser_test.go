package e2e

// The browser harness of the dashboard's tests: Debian's chromium, headless,
// driven through the DevTools protocol by chromedp. Every page records the
// requests it makes, its console and its uncaught exceptions, and fails the
// test when it asked anything of a host other than the node, logged an
// error, threw, or opened a JavaScript dialog.

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

const (
	// browserWait bounds every wait for the page (a view drawn, a job's
	// state shown); the page refreshes live every few seconds.
	browserWait = 20 * time.Second
	// browserPoll is how often a wait re-evaluates its condition.
	browserPoll = 50 * time.Millisecond
	// screenshotsEnv names the directory screenshots go to; `make
	// screenshots` sets it to docs/screenshots. Without it they go to
	// $TMPDIR/certctl-screenshots, refreshed on every run.
	screenshotsEnv = "CERTCTL_SCREENSHOTS"
)

// chromiumPath finds Debian's chromium, or fails the test naming the make
// target that installs it.
func chromiumPath(tb testing.TB) string {
	tb.Helper()
	for _, name := range []string{"chromium", "/usr/bin/chromium"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	tb.Fatal("e2e: the dashboard's browser tests need Debian's chromium, which is not installed: run `make test-deps`")
	return ""
}

// Browser is one headless Chromium process with a fresh profile. Pages are
// tabs of it, each in a browser context of its own (no shared storage,
// cookies or cache).
type Browser struct {
	ctx    context.Context // the browser's chromedp context
	cancel func()
	dir    string
}

// NewBrowser starts Chromium. trustSPKI are base64 SHA-256 hashes of
// public keys whose certificates Chromium accepts (a cluster CA's: the
// nodes send it after their own certificate), for HTTPS nodes.
func NewBrowser(tb testing.TB, trustSPKI ...string) (*Browser, error) {
	exe := chromiumPath(tb)
	dir, err := os.MkdirTemp("", "certctl-chromium-")
	if err != nil {
		return nil, err
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(exe),
		chromedp.Headless,
		chromedp.NoSandbox, // the tests run as root
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.DisableGPU,
		chromedp.UserDataDir(dir),
		chromedp.WindowSize(1280, 720),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("disable-default-apps", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("metrics-recording-only", true),
		chromedp.Flag("no-pings", true),
		chromedp.Flag("password-store", "basic"),
		chromedp.Flag("disable-features", "Translate,OptimizationHints,MediaRouter,AutofillServerCommunication,CertificateTransparencyComponentUpdater"),
		// Nothing but the loopback resolves: whatever the browser itself
		// might try fails at once, and the page's own requests are checked
		// by the harness.
		chromedp.Flag("host-resolver-rules", "MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"),
	}
	if len(trustSPKI) > 0 {
		opts = append(opts, chromedp.Flag("ignore-certificate-errors-spki-list", strings.Join(trustSPKI, ",")))
	}
	allocCtx, allocCancel := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(allocCtx)
	// The first Do starts the browser and binds its life to ctx, which has
	// no timeout: the allocator bounds the start itself.
	if err := chromedp.Do(ctx); err != nil {
		cancel()
		allocCancel()
		os.RemoveAll(dir)
		return nil, fmt.Errorf("e2e: start chromium: %w", err)
	}
	return &Browser{ctx: ctx, dir: dir, cancel: func() { cancel(); allocCancel() }}, nil
}

// Close stops Chromium and removes its profile.
func (b *Browser) Close() error {
	b.cancel()
	return os.RemoveAll(b.dir)
}

// sharedBrowser is the test binary's Chromium for the --dev node's tests,
// started by the first test that needs it and closed by TestMain.
var sharedBrowser struct {
	sync.Mutex
	b *Browser
}

// devBrowser returns the shared browser, starting it if needed.
func devBrowser(tb testing.TB) *Browser {
	tb.Helper()
	sharedBrowser.Lock()
	defer sharedBrowser.Unlock()
	if sharedBrowser.b == nil {
		b, err := NewBrowser(tb)
		if err != nil {
			tb.Fatal(err)
		}
		sharedBrowser.b = b
	}
	return sharedBrowser.b
}

// closeBrowser stops the shared browser, if one was started.
func closeBrowser() error {
	sharedBrowser.Lock()
	defer sharedBrowser.Unlock()
	if sharedBrowser.b == nil {
		return nil
	}
	err := sharedBrowser.b.Close()
	sharedBrowser.b = nil
	return err
}

// caSPKI returns the base64 SHA-256 of the cluster CA's public key, the
// form --ignore-certificate-errors-spki-list takes.
func caSPKI(tb testing.TB, c *Cluster) string {
	tb.Helper()
	b, err := os.ReadFile(c.CAFile())
	if err != nil {
		tb.Fatal(err)
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		tb.Fatalf("e2e: %s holds no PEM block", c.CAFile())
	}
	cert, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		tb.Fatal(err)
	}
	sum := sha256.Sum256(cert.RawSubjectPublicKeyInfo)
	return base64.StdEncoding.EncodeToString(sum[:])
}

// request is one request the page made, with what came back.
type request struct {
	URL     string
	Method  string
	Status  int64
	Bytes   float64 // encoded bytes received: headers and body as sent
	Failed  string
	Aborted bool
	Done    bool
}

// Page is one tab on a node's dashboard.
type Page struct {
	tb     testing.TB
	ctx    context.Context
	cancel context.CancelFunc
	base   string // the node's URL: scheme://host:port
	host   string // host:port every request must go to

	mu       sync.Mutex
	requests map[network.RequestID]*request
	order    []network.RequestID
	problems []string // console errors, exceptions, dialogs
	warnings []string
	// allowStatus lists HTTP statuses the test expects some API calls to
	// get (a 400 of a form, a 401 of a revoked key).
	allowStatus map[int64]bool
}

// NewPage opens a tab in a new browser context on the node at base and
// registers the checks that run when the test ends.
func (b *Browser) NewPage(tb testing.TB, base string) *Page {
	tb.Helper()
	u, err := url.Parse(base)
	if err != nil {
		tb.Fatal(err)
	}
	p := &Page{tb: tb, base: strings.TrimSuffix(base, "/"), host: u.Host,
		requests: map[network.RequestID]*request{}, allowStatus: map[int64]bool{}}
	p.ctx, p.cancel = chromedp.NewContext(b.ctx, chromedp.WithNewBrowserContext(), chromedp.WithListener(p.listen))
	// The first Do opens the tab and binds its life to its context: p.ctx,
	// not one with a timeout.
	if err := chromedp.Do(p.ctx); err != nil {
		p.cancel()
		tb.Fatalf("e2e: open a tab: %v", err)
	}
	tb.Cleanup(func() {
		p.Check()
		p.cancel()
	})
	return p
}

// listen runs in the tab's event loop: it records and returns at once.
func (p *Page) listen(ev any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch ev := ev.(type) {
	case *network.EventRequestWillBeSent:
		r := p.requests[ev.RequestID]
		if r == nil {
			r = &request{}
			p.requests[ev.RequestID] = r
			p.order = append(p.order, ev.RequestID)
		}
		r.URL, r.Method = ev.Request.URL, ev.Request.Method
	case *network.EventResponseReceived:
		if r := p.requests[ev.RequestID]; r != nil {
			r.Status = ev.Response.Status
		}
	case *network.EventLoadingFinished:
		if r := p.requests[ev.RequestID]; r != nil {
			r.Bytes, r.Done = ev.EncodedDataLength, true
		}
	case *network.EventLoadingFailed:
		if r := p.requests[ev.RequestID]; r != nil {
			r.Failed, r.Aborted, r.Done = ev.ErrorText, ev.Canceled, true
		}
	case *runtime.EventConsoleAPICalled:
		msg := fmt.Sprintf("console.%s: %s", ev.Type, consoleText(ev.Args))
		switch ev.Type {
		case runtime.ConsoleAPICalledTypeError, runtime.ConsoleAPICalledTypeAssert:
			p.problems = append(p.problems, msg)
		case runtime.ConsoleAPICalledTypeWarning:
			p.warnings = append(p.warnings, msg)
		}
	case *runtime.EventExceptionThrown:
		d := ev.ExceptionDetails
		text := d.Text
		if d.Exception != nil && d.Exception.Description != "" {
			text += " " + d.Exception.Description
		}
		p.problems = append(p.problems, fmt.Sprintf("uncaught exception at %s:%d: %s", d.URL, d.LineNumber+1, text))
	case *log.EventEntryAdded:
		e := ev.Entry
		// A failed request is logged by the browser as an error; its status
		// is checked with the requests (a test may expect a 400 or a 401).
		if e.Level == log.EntryLevelError && e.Source != log.EntrySourceNetwork {
			p.problems = append(p.problems, fmt.Sprintf("browser log (%s): %s %s", e.Source, e.Text, e.URL))
		}
	case *page.EventJavascriptDialogOpening:
		p.problems = append(p.problems, fmt.Sprintf("a JavaScript %s dialog opened: %q", ev.Type, ev.Message))
		go func() { // answered outside the event loop, as chromedp requires
			ctx, cancel := context.WithTimeout(p.ctx, 5*time.Second)
			defer cancel()
			_, _ = chromedp.Call(ctx, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: false})
		}()
	}
}

func consoleText(args []*runtime.RemoteObject) string {
	var parts []string
	for _, a := range args {
		switch {
		case len(a.Value) > 0:
			var s string
			if json.Unmarshal(a.Value, &s) == nil {
				parts = append(parts, s)
			} else {
				parts = append(parts, string(a.Value))
			}
		case a.Description != "":
			parts = append(parts, a.Description)
		default:
			parts = append(parts, string(a.Type))
		}
	}
	return strings.Join(parts, " ")
}

// AllowStatus lets API calls answer status without failing the test.
func (p *Page) AllowStatus(status ...int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, s := range status {
		p.allowStatus[s] = true
	}
}

// Requests returns what the page requested so far, in order.
func (p *Page) Requests() []request {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]request, 0, len(p.order))
	for _, id := range p.order {
		out = append(out, *p.requests[id])
	}
	return out
}

// ResetRequests forgets the requests recorded so far, after checking them.
func (p *Page) ResetRequests() {
	p.checkRequests()
	p.mu.Lock()
	defer p.mu.Unlock()
	p.requests = map[network.RequestID]*request{}
	p.order = nil
}

// Check fails the test for any request to another host, any failed
// request, any console error, uncaught exception or dialog seen so far.
func (p *Page) Check() {
	p.tb.Helper()
	p.checkRequests()
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, w := range p.warnings {
		p.tb.Logf("page warning: %s", w)
	}
	p.warnings = nil
	for _, pr := range p.problems {
		p.tb.Errorf("e2e: the page: %s", pr)
	}
	p.problems = nil
}

func (p *Page) checkRequests() {
	p.tb.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, id := range p.order {
		r := p.requests[id]
		if err := p.checkRequest(r); err != nil {
			p.tb.Errorf("e2e: the page: %v", err)
		}
	}
}

func (p *Page) checkRequest(r *request) error {
	u, err := url.Parse(r.URL)
	if err != nil {
		return fmt.Errorf("request to an unparsable URL %q", r.URL)
	}
	switch u.Scheme {
	case "data", "blob", "about":
		return nil
	}
	if u.Host != p.host {
		return fmt.Errorf("%s %s went to %q, not to the node %s", r.Method, r.URL, u.Host, p.host)
	}
	switch {
	case r.Failed != "" && !r.Aborted && r.Failed != "net::ERR_ABORTED":
		return fmt.Errorf("%s %s failed: %s", r.Method, r.URL, r.Failed)
	case r.Status >= 500:
		return fmt.Errorf("%s %s answered %d", r.Method, r.URL, r.Status)
	case r.Status >= 400 && !(isAPIPath(u.Path) && p.allowStatus[r.Status]):
		return fmt.Errorf("%s %s answered %d", r.Method, r.URL, r.Status)
	}
	return nil
}

// isAPIPath reports whether path is one of the node's API routes (rather
// than a file of the dashboard, which must never fail).
func isAPIPath(path string) bool {
	return strings.HasPrefix(path, "/api/") || strings.HasPrefix(path, "/.well-known/")
}

// run runs actions with the harness's bound.
func (p *Page) run(what string, actions ...chromedp.Action[chromedp.Void]) {
	p.tb.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, browserWait)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		p.tb.Fatalf("e2e: %s: %v", what, err)
	}
}

// Open loads the dashboard at the hash route as a new document, as a user
// typing the address does (from about:blank, so that a change of the hash
// alone is a new load too).
func (p *Page) Open(route string) {
	p.tb.Helper()
	p.run("open "+route, chromedp.Navigate("about:blank"), chromedp.Navigate(p.base+"/#"+route))
}

// Go moves to a hash route inside the loaded page, as a link does, and
// waits until the page left what it showed (the new view is then drawn).
func (p *Page) Go(route string) {
	p.tb.Helper()
	var moved bool
	p.Eval(fmt.Sprintf(`(() => {
		if (location.hash === %[1]s) return false;
		window.e2eLeft = document.querySelector('main').firstElementChild;
		location.hash = %[1]s;
		return true;
	})()`, jsString("#"+route)), &moved)
	if moved {
		p.WaitJS("the page to leave its view for "+route, `!window.e2eLeft || !window.e2eLeft.isConnected`)
	}
}

// Reload reloads the page (a new document, same tab and session storage).
func (p *Page) Reload() {
	p.tb.Helper()
	p.run("reload", chromedp.Reload())
}

// Eval evaluates a JavaScript expression in the page and decodes its value
// into out (when not nil). DevTools evaluation is not subject to the page's
// CSP, so tests may read anything; they change the page only as a user does.
func (p *Page) Eval(expr string, out any) {
	p.tb.Helper()
	if err := p.eval(expr, out); err != nil {
		p.tb.Fatalf("e2e: evaluate %s: %v", expr, err)
	}
}

func (p *Page) eval(expr string, out any) error {
	ctx, cancel := context.WithTimeout(p.ctx, browserWait)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[json.RawMessage](expr))
	if err != nil {
		return err
	}
	if out != nil && len(v) > 0 {
		return json.Unmarshal(v, out)
	}
	return nil
}

// WaitJS waits until the expression is truthy, re-evaluating it every
// browserPoll for at most browserWait, and fails the test naming what.
// The expression is evaluated by DevTools, never compiled by the page (its
// CSP forbids eval and Function).
func (p *Page) WaitJS(what, expr string) {
	p.tb.Helper()
	if err := p.waitJS(browserWait, expr); err != nil {
		p.tb.Fatalf("e2e: waiting for %s: %v\npage: %s", what, err, p.summary())
	}
}

func (p *Page) waitJS(timeout time.Duration, expr string) error {
	deadline := time.Now().Add(timeout)
	var last error
	for {
		var ok bool
		err := p.eval("Boolean("+expr+")", &ok)
		if err == nil && ok {
			return nil
		}
		if err != nil {
			last = err
		}
		if time.Now().After(deadline) {
			if last == nil {
				last = errors.New("still false")
			}
			return fmt.Errorf("not true after %v: %s: %w", timeout, expr, last)
		}
		select {
		case <-p.ctx.Done():
			return p.ctx.Err()
		case <-time.After(browserPoll):
		}
	}
}

// summary is what the page shows, for a failed wait's message.
func (p *Page) summary() string {
	var s string
	_ = p.eval(`location.hash + " | " + (document.querySelector('main') || document.body).innerText.slice(0, 600)`, &s)
	return s
}

// Click clicks the first element matching the CSS selector, once it is
// visible.
func (p *Page) Click(sel string) {
	p.tb.Helper()
	p.run("click "+sel, chromedp.Click(chromedp.CSS(sel), chromedp.NodeVisible))
}

// Count returns how many elements match the CSS selector.
func (p *Page) Count(sel string) int {
	p.tb.Helper()
	var n int
	p.Eval(fmt.Sprintf("document.querySelectorAll(%s).length", jsString(sel)), &n)
	return n
}

// Hash returns the location's hash.
func (p *Page) Hash() string {
	p.tb.Helper()
	var s string
	p.Eval("location.hash", &s)
	return s
}

// WaitView waits for the view's root (data-view) and for ready, a JS
// expression over `root` saying its data is shown.
func (p *Page) WaitView(view, ready string) {
	p.tb.Helper()
	if ready == "" {
		ready = "true"
	}
	p.WaitJS("view "+view, fmt.Sprintf(`(() => { const root = document.querySelector('[data-view=%s]'); return root && !root.querySelector('.loading') && (%s); })()`, jsString(view), ready))
}

// Viewport sets the page's size in CSS pixels; mobile emulates a phone's
// touch screen and viewport handling.
func (p *Page) Viewport(w, h int64, mobile bool) {
	p.tb.Helper()
	opts := []chromedp.EmulateViewportOption{chromedp.EmulateScale(1)}
	if mobile {
		opts = append(opts, chromedp.EmulateMobile)
	} else {
		opts = append(opts, func(d *emulation.SetDeviceMetricsOverrideParams, t *emulation.SetTouchEmulationEnabledParams) {
			d.Mobile, t.Enabled = false, false
		})
	}
	p.run("set the viewport", chromedp.EmulateViewport(w, h, opts...))
}

// Screenshot writes the visible part of the page to name.png in the
// screenshots' directory.
func (p *Page) Screenshot(name string) {
	p.tb.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, browserWait)
	defer cancel()
	buf, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		p.tb.Fatalf("e2e: screenshot %s: %v", name, err)
	}
	dir := screenshotDir(p.tb)
	if err := os.WriteFile(filepath.Join(dir, name+".png"), buf, 0o644); err != nil {
		p.tb.Fatal(err)
	}
}

var screenshotsOnce struct {
	sync.Mutex
	dir string
}

// screenshotDir is where screenshots go: $CERTCTL_SCREENSHOTS, or a
// directory of this run under the temporary directory, emptied once per
// test binary and named in the log.
func screenshotDir(tb testing.TB) string {
	tb.Helper()
	screenshotsOnce.Lock()
	defer screenshotsOnce.Unlock()
	if screenshotsOnce.dir != "" {
		return screenshotsOnce.dir
	}
	dir := os.Getenv(screenshotsEnv)
	if dir == "" {
		dir = filepath.Join(os.TempDir(), "certctl-screenshots")
		if err := os.RemoveAll(dir); err != nil {
			tb.Fatal(err)
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		tb.Fatal(err)
	}
	tb.Logf("screenshots go to %s", dir)
	screenshotsOnce.dir = dir
	return dir
}

// jsString quotes s as a JavaScript string literal.
func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
