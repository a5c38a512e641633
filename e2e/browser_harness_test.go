package e2e

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// recordingTB is a testing.TB whose Errorf is recorded instead of failing
// the test: it shows what the harness would fail a test for.
type recordingTB struct {
	testing.TB
	mu   sync.Mutex
	errs []string
}

func (r *recordingTB) Helper() {}

func (r *recordingTB) Errorf(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.errs = append(r.errs, fmt.Sprintf(format, args...))
}

func (r *recordingTB) errors() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return strings.Join(r.errs, "\n")
}

// TestBrowserHarness_FailsABadPage is the harness's own test: a page that
// asks another host for something, logs a console error, throws, opens an
// alert and gets a 404 for one of its files is failed for each; a page that
// does none of that is not.
func TestBrowserHarness_FailsABadPage(t *testing.T) {
	skipShort(t)
	mux := http.NewServeMux()
	mux.HandleFunc("/good", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `<!doctype html><title>good</title><p id="done">fine</p>`)
	})
	mux.HandleFunc("/bad", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `<!doctype html><title>bad</title><img src="/missing.png">
<script>
fetch('http://203.0.113.7:9/beacon').catch(() => {});
console.error('boom');
setTimeout(() => { alert('hi'); document.body.append(Object.assign(document.createElement('p'), {id: 'done'})); throw new Error('uncaught'); }, 0);
</script>`)
	})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv := httptest.NewUnstartedServer(mux)
	srv.Listener.Close()
	srv.Listener = l
	srv.Start()
	defer srv.Close()
	b := devBrowser(t)

	good := &recordingTB{TB: t}
	p := b.NewPage(good, srv.URL)
	p.run("open the good page", chromedp.Navigate(srv.URL+"/good"))
	p.WaitJS("the good page", `document.querySelector('#done')`)
	p.Check()
	assert.Empty(t, good.errors())

	bad := &recordingTB{TB: t}
	p = b.NewPage(bad, srv.URL)
	p.run("open the bad page", chromedp.Navigate(srv.URL+"/bad"))
	p.WaitJS("the bad page's script", `document.querySelector('#done')`)
	require.NoError(t, WaitFor(WaitTimeout, func(context.Context) error {
		for _, r := range p.Requests() {
			if strings.Contains(r.URL, "203.0.113.7") {
				return nil
			}
		}
		return errors.New("the beacon's request is not recorded yet")
	}))
	p.Check()
	got := bad.errors()
	for _, want := range []string{
		`went to "203.0.113.7:9"`,
		"console.error: boom",
		"uncaught exception",
		`alert dialog opened: "hi"`,
		"/missing.png answered 404",
	} {
		assert.Contains(t, got, want)
	}
}
