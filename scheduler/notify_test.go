package scheduler

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/certctl/certctl/fsm"
	"github.com/certctl/certctl/fsm/fsmtest"
)

// fakeNotifiers answers Send with the error of the notification's channel
// (nil: delivered), and records what it was asked to send.
type fakeNotifiers struct {
	mu   sync.Mutex
	errs map[string]error // by channel; a channel absent is not configured
	sent []string         // ids, in order
}

func (f *fakeNotifiers) Send(_ context.Context, n fsm.Notification) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	err, ok := f.errs[string(n.Channel)]
	if !ok {
		return errNoNotifier(n.Channel)
	}
	f.sent = append(f.sent, n.ID)
	return err
}

func (f *fakeNotifiers) set(channel string, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.errs[channel] = err
}

func (f *fakeNotifiers) calls() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.sent)
}

func newNotifyHarness(t *testing.T, fake *fakeNotifiers, opts ...func(*Config)) *harness {
	t.Helper()
	return newHarness(t, append([]func(*Config){func(c *Config) {
		if fake != nil {
			c.Notifiers = fake
		}
	}}, opts...)...)
}

func (h *harness) queue(ns ...fsm.Notification) {
	h.t.Helper()
	h.must(&fsm.CreateNotifications{Notifications: ns})
}

func (h *harness) notification(id string) *fsm.Notification {
	h.t.Helper()
	n, err := h.f.Notification(id)
	require.NoError(h.t, err)
	return n
}

func TestNotifyBackoff(t *testing.T) {
	for attempts, want := range []time.Duration{time.Minute, 2 * time.Minute, 4 * time.Minute, 8 * time.Minute,
		16 * time.Minute, 32 * time.Minute, time.Hour, time.Hour, time.Hour} {
		assert.Equal(t, want, notifyBackoff(attempts), "after %d earlier attempts", attempts)
	}
	assert.Equal(t, time.Hour, notifyBackoff(1000))
}

func TestNotifyDue(t *testing.T) {
	now := t0
	past, future := now.Add(-time.Second), now.Add(time.Second)
	for _, tc := range []struct {
		name string
		n    fsm.Notification
		want bool
	}{
		{"pending", fsm.Notification{Status: fsm.NotifyPending}, true},
		{"failed and due", fsm.Notification{Status: fsm.NotifyFailed, NextAttemptAt: &past}, true},
		{"failed, due exactly now", fsm.Notification{Status: fsm.NotifyFailed, NextAttemptAt: &now}, true},
		{"failed, not yet due", fsm.Notification{Status: fsm.NotifyFailed, NextAttemptAt: &future}, false},
		{"sent", fsm.Notification{Status: fsm.NotifySent}, false},
		{"dead", fsm.Notification{Status: fsm.NotifyDead}, false},
		{"read", fsm.Notification{Status: fsm.NotifyRead}, false},
	} {
		t.Run(tc.name, func(t *testing.T) { assert.Equal(t, tc.want, notifyDue(now, &tc.n)) })
	}
}

func TestScheduler_NotifySent(t *testing.T) {
	fake := &fakeNotifiers{errs: map[string]error{"Email": nil}}
	h := newNotifyHarness(t, fake)
	h.queue(fsmtest.Notification("ne-a", ""), fsmtest.Notification("ne-b", ""))

	require.NoError(t, h.s.sendNotifications(context.Background()))
	assert.Equal(t, []string{"ne-a", "ne-b"}, fake.sent)
	for _, id := range []string{"ne-a", "ne-b"} {
		n := h.notification(id)
		assert.Equal(t, fsm.NotifySent, n.Status)
		assert.Equal(t, 1, n.Attempts)
		require.NotNil(t, n.SentAt)
		assert.True(t, n.SentAt.Equal(t0))
	}

	before := h.prop.proposals()
	require.NoError(t, h.s.sendNotifications(context.Background()))
	assert.Equal(t, 2, fake.calls(), "a sent notification is not sent again")
	assert.Equal(t, before, h.prop.proposals(), "a quiet pass proposes nothing")
}

