package e2e

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Writer creates certificates one after the other, each with a new id, as a
// client that must not lose an acknowledged write would: on a transport error
// or an error status it retries the same id against the next node. A 201 is an
// acknowledgement; so is a 409 on a retry, because an earlier attempt of that
// id landed. Start and Stop are for the test goroutine; the readers are safe
// for concurrent use.
type Writer struct {
	client  *Client
	targets func() []*Node
	fx      Fixtures
	prefix  string
	timeout time.Duration
	backoff time.Duration

	mu       sync.Mutex
	acked    []string
	okAt     []time.Time
	attempts int
	skipped  []string       // ids given up on a non-retryable answer
	failures map[string]int // failed attempts by kind
	start    int            // index in targets of the next attempt

	cancel context.CancelFunc
	done   chan struct{}
}

// NewWriter returns a Writer posting to the nodes targets returns (it is
// called before every attempt, so nodes added later are used too), with ids
// prefix-000001, prefix-000002, ... Each request is bounded by timeout.
func NewWriter(client *Client, targets func() []*Node, fx Fixtures, prefix string, timeout time.Duration) *Writer {
	return &Writer{client: client, targets: targets, fx: fx, prefix: prefix,
		timeout: timeout, backoff: 20 * time.Millisecond, failures: map[string]int{}}
}

// SetBackoff sets the pause after a failed attempt (default 20 ms).
func (w *Writer) SetBackoff(d time.Duration) { w.mu.Lock(); w.backoff = d; w.mu.Unlock() }

// StartAt makes the first attempt go to targets()[i].
func (w *Writer) StartAt(i int) { w.mu.Lock(); w.start = i; w.mu.Unlock() }

// Start runs the writer in a goroutine until Stop.
func (w *Writer) Start() {
	ctx, cancel := context.WithCancel(context.Background())
	w.cancel = cancel
	w.done = make(chan struct{})
	go func() {
		defer close(w.done)
		w.run(ctx)
	}()
}

// Stop stops the writer and waits for it. The outcome of a request in flight
// is unknown and its id is not acknowledged.
func (w *Writer) Stop() {
	if w.cancel == nil {
		return
	}
	w.cancel()
	<-w.done
	w.cancel = nil
}

func (w *Writer) run(ctx context.Context) {
	for seq := 1; ctx.Err() == nil; seq++ {
		w.write(ctx, fmt.Sprintf("%s-%06d", w.prefix, seq))
	}
}

// write tries one id until it is acknowledged, skipped or ctx ends.
func (w *Writer) write(ctx context.Context, id string) {
	cert := w.fx.NewCertificate(id)
	for attempt := 1; ctx.Err() == nil; attempt++ {
		nodes := w.targets()
		w.mu.Lock()
		n := nodes[w.start%len(nodes)]
		w.attempts++
		w.mu.Unlock()

		rctx, cancel := context.WithTimeout(ctx, w.timeout)
		_, err := w.client.CreateCertificate(rctx, n.URL(), cert)
		cancel()
		if ctx.Err() != nil {
			return
		}
		var se *StatusError
		isStatus := errors.As(err, &se)
		switch {
		case err == nil, isStatus && se.Status == 409 && attempt > 1:
			w.mu.Lock()
			w.acked = append(w.acked, id)
			w.okAt = append(w.okAt, time.Now())
			w.mu.Unlock()
			return
		case isStatus && se.Status >= 400 && se.Status < 500 && se.Status != 408 && se.Status != 429:
			w.mu.Lock()
			w.failures[strconv.Itoa(se.Status)+" (gave up id)"]++
			w.skipped = append(w.skipped, fmt.Sprintf("%s: %v", id, err))
			w.mu.Unlock()
			return
		}
		w.mu.Lock()
		w.failures[errorKind(err)]++
		w.start++ // the next node
		backoff := w.backoff
		w.mu.Unlock()
		select {
		case <-ctx.Done():
		case <-time.After(backoff):
		}
	}
}

// errorKind names a failed attempt for the statistics.
func errorKind(err error) string {
	var se *StatusError
	var ne net.Error
	switch {
	case errors.As(err, &se):
		return strconv.Itoa(se.Status)
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.Is(err, syscall.ECONNRESET), strings.Contains(err.Error(), "EOF"):
		return "connection reset"
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	default:
		return "other"
	}
}

// Acked returns the acknowledged ids in order.
func (w *Writer) Acked() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]string(nil), w.acked...)
}

// AckedCount returns how many ids were acknowledged.
func (w *Writer) AckedCount() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.acked)
}

// AckTimes returns when each acknowledgement arrived, in order.
func (w *Writer) AckTimes() []time.Time {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]time.Time(nil), w.okAt...)
}

// Skipped returns the ids given up on, with the answer that made the writer
// give up.
func (w *Writer) Skipped() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]string(nil), w.skipped...)
}

// Summary describes attempts, acknowledgements and failures in one line.
func (w *Writer) Summary() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	kinds := make([]string, 0, len(w.failures))
	for k, v := range w.failures {
		kinds = append(kinds, fmt.Sprintf("%s=%d", k, v))
	}
	sort.Strings(kinds)
	return fmt.Sprintf("attempts=%d acked=%d skipped=%d failures{%s}",
		w.attempts, len(w.acked), len(w.skipped), strings.Join(kinds, " "))
}

// LongestGap returns the longest time between two consecutive
// acknowledgements that arrived at or after from (the first of the pair may
// be earlier), and the time the gap ended.
func LongestGap(acks []time.Time, from time.Time) (time.Duration, time.Time) {
	var gap time.Duration
	var end time.Time
	for i := 1; i < len(acks); i++ {
		if acks[i].Before(from) {
			continue
		}
		if d := acks[i].Sub(acks[i-1]); d > gap {
			gap, end = d, acks[i]
		}
	}
	return gap, end
}
