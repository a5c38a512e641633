package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/certctl/certctl/api/wire"
)

// ACME HTTP-01 answered on this host (issuers with http01_responder agent).
//
// The agent asks the cluster every ACMEPoll for the answers of orders for
// certificates mapped to its targets (the cluster hands it no other), puts
// each where the CA looks for it (its own listener on ACMEHTTPAddr, or a
// file under ACMEWebroot/.well-known/acme-challenge/ for the host's web
// server), then confirms it; the order asks the CA to validate only after a
// confirmation. An answer the cluster no longer lists, or whose time ran
// out, is taken down (the file removed). The listener answers the live
// tokens and nothing else: 404 for every other path.

// ACMEAPI is the part of the agent protocol HTTP-01 answers use;
// *client.Client is one.
type ACMEAPI interface {
	ACMEChallenges(ctx context.Context, agentID string) (*wire.ACMEChallengesResponse, error)
	ConfirmACMEChallenge(ctx context.Context, agentID, token string) error
}

// DefaultACMEPoll is how often an agent that answers HTTP-01 asks for
// answers: the order waits for it (20 s by default on the server).
const DefaultACMEPoll = 2 * time.Second

const acmePathPrefix = "/.well-known/acme-challenge/"

// Bounds of what the agent accepts from the cluster as an answer.
const (
	maxACMEToken   = 128
	maxACMEKeyAuth = 256
)

// answer is one served HTTP-01 answer.
type answer struct {
	keyAuth   string
	expiresAt time.Time
	confirmed bool
}

// Responder holds the HTTP-01 answers this agent serves: an http.Handler
// for the listener, and the files of the webroot. Safe for concurrent use.
type Responder struct {
	webroot string // "" when the answers are not written as files
	now     func() time.Time
	log     *slog.Logger

	mu   sync.Mutex
	live map[string]*answer
}

// NewResponder returns a Responder; webroot, when set, is the directory
// under which .well-known/acme-challenge/ files are written (it must
// exist).
func NewResponder(webroot string, now func() time.Time, log *slog.Logger) (*Responder, error) {
	if webroot != "" {
		if !filepath.IsAbs(webroot) || filepath.Clean(webroot) != webroot {
			return nil, fmt.Errorf("agent: acme_webroot %q must be an absolute directory in clean form, such as /var/www/html", webroot)
		}
		if fi, err := os.Stat(webroot); err != nil || !fi.IsDir() {
			return nil, fmt.Errorf("agent: acme_webroot %q is not a directory", webroot)
		}
	}
	if now == nil {
		now = time.Now
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Responder{webroot: webroot, now: now, log: log, live: map[string]*answer{}}, nil
}

// validToken reports whether token is 1 to 128 base64url characters: safe
// as a file name and in a URL path.
func validToken(token string) bool {
	if token == "" || len(token) > maxACMEToken {
		return false
	}
	for _, c := range []byte(token) {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// validKeyAuth reports whether keyAuth is the token, a dot and a
// base64url thumbprint (RFC 8555 §8.1).
func validKeyAuth(token, keyAuth string) bool {
	thumb, ok := strings.CutPrefix(keyAuth, token+".")
	return ok && len(keyAuth) <= maxACMEKeyAuth && validToken(thumb)
}

// ServeHTTP answers GET and HEAD /.well-known/acme-challenge/<token> for a
// live token; 404 for anything else.
func (r *Responder) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	token, ok := strings.CutPrefix(req.URL.Path, acmePathPrefix)
	if !ok || !validToken(token) {
		http.NotFound(w, req)
		return
	}
	if req.Method != http.MethodGet && req.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	keyAuth, ok := r.lookup(token)
	if !ok {
		http.NotFound(w, req)
		return
	}
	w.Header().Set("Content-Type", "text/plain")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write([]byte(keyAuth))
}

func (r *Responder) lookup(token string) (string, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	a, ok := r.live[token]
	if !ok || !a.expiresAt.After(r.now()) {
		return "", false
	}
	return a.keyAuth, true
}

// Tokens returns the tokens served now.
func (r *Responder) Tokens() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]string, 0, len(r.live))
	for t := range r.live {
		out = append(out, t)
	}
	return out
}

