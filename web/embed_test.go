package web

import (
	"bytes"
	"compress/gzip"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"path"
	"regexp"
	"strconv"
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
	imports := regexp.MustCompile(`(?m)^\s*import\s+(?:[^'"]+\s+from\s+)?['"]([^'"]+)['"]|\bimport\(\s*['"]([^'"]+)['"]\s*\)`)
	dynamic := 0
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
				spec := m[1]
				if m[2] != "" {
					spec = m[2]
					dynamic++
				}
				require.True(t, strings.HasPrefix(spec, "./") || strings.HasPrefix(spec, "../"), "%s imports %q: only the node's own files, by a relative path", p, spec)
				target := path.Join(path.Dir(p), spec)
				_, err := fs.Stat(root, target)
				require.NoError(t, err, "%s imports %s, which is not embedded", p, spec)
			}
		}
		require.Nil(t, outside.FindStringIndex(text), "%s refers outside the node: %q", p, outside.FindString(text))
		return nil
	}))
	require.Greater(t, files, 5)
	require.Greater(t, dynamic, 10, "the views are imported when first shown (views/index.js)")
}

// Every compressible file is also served gzip-compressed to a browser that
// accepts it: a representation of its own (Content-Encoding, its own ETag,
// Content-Length of the compressed bytes), with Vary: Accept-Encoding on
// both, and revalidation (304) and HEAD right for each.
func TestHandler_ServesGzipWhenAccepted(t *testing.T) {
	h := Handler()
	gz := http.Header{"Accept-Encoding": {"gzip, deflate, br, zstd"}}

	plain := get(t, h, "GET", "/assets/app.js", nil)
	require.Equal(t, 200, plain.Code)
	require.Empty(t, plain.Header().Get("Content-Encoding"))
	require.Equal(t, "Accept-Encoding", plain.Header().Get("Vary"))
	require.Equal(t, strconv.Itoa(plain.Body.Len()), plain.Header().Get("Content-Length"))

	zipped := get(t, h, "GET", "/assets/app.js", gz)
	require.Equal(t, 200, zipped.Code)
	require.Equal(t, "gzip", zipped.Header().Get("Content-Encoding"))
	require.Equal(t, "Accept-Encoding", zipped.Header().Get("Vary"))
	require.Equal(t, "text/javascript; charset=utf-8", zipped.Header().Get("Content-Type"))
	require.Equal(t, strconv.Itoa(zipped.Body.Len()), zipped.Header().Get("Content-Length"))
	require.Less(t, zipped.Body.Len(), plain.Body.Len())
	zr, err := gzip.NewReader(bytes.NewReader(zipped.Body.Bytes()))
	require.NoError(t, err)
	unzipped, err := io.ReadAll(zr)
	require.NoError(t, err)
	require.Equal(t, plain.Body.Bytes(), unzipped, "the same file")
	require.Equal(t, "no-cache", zipped.Header().Get("Cache-Control"))
	require.Equal(t, ContentSecurityPolicy, zipped.Header().Get("Content-Security-Policy"))

	plainTag, zipTag := plain.Header().Get("ETag"), zipped.Header().Get("ETag")
	require.NotEmpty(t, zipTag)
	require.NotEqual(t, plainTag, zipTag, "one ETag per encoding")

	// Revalidation: each representation by its own tag.
	nm := get(t, h, "GET", "/assets/app.js", http.Header{"Accept-Encoding": {"gzip"}, "If-None-Match": {zipTag}})
	require.Equal(t, http.StatusNotModified, nm.Code)
	require.Zero(t, nm.Body.Len())
	require.Equal(t, zipTag, nm.Header().Get("ETag"))
	require.Equal(t, "Accept-Encoding", nm.Header().Get("Vary"))
	require.Equal(t, http.StatusNotModified, get(t, h, "GET", "/assets/app.js", http.Header{"If-None-Match": {plainTag}}).Code)
	require.Equal(t, http.StatusNotModified, get(t, h, "GET", "/assets/app.js", http.Header{"Accept-Encoding": {"gzip"}, "If-None-Match": {`"x", ` + zipTag}}).Code)
	stale := get(t, h, "GET", "/assets/app.js", http.Header{"If-None-Match": {zipTag}})
	require.Equal(t, 200, stale.Code, "the gzip tag does not validate the plain file")
	require.Equal(t, plain.Body.Bytes(), stale.Body.Bytes())
	require.Equal(t, 200, get(t, h, "GET", "/assets/app.js", http.Header{"Accept-Encoding": {"gzip"}, "If-None-Match": {plainTag}}).Code)

	// HEAD: the headers of the GET, no body.
	head := get(t, h, "HEAD", "/assets/app.js", gz)
	require.Equal(t, 200, head.Code)
	require.Equal(t, "gzip", head.Header().Get("Content-Encoding"))
	require.Equal(t, zipped.Header().Get("Content-Length"), head.Header().Get("Content-Length"))
	require.Equal(t, zipTag, head.Header().Get("ETag"))
	require.Zero(t, head.Body.Len())

	// What Accept-Encoding allows.
	for ae, want := range map[string]bool{
		"gzip": true, "GZIP": true, "x-gzip": true, "br;q=1.0, gzip;q=0.5": true, "*": true, "identity, *;q=0.1": true,
		"": false, "identity": false, "br": false, "gzip;q=0": false, "gzip; q=0.000": false, "*;q=0": false, "*, gzip;q=0": false, "gzip;q=nope": false,
	} {
		hdr := http.Header{}
		if ae != "" {
			hdr.Set("Accept-Encoding", ae)
		}
		w := get(t, h, "GET", "/assets/style.css", hdr)
		require.Equal(t, 200, w.Code)
		require.Equal(t, want, w.Header().Get("Content-Encoding") == "gzip", "Accept-Encoding %q", ae)
	}

	// Every script and style sheet, and the page, is compressed.
	root, err := fs.Sub(static, "static")
	require.NoError(t, err)
	var raw, packed int
	require.NoError(t, fs.WalkDir(root, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		target := "/" + p
		w := get(t, h, "GET", target, gz)
		require.Equal(t, 200, w.Code, target)
		b, _ := fs.ReadFile(root, p)
		raw += len(b)
		packed += w.Body.Len()
		if ext := path.Ext(p); ext == ".js" || ext == ".css" || ext == ".html" {
			require.Equal(t, "gzip", w.Header().Get("Content-Encoding"), target)
		}
		return nil
	}))
	t.Logf("the dashboard's files: %d bytes, %d gzip-compressed", raw, packed)
	require.Equal(t, "gzip", get(t, h, "GET", "/", gz).Header().Get("Content-Encoding"))
}
