package api

import (
	"container/list"
	"net"
	"net/http"
	"sync"
	"time"
)

// maxFailureAddrs bounds how many client addresses failureLimiter tracks.
// Past it the address whose last failure is oldest is forgotten first.
const maxFailureAddrs = 10_000

// failureLimiter limits failed authentications (an unknown or revoked API
// key) per client address: a token bucket of burst failures, refilled at
// rate a second. While an address's bucket is empty, every request of it
// that presents a key is refused before the key is looked at, so that a
// right guess cannot be told from a wrong one and a guesser gets rate tries
// a second at most. Successes take nothing. It is safe for concurrent use; a
// nil *failureLimiter or rate <= 0 limits nothing.
type failureLimiter struct {
	rate  float64
	burst float64
	max   int

	mu    sync.Mutex
	addrs map[string]*list.Element // of *failureBucket
	order *list.List               // most recent failure at the front
}

type failureBucket struct {
	addr   string
	tokens float64
	last   time.Time
}

func newFailureLimiter(rate float64, burst, max int) *failureLimiter {
	return &failureLimiter{rate: rate, burst: float64(burst), max: max, addrs: map[string]*list.Element{}, order: list.New()}
}

// refill brings b's tokens up to now.
func (l *failureLimiter) refill(b *failureBucket, now time.Time) {
	if d := now.Sub(b.last); d > 0 {
		b.tokens = min(l.burst, b.tokens+d.Seconds()*l.rate)
	}
	b.last = now
}

// blocked reports whether addr has no failure left, and how long until it has.
func (l *failureLimiter) blocked(addr string, now time.Time) (time.Duration, bool) {
	if l == nil || l.rate <= 0 {
		return 0, false
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	e, ok := l.addrs[addr]
	if !ok {
		return 0, false
	}
	b := e.Value.(*failureBucket)
	l.refill(b, now)
	if b.tokens >= 1 {
		return 0, false
	}
	return time.Duration((1 - b.tokens) / l.rate * float64(time.Second)), true
}

// failed takes a token from addr's bucket. It reports whether that emptied
// the bucket, so the caller can say once that the address is now limited.
func (l *failureLimiter) failed(addr string, now time.Time) bool {
	if l == nil || l.rate <= 0 {
		return false
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	e, ok := l.addrs[addr]
	if ok {
		l.order.MoveToFront(e)
	} else {
		if l.order.Len() >= l.max {
			oldest := l.order.Back()
			l.order.Remove(oldest)
			delete(l.addrs, oldest.Value.(*failureBucket).addr)
		}
		e = l.order.PushFront(&failureBucket{addr: addr, tokens: l.burst, last: now})
		l.addrs[addr] = e
	}
	b := e.Value.(*failureBucket)
	l.refill(b, now)
	b.tokens = max(b.tokens-1, 0)
	return b.tokens < 1
}

// tracked returns how many addresses l holds.
func (l *failureLimiter) tracked() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.addrs)
}

// clientAddr is the address failures are counted against: the TCP peer of
// r, never a header (gin's ClientIP would trust X-Forwarded-For from
// anyone, and an attacker would write a new address into each request). An
// IPv6 peer counts as its /64, which one host usually holds whole.
func clientAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	ip := net.ParseIP(host)
	if ip == nil {
		return host
	}
	if v4 := ip.To4(); v4 != nil {
		return v4.String()
	}
	return (&net.IPNet{IP: ip.Mask(net.CIDRMask(64, 128)), Mask: net.CIDRMask(64, 128)}).String()
}