// Sync makes the served answers those of list: new ones are put in place,
// the others taken down. It returns the tokens to confirm (served now,
// not yet confirmed by this agent). Answers that are malformed or expired
// are skipped.
func (r *Responder) Sync(list []wire.ACMEChallenge) []string {
	now := r.now()
	want := map[string]wire.ACMEChallenge{}
	for _, c := range list {
		if !validToken(c.Token) || !validKeyAuth(c.Token, c.KeyAuthorization) || !c.ExpiresAt.After(now) {
			r.log.Warn("acme answer from the cluster ignored: malformed or expired", "token", fmt.Sprintf("%.40q", c.Token))
			continue
		}
		want[c.Token] = c
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for token, a := range r.live {
		if c, ok := want[token]; !ok || c.KeyAuthorization != a.keyAuth || !a.expiresAt.After(now) {
			r.remove(token)
		}
	}
	var confirm []string
	for token, c := range want {
		a, ok := r.live[token]
		if !ok {
			if err := r.writeFile(token, c.KeyAuthorization); err != nil {
				r.log.Error("acme answer not written to the webroot", "token", token, "err", err)
				continue
			}
			a = &answer{keyAuth: c.KeyAuthorization, expiresAt: c.ExpiresAt}
			r.live[token] = a
			r.log.Info("acme http-01 answer served", "token", token, "certificate", c.CertificateID)
		}
		if !a.confirmed {
			confirm = append(confirm, token)
		}
	}
	return confirm
}

// Confirmed records that the cluster took this agent's confirmation.
func (r *Responder) Confirmed(token string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if a, ok := r.live[token]; ok {
		a.confirmed = true
	}
}

// Close takes every answer down.
func (r *Responder) Close() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for token := range r.live {
		r.remove(token)
	}
}

// remove takes token down; r.mu is held.
func (r *Responder) remove(token string) {
	delete(r.live, token)
	r.log.Info("acme http-01 answer taken down", "token", token)
	if r.webroot == "" {
		return
	}
	if err := os.Remove(filepath.Join(r.webroot, filepath.FromSlash(acmePathPrefix), token)); err != nil && !errors.Is(err, os.ErrNotExist) {
		r.log.Warn("acme answer file not removed", "token", token, "err", err)
	}
}

// writeFile writes the answer of token under the webroot, readable by the
// web server (0644: it is what the CA reads). Token is checked by the
// caller: base64url only, it names a file in that directory and no other.
func (r *Responder) writeFile(token, keyAuth string) error {
	if r.webroot == "" {
		return nil
	}
	// .well-known and acme-challenge are made here or must be real
	// directories: a symbolic link in the webroot (its web application may
	// write there) must not send the agent's write elsewhere.
	dir := r.webroot
	for _, part := range []string{".well-known", "acme-challenge"} {
		dir = filepath.Join(dir, part)
		if err := os.Mkdir(dir, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
			return err
		}
		fi, err := os.Lstat(dir)
		if err != nil {
			return err
		}
		if !fi.IsDir() {
			return fmt.Errorf("agent: %s is not a directory (a symbolic link?): the ACME answers are written only into real directories under acme_webroot", dir)
		}
	}
	path := filepath.Join(dir, token)
	if fi, err := os.Lstat(path); err == nil && !fi.Mode().IsRegular() {
		return fmt.Errorf("agent: %s exists and is not a regular file", path)
	}
	return writeFileAtomic(path, []byte(keyAuth), 0o644)
}

// ServeACME listens on addr and serves r's answers until ctx ends.
func ServeACME(ctx context.Context, addr string, r *Responder, log *slog.Logger) (net.Addr, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("agent: acme http-01 listener: %w (choose another acme_http_addr)", err)
	}
	srv := &http.Server{Handler: r, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second,
		WriteTimeout: 10 * time.Second, IdleTimeout: 30 * time.Second, MaxHeaderBytes: 8 << 10}
	go func() { _ = srv.Serve(ln) }()
	context.AfterFunc(ctx, func() {
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	})
	if log != nil {
		log.Info("acme http-01 answers served", "addr", ln.Addr().String())
	}
	return ln.Addr(), nil
}

// SyncACME fetches the answers this agent is to serve, serves them and
// confirms the new ones.
func (a *Agent) SyncACME(ctx context.Context) error {
	list, err := a.acmeAPI.ACMEChallenges(ctx, a.cfg.AgentID)
	if err != nil {
		return a.apiErr(err)
	}
	var errs []error
	for _, token := range a.responder.Sync(list.Challenges) {
		if err := a.acmeAPI.ConfirmACMEChallenge(ctx, a.cfg.AgentID, token); err != nil {
			errs = append(errs, fmt.Errorf("confirm acme answer %s: %w", token, a.apiErr(err)))
			continue
		}
		a.responder.Confirmed(token)
	}
	return errors.Join(errs...)
}
