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
// second. A caller waits until the batch holding its beat is committed.
type heartbeatBatcher struct {
	interval time.Duration
	propose  func(context.Context, fsm.Payload) error
	log      *slog.Logger

	mu      sync.Mutex
	pending map[string]fsm.Heartbeat // the latest beat of each agent
	waiters []chan error

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

// add queues a beat and waits until it is committed, or ctx ends.
func (b *heartbeatBatcher) add(ctx context.Context, beat fsm.Heartbeat) error {
	ch := make(chan error, 1)
	b.mu.Lock()
	b.pending[beat.AgentID] = beat
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
	for _, w := range waiters {
		w <- err
	}
}

func (b *heartbeatBatcher) close() {
	b.once.Do(func() { close(b.stop) })
	<-b.done
}