func TestScheduler_NotifyBackoffThenSent(t *testing.T) {
	fake := &fakeNotifiers{errs: map[string]error{"Email": errors.New("smtp: connection refused")}}
	h := newNotifyHarness(t, fake)
	h.queue(fsmtest.Notification("ne-a", ""))
	ctx := context.Background()

	require.NoError(t, h.s.sendNotifications(ctx))
	n := h.notification("ne-a")
	assert.Equal(t, fsm.NotifyFailed, n.Status)
	assert.Equal(t, 1, n.Attempts)
	assert.Equal(t, "smtp: connection refused", n.Error)
	require.NotNil(t, n.NextAttemptAt)
	assert.True(t, n.NextAttemptAt.Equal(t0.Add(time.Minute)), "first retry a minute later, got %s", n.NextAttemptAt)

	// Not due yet: nothing is sent.
	h.clock.Advance(59 * time.Second)
	require.NoError(t, h.s.sendNotifications(ctx))
	assert.Equal(t, 1, fake.calls())

	// Due: tried again, the next retry two minutes after this failure.
	h.clock.Advance(time.Second)
	require.NoError(t, h.s.sendNotifications(ctx))
	n = h.notification("ne-a")
	assert.Equal(t, 2, n.Attempts)
	assert.True(t, n.NextAttemptAt.Equal(h.clock.Now().Add(2*time.Minute)), "got %s", n.NextAttemptAt)

	h.clock.Advance(2 * time.Minute)
	fake.set("Email", nil)
	require.NoError(t, h.s.sendNotifications(ctx))
	n = h.notification("ne-a")
	assert.Equal(t, fsm.NotifySent, n.Status)
	assert.Equal(t, 3, n.Attempts)
	assert.Empty(t, n.Error)
	assert.Nil(t, n.NextAttemptAt)
}

func TestScheduler_NotifyDeadAfterBudget(t *testing.T) {
	fake := &fakeNotifiers{errs: map[string]error{"Email": errors.New("smtp: 554 rejected")}}
	h := newNotifyHarness(t, fake, func(c *Config) { c.NotifyMaxAttempts = 4 })
	h.queue(fsmtest.Notification("ne-a", ""))
	ctx := context.Background()

	var retries []time.Duration
	for i := 0; i < 3; i++ {
		require.NoError(t, h.s.sendNotifications(ctx))
		n := h.notification("ne-a")
		require.Equal(t, fsm.NotifyFailed, n.Status)
		require.Equal(t, i+1, n.Attempts)
		retries = append(retries, n.NextAttemptAt.Sub(h.clock.Now()))
		h.clock.Set(*n.NextAttemptAt)
	}
	assert.Equal(t, []time.Duration{time.Minute, 2 * time.Minute, 4 * time.Minute}, retries)

	require.NoError(t, h.s.sendNotifications(ctx))
	n := h.notification("ne-a")
	assert.Equal(t, fsm.NotifyDead, n.Status)
	assert.Equal(t, 4, n.Attempts)
	assert.Equal(t, "smtp: 554 rejected", n.Error)
	assert.Nil(t, n.NextAttemptAt)

	h.clock.Advance(24 * time.Hour)
	require.NoError(t, h.s.sendNotifications(ctx))
	assert.Equal(t, 4, fake.calls(), "a dead notification is never sent again")
}

