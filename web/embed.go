package web

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strconv"
	"strings"
)

//go:embed static
var static embed.FS

// ContentSecurityPolicy is sent with every page and asset. Scripts, styles,
// images and connections come from the node itself only; no inline script or
// style runs; and with Trusted Types required and no policy allowed, a string
// can never reach an HTML sink such as innerHTML, so text from the API (a
// certificate's name, an audit detail) is only ever shown as text.
const ContentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; font-src 'self'; manifest-src 'self'; base-uri 'none'; form-action 'self'; " +
	"frame-ancestors 'none'; require-trusted-types-for 'script'; trusted-types 'none'"

// asset is one embedded file, with the ETag a browser revalidates it by,
// and its gzip encoding (nil when that would not be smaller) with an ETag
// of its own: the two are different representations (RFC 9110 8.8.3), so a
// cache never answers one with the other.
type asset struct {
	body   []byte
	ctype  string
	etag   string
	gz     []byte
	gzEtag string
}

// gzipped compresses b once, at start, at the best ratio (the files are
// small and served many times); nil when it does not save anything.
func gzipped(b []byte) []byte {
	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	if err != nil {
		panic(err)
	}
	if _, err := zw.Write(b); err != nil {
		panic(err)
	}
	if err := zw.Close(); err != nil {
		panic(err)
	}
	if buf.Len() >= len(b) {
		return nil
	}
	return buf.Bytes()
}

// noneMatch reports whether an If-None-Match header names etag (weak
// comparison, RFC 9110 13.1.2) or is "*": the browser holds this very
// representation and is answered 304.
func noneMatch(header, etag string) bool {
	for _, tag := range strings.Split(header, ",") {
		tag = strings.TrimPrefix(strings.TrimSpace(tag), "W/")
		if tag == "*" || tag == etag {
			return true
		}
	}
	return false
}

// acceptsGzip reports whether the request's Accept-Encoding allows gzip: a
// "gzip" (or "x-gzip") or "*" coding whose q is not 0, and no "gzip;q=0".
func acceptsGzip(r *http.Request) bool {
	ok := false
	for _, v := range r.Header.Values("Accept-Encoding") {
		for _, part := range strings.Split(v, ",") {
			name, params, _ := strings.Cut(strings.TrimSpace(part), ";")
			name = strings.ToLower(strings.TrimSpace(name))
			if name != "gzip" && name != "x-gzip" && name != "*" {
				continue
			}
			allowed := true
			for _, p := range strings.Split(params, ";") {
				k, q, found := strings.Cut(strings.TrimSpace(p), "=")
				if found && strings.EqualFold(strings.TrimSpace(k), "q") {
					if f, err := strconv.ParseFloat(strings.TrimSpace(q), 64); err != nil || f == 0 {
						allowed = false
					}
				}
			}
			if name == "*" {
				ok = ok || allowed
				continue
			}
			if !allowed {
				return false // gzip refused by name outweighs a "*"
			}
			ok = true
		}
	}
	return ok
}

// Handler serves the dashboard: index.html at "/" and the files under
// /assets/. Every answer carries the security headers; assets are revalidated
// on each load (no-cache with an ETag), so an upgraded node serves its own
// files at once and an unchanged one answers 304.
func Handler() http.Handler {
	assets := map[string]*asset{}
	root, err := fs.Sub(static, "static")
	if err != nil {
		panic(err)
	}
	err = fs.WalkDir(root, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(root, p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(b)
		ctype := mime.TypeByExtension(path.Ext(p))
		if ctype == "" {
			ctype = "application/octet-stream"
		}
		if path.Ext(p) == ".js" {
			ctype = "text/javascript; charset=utf-8"
		}
		a := &asset{body: b, ctype: ctype, etag: `"` + hex.EncodeToString(sum[:12]) + `"`}
		if a.gz = gzipped(b); a.gz != nil {
			a.gzEtag = `"` + hex.EncodeToString(sum[:12]) + `-gzip"`
		}
		assets["/"+p] = a
		return nil
	})
	if err != nil {
		panic(err)
	}
	index := assets["/index.html"]
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", ContentSecurityPolicy)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		h.Set("Cross-Origin-Resource-Policy", "same-origin")
		h.Set("Permissions-Policy", "camera=(), microphone=(), geolocation=(), payment=()")
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			h.Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		a := index
		if r.URL.Path != "/" && r.URL.Path != "/index.html" {
			a = nil
			if strings.HasPrefix(r.URL.Path, "/assets/") {
				a = assets[r.URL.Path]
			}
		}
		if a == nil {
			http.NotFound(w, r)
			return
		}
		body, etag := a.body, a.etag
		if a.gz != nil {
			h.Add("Vary", "Accept-Encoding")
			if acceptsGzip(r) {
				body, etag = a.gz, a.gzEtag
				h.Set("Content-Encoding", "gzip")
			}
		}
		h.Set("Content-Type", a.ctype)
		h.Set("Cache-Control", "no-cache")
		h.Set("ETag", etag)
		if noneMatch(r.Header.Get("If-None-Match"), etag) {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		h.Set("Content-Length", strconv.Itoa(len(body)))
		w.WriteHeader(http.StatusOK)
		if r.Method != http.MethodHead {
			_, _ = w.Write(body)
		}
	})
}
