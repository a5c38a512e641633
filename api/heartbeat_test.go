package api

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/certctl/certctl/fsm"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// proposals records the batches a heartbeatBatcher proposes and answers
// each with the error fail returns at that moment.
type proposals struct {
	mu      sync.Mutex
	batches [][]fsm.Heartbeat
	fail    error
	release chan struct{} // when not nil, each proposal waits for it
}

func (p *proposals) propose(ctx context.Context, pl fsm.Payload) error {
	p.mu.Lock()
	release := p.release
	p.mu.Unlock()
	if release != nil {
		select {
		case <-release:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.batches = append(p.batches, pl.(*fsm.RecordHeartbeats).Beats)
	return p.fail
}

func (p *proposals) set(fail error, release chan struct{}) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.fail, p.release = fail, release
}

// beaten reports whether agent's beat was in a proposed batch.
func (p *proposals) beaten(agent string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, b := range p.batches {
		for _, beat := range b {
			if beat.AgentID == agent {
				return true
			}
		}
	}
	return false
}

func newTestBatcher(t *testing.T, p *proposals) *heartbeatBatcher {
	b := newHeartbeatBatcher(20*time.Millisecond, p.propose, slog.New(slog.NewTextHandler(io.Discard, nil)))
	t.Cleanup(b.close)
	return b
}

// addAsync runs add on its own goroutine; the channel gets its result.
func addAsync(b *heartbeatBatcher, agent string, wait bool) <-chan error {
	ch := make(chan error, 1)
	go func() { ch <- b.add(context.Background(), fsm.Heartbeat{AgentID: agent, At: time.Now()}, wait) }()
	return ch
}

func TestHeartbeatBatcher_RefreshAnsweredOnceBatchesCommit(t *testing.T) {
	p := &proposals{}
	b := newTestBatcher(t, p)
	hold := make(chan struct{})
	p.set(nil, hold)

	first := addAsync(b, "ag-1", false)
	select {
	case err := <-first:
		t.Fatalf("a refresh was answered (%v) before any batch of this node committed", err)
	case <-time.After(100 * time.Millisecond):
	}
	close(hold)
	require.NoError(t, <-first)

	require.NoError(t, b.add(context.Background(), fsm.Heartbeat{AgentID: "ag-2", At: time.Now()}, false),
		"answered at once now that batches commit")
	require.Eventually(t, func() bool { return p.beaten("ag-2") }, 5*time.Second, 5*time.Millisecond,
		"the refresh answered early is still proposed")
}

func TestHeartbeatBatcher_ChangeWaitsForCommit(t *testing.T) {
	p := &proposals{}
	b := newTestBatcher(t, p)
	require.NoError(t, b.add(context.Background(), fsm.Heartbeat{AgentID: "ag-1", At: time.Now()}, true))
	hold := make(chan struct{})
	p.set(nil, hold)

	change := addAsync(b, "ag-2", true)
	select {
	case err := <-change:
		t.Fatalf("a changing beat was answered (%v) before its batch committed", err)
	case <-time.After(100 * time.Millisecond):
	}
	close(hold)
	require.NoError(t, <-change)
	assert.True(t, p.beaten("ag-2"))
}

func TestHeartbeatBatcher_FailedBatchMakesRefreshesWait(t *testing.T) {
	p := &proposals{}
	b := newTestBatcher(t, p)
	require.NoError(t, b.add(context.Background(), fsm.Heartbeat{AgentID: "ag-1", At: time.Now()}, true))

	errNoLeader := errors.New("no leader")
	p.set(errNoLeader, nil)
	// The batch holding this refresh fails; it may have been answered early.
	_ = b.add(context.Background(), fsm.Heartbeat{AgentID: "ag-2", At: time.Now()}, false)
	require.Eventually(t, func() bool { return p.beaten("ag-2") }, 5*time.Second, 5*time.Millisecond)
	require.ErrorIs(t, b.add(context.Background(), fsm.Heartbeat{AgentID: "ag-3", At: time.Now()}, false), errNoLeader,
		"after a failed batch a refresh hears the failure")

	p.set(nil, nil)
	require.NoError(t, b.add(context.Background(), fsm.Heartbeat{AgentID: "ag-4", At: time.Now()}, false))
	require.NoError(t, b.add(context.Background(), fsm.Heartbeat{AgentID: "ag-5", At: time.Now()}, false))
}

func TestHeartbeatBatcher_StalledBatchMakesRefreshesWait(t *testing.T) {
	p := &proposals{}
	b := newTestBatcher(t, p)
	require.NoError(t, b.add(context.Background(), fsm.Heartbeat{AgentID: "ag-1", At: time.Now()}, true))
	hold := make(chan struct{})
	p.set(nil, hold)
	_ = b.add(context.Background(), fsm.Heartbeat{AgentID: "ag-2", At: time.Now()}, false)
	require.Eventually(t, func() bool {
		b.mu.Lock()
		defer b.mu.Unlock()
		return !b.flushing.IsZero() && time.Since(b.flushing) > b.interval
	}, 5*time.Second, 5*time.Millisecond, "a batch stays in flight")

	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	require.ErrorIs(t, b.add(ctx, fsm.Heartbeat{AgentID: "ag-3", At: time.Now()}, false), context.DeadlineExceeded,
		"a refresh waits while a batch is stalled")
	close(hold)
}