// TestScheduler_NotifyAfterRequeue: a dead notification an operator
// retried (RequeueNotification: attempts back to 0) is sent again, and
// its outcomes are recorded: the attempts' request ids name the requeue, so
// none repeats an outcome recorded before it.
func TestScheduler_NotifyAfterRequeue(t *testing.T) {
	fake := &fakeNotifiers{errs: map[string]error{"Email": errors.New("smtp: 554 rejected")}}
	h := newNotifyHarness(t, fake, func(c *Config) { c.NotifyMaxAttempts = 2 })
	h.queue(fsmtest.Notification("ne-a", ""))
	ctx := context.Background()
	require.NoError(t, h.s.sendNotifications(ctx))
	h.clock.Set(*h.notification("ne-a").NextAttemptAt)
	require.NoError(t, h.s.sendNotifications(ctx))
	require.Equal(t, fsm.NotifyDead, h.notification("ne-a").Status)

	h.must(&fsm.RequeueNotification{ID: "ne-a"})
	require.NoError(t, h.s.sendNotifications(ctx))
	n := h.notification("ne-a")
	assert.Equal(t, fsm.NotifyFailed, n.Status, "the first attempt after the requeue is recorded")
	assert.Equal(t, 1, n.Attempts)
	assert.Equal(t, 3, fake.calls())

	fake.set("Email", nil)
	h.clock.Set(*n.NextAttemptAt)
	require.NoError(t, h.s.sendNotifications(ctx))
	n = h.notification("ne-a")
	assert.Equal(t, fsm.NotifySent, n.Status)
	assert.Equal(t, 2, n.Attempts)
}

func TestScheduler_NotifyNoNotifier(t *testing.T) {
	for _, tc := range []struct {
		name string
		fake *fakeNotifiers
	}{
		{"no notifiers wired", nil},
		{"channel not configured", &fakeNotifiers{errs: map[string]error{"Email": nil}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newNotifyHarness(t, tc.fake, func(c *Config) { c.NotifyMaxAttempts = 2 })
			n := fsmtest.Notification("ne-w", "")
			n.Channel = "Webhook"
			h.queue(n)
			ctx := context.Background()

			require.NoError(t, h.s.sendNotifications(ctx))
			got := h.notification("ne-w")
			assert.Equal(t, fsm.NotifyFailed, got.Status, "never sent")
			assert.Nil(t, got.SentAt)
			assert.Contains(t, got.Error, "no notifier configured for channel Webhook")
			require.NotNil(t, got.NextAttemptAt, "retried later: the config may arrive")

			h.clock.Set(*got.NextAttemptAt)
			require.NoError(t, h.s.sendNotifications(ctx))
			got = h.notification("ne-w")
			assert.Equal(t, fsm.NotifyDead, got.Status)
			assert.Equal(t, 2, got.Attempts)
			assert.Nil(t, got.SentAt)
		})
	}
}

func TestScheduler_NotifyRunLoop(t *testing.T) {
	fake := &fakeNotifiers{errs: map[string]error{"Email": nil}}
	h := newNotifyHarness(t, fake)
	h.queue(fsmtest.Notification("ne-a", ""))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); h.s.Run(ctx) }()
	defer func() { cancel(); <-done }()
	require.Eventually(t, func() bool { return h.notification("ne-a").Status == fsm.NotifySent },
		10*time.Second, 10*time.Millisecond, "Run sends pending notifications at once")
}

func TestConfig_ValidateNotify(t *testing.T) {
	assert.ErrorContains(t, Config{NodeID: "n1", NotifySpec: "every minute"}.Validate(), "notify spec")
	assert.ErrorContains(t, Config{NodeID: "n1", NotifyMaxAttempts: -1}.Validate(), "notify max attempts")
	c := Config{NodeID: "n1"}.withDefaults()
	assert.Equal(t, DefaultNotifySpec, c.NotifySpec)
	assert.Equal(t, 8, c.NotifyMaxAttempts)
}

func TestFailureText(t *testing.T) {
	assert.Equal(t, "a b", failureText(errors.New("a\x00b")))
	assert.Equal(t, "line\nnext", failureText(errors.New("line\nnext")))
	assert.Equal(t, "bad ?", failureText(errors.New("bad \xff")))
	assert.Equal(t, "delivery failed without a reason", failureText(errors.New("")))
	long := failureText(errors.New(strings.Repeat("é", fsm.MaxTextLength)))
	assert.LessOrEqual(t, len(long), fsm.MaxTextLength)
	assert.True(t, utf8.ValidString(long))
}
