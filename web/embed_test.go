package web

import (
	"io/fs"
	"net/http"
	"net/http/httptest"
	"path"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func get(t *testing.T, h http.Handler, method, target string, header http.Header) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(method, target, nil)
	for k, v := range header {
		req.Header[k] = v
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	return w
}

func TestHandler_ServesThePageWithItsSecurityHeaders(t *testing.T) {
	h := Handler()
	w := get(t, h, "GET", "/", nil)
	require.Equal(t, 200, w.Code)
	require.Contains(t, w.Body.String(), `<script type="module" src="/assets/app.js"></script>`)
	require.Equal(t, "text/html; charset=utf-8", w.Header().Get("Content-Type"))
	csp := w.Header().Get("Content-Security-Policy")
	for _, directive := range []string{"default-src 'none'", "script-src 'self'", "connect-src 'self'", "frame-ancestors 'none'", "require-trusted-types-for 'script'"} {
		require.Contains(t, csp, directive)
	}
	require.NotContains(t, csp, "unsafe")
	require.Equal(t, "nosniff", w.Header().Get("X-Content-Type-Options"))
	require.Equal(t, "DENY", w.Header().Get("X-Frame-Options"))
	require.Equal(t, "no-referrer", w.Header().Get("Referrer-Policy"))

	js := get(t, h, "GET", "/assets/app.js", nil)
	require.Equal(t, 200, js.Code)
	require.Equal(t, "text/javascript; charset=utf-8", js.Header().Get("Content-Type"))
	require.Equal(t, "no-cache", js.Header().Get("Cache-Control"))
	etag := js.Header().Get("ETag")
	require.NotEmpty(t, etag)
	require.Equal(t, http.StatusNotModified, get(t, h, "GET", "/assets/app.js", http.Header{"If-None-Match": {etag}}).Code)

	require.Equal(t, 200, get(t, h, "HEAD", "/assets/style.css", nil).Code)
	require.Equal(t, 404, get(t, h, "GET", "/assets/nope.js", nil).Code)
	require.Equal(t, 404, get(t, h, "GET", "/assets/../embed.go", nil).Code)
	require.Equal(t, 404, get(t, h, "GET", "/static/index.html", nil).Code)
	require.Equal(t, 405, get(t, h, "POST", "/", nil).Code)
}

// The dashboard makes no request outside the node, and never turns a string
// into HTML or code: checked on the files themselves, so that a change adding
// a CDN link or an innerHTML fails here before any browser runs.
func TestAssets_StayOnTheNodeAndUseNoHTMLSinks(t *testing.T) {
	root, err := fs.Sub(static, "static")
	require.NoError(t, err)
	outside := regexp.MustCompile(`(?i)(https?:)?//[a-z0-9.-]+\.[a-z]{2,}|@import|url\(\s*['"]?(https?:|//)`)
	sinks := regexp.MustCompile(`\.innerHTML|\.outerHTML|insertAdjacentHTML|document\.write|\beval\(|new Function\(|setTimeout\(\s*['"]|createContextualFragment`)
	imports := regexp.MustCompile(`(?m)^\s*import\s+(?:[^'"]+\s+from\s+)?['"]([^'"]+)['"]`)
	files := 0
	require.NoError(t, fs.WalkDir(root, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		files++
		b, err := fs.ReadFile(root, p)
		require.NoError(t, err)
		text := string(b)
		if path.Ext(p) == ".svg" {
			text = strings.ReplaceAll(text, "http://www.w3.org/2000/svg", "")
		}
		if path.Ext(p) == ".js" {
			text = strings.ReplaceAll(text, "'http://www.w3.org/2000/svg'", "")
			require.Nil(t, sinks.FindStringIndex(text), "%s uses an HTML or code sink: %q", p, sinks.FindString(text))
			for _, m := range imports.FindAllStringSubmatch(text, -1) {
				target := path.Join(path.Dir(p), m[1])
				_, err := fs.Stat(root, target)
				require.NoError(t, err, "%s imports %s, which is not embedded", p, m[1])
			}
		}
		require.Nil(t, outside.FindStringIndex(text), "%s refers outside the node: %q", p, outside.FindString(text))
		return nil
	}))
	require.Greater(t, files, 5)
}
