package acme

import (
	"net/http"
	"strings"
	"time"

	"github.com/go-acme/lego/v5/challenge/http01"
)

// AnswerReader reads the published HTTP-01 answers; *fsm.FSM satisfies it.
type AnswerReader interface {
	// ACMEChallengeAnswer returns the key authorization of token if it is
	// live at now.
	ACMEChallengeAnswer(token string, now time.Time) (string, bool)
}

// HandlerOptions tune ChallengeHandler; zero fields take their defaults.
type HandlerOptions struct {
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Wait is how long a request for a token this node does not know yet
	// waits for it to arrive through Raft (a follower applies a committed
	// answer a heartbeat after the leader): default 2s, negative none.
	Wait time.Duration
	// MaxWaiting bounds the requests waiting at once; others are answered
	// 404 at once. Default 32.
	MaxWaiting int
}

// ChallengeHandler serves GET /.well-known/acme-challenge/<token> from
// the replicated answers: the key authorization of a live token as
// text/plain, 404 for anything else (an unknown, malformed or expired
// token, another path), 405 for a method other than GET and HEAD. It is
// public, as the CA's validation request is unauthenticated; it answers
// only what the CA is meant to read.
func ChallengeHandler(answers AnswerReader, opts HandlerOptions) http.Handler {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Wait == 0 {
		opts.Wait = 2 * time.Second
	}
	if opts.MaxWaiting <= 0 {
		opts.MaxWaiting = 32
	}
	waiting := make(chan struct{}, opts.MaxWaiting)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		token, ok := strings.CutPrefix(r.URL.Path, http01.PathPrefix)
		if !ok || token == "" || strings.Contains(token, "/") {
			http.NotFound(w, r)
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		keyAuth, ok := answers.ACMEChallengeAnswer(token, opts.Now())
		if !ok && opts.Wait > 0 {
			keyAuth, ok = wait(r, answers, token, opts, waiting)
		}
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/plain")
		w.Header().Set("Cache-Control", "no-store")
		_, _ = w.Write([]byte(keyAuth))
	})
}

// wait polls for token until opts.Wait has passed or the request ends, if
// fewer than opts.MaxWaiting requests already wait.
func wait(r *http.Request, answers AnswerReader, token string, opts HandlerOptions, waiting chan struct{}) (string, bool) {
	select {
	case waiting <- struct{}{}:
		defer func() { <-waiting }()
	default:
		return "", false
	}
	deadline := time.NewTimer(opts.Wait)
	defer deadline.Stop()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-r.Context().Done():
			return "", false
		case <-deadline.C:
			return "", false
		case <-tick.C:
			if keyAuth, ok := answers.ACMEChallengeAnswer(token, opts.Now()); ok {
				return keyAuth, true
			}
		}
	}
}
