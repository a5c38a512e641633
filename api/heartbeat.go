package api

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/certctl/certctl/fsm"
)

// heartbeatBatcher folds the heartbeats this node receives into one raft
// entry per interval, so thousands of agents cost a handful of entries a
// second. A beat that must be readable once answered waits until the batch
// holding it is committed. A beat that only refreshes an agent's time is
// answered once queued, while the batches commit: waiting would hold every
// agent's heartbeat for up to an interval (p99 above 1 s at 10,000 agents),
// and the price of a beat lost with its node is one interval of freshness,
// which the agent's next beat restores. When the last batch failed, or one
// has been in flight for longer than an interval, every beat waits again, so
// that an agent of a node that cannot write hears it and tries another.
type heartbeatBatcher struct {
	interval time.Duration
	propose  func(context.Context, fsm.Payload) error
	log      *slog.Logger

	mu      sync.Mutex
	pending map[string]fsm.Heartbeat // the latest beat of each agent
	waiters []chan error
	// committed is whether the last batch flushed was committed; false
	// until one is, so that a node that never wrote answers no beat early.
	committed bool
	// flushing is when the batch being proposed was taken; zero when none.
	flushing time.Time

	stop chan struct{}
	done chan struct{}
	once sync.Once
}

// maxBeatsPerEntry keeps one entry well below the command size limit.
const maxBeatsPerEntry = 5000

func newHeartbeatBatcher(interval time.Duration, propose func(context.Context, fsm.Payload) error, log *slog.Logger) *heartbeatBatcher {
	b := &heartbeatBatcher{interval: interval, propose: propose, log: log, pending: map[string]fsm.Heartbeat{},
		stop: make(chan struct{}), done: make(chan struct{})}
	go b.run()
	return b
}

// add queues a beat. With wait, or while the batches are not committing
// (see heartbeatBatcher), it waits until the beat is committed or ctx ends;
// otherwise it returns at once.
func (b *heartbeatBatcher) add(ctx context.Context, beat fsm.Heartbeat, wait bool) error {
	b.mu.Lock()
	b.pending[beat.AgentID] = beat
	if !wait && b.committed && (b.flushing.IsZero() || time.Since(b.flushing) < b.interval) {
		b.mu.Unlock()
		return nil
	}
	ch := make(chan error, 1)
	b.waiters = append(b.waiters, ch)
	b.mu.Unlock()
	select {
	case err := <-ch:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (b *heartbeatBatcher) run() {
	defer close(b.done)
	t := time.NewTicker(b.interval)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			b.flush()
		case <-b.stop:
			b.flush()
			b.mu.Lock()
			b.committed = false // nothing flushes a beat queued from now on
			b.mu.Unlock()
			return
		}
	}
}

func (b *heartbeatBatcher) flush() {
	b.mu.Lock()
	beats := make([]fsm.Heartbeat, 0, len(b.pending))
	for _, beat := range b.pending {
		beats = append(beats, beat)
	}
	waiters := b.waiters
	b.pending, b.waiters = map[string]fsm.Heartbeat{}, nil
	if len(beats) > 0 {
		b.flushing = time.Now()
	}
	b.mu.Unlock()
	if len(beats) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var err error
	for start := 0; start < len(beats) && err == nil; start += maxBeatsPerEntry {
		err = b.propose(ctx, &fsm.RecordHeartbeats{Beats: beats[start:min(start+maxBeatsPerEntry, len(beats))]})
	}
	if err != nil {
		b.log.Warn("recording heartbeats failed", "beats", len(beats), "err", err)
	}
	b.mu.Lock()
	b.committed, b.flushing = err == nil, time.Time{}
	b.mu.Unlock()
	for _, w := range waiters {
		w <- err
	}
}

func (b *heartbeatBatcher) close() {
	b.once.Do(func() { close(b.stop) })
	<-b.done
}
