package scheduler

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"time"

	"github.com/certctl/certctl/api/wire"
	"github.com/certctl/certctl/connectors/notifier"
	"github.com/certctl/certctl/fsm"
)

// Notifiers sends a notification through the notifier of its channel.
// NotifierService is the implementation cmd wires; a channel without a
// notifier must be an error, never a success.
type Notifiers interface {
	Send(ctx context.Context, n fsm.Notification) error
}

// Notification retry timing: the first retry a minute after the first
// failure, doubling up to an hour.
const (
	notifyFirstRetry = time.Minute
	notifyMaxRetry   = time.Hour
)

// notifyBackoff is how long after its failure a notification that had
// failed attempts times before is tried again: 1 min × 2^attempts, capped
// at an hour.
func notifyBackoff(attempts int) time.Duration {
	if attempts < 0 {
		attempts = 0
	}
	if attempts >= 6 { // 2^6 min > 1 h
		return notifyMaxRetry
	}
	return min(notifyFirstRetry<<attempts, notifyMaxRetry)
}

// notifyDue reports whether n is to be sent at now: pending, or failed and
// due again (next_attempt_at ≤ now).
func notifyDue(now time.Time, n *fsm.Notification) bool {
	switch n.Status {
	case fsm.NotifyPending:
		return n.NextAttemptAt == nil || !n.NextAttemptAt.After(now)
	case fsm.NotifyFailed:
		return n.NextAttemptAt != nil && !n.NextAttemptAt.After(now)
	}
	return false
}

// notifyFailure is what a failed send at now of n becomes: failed and due
// again after the backoff, or dead once this attempt spends the budget of
// maxAttempts.
func notifyFailure(now time.Time, n *fsm.Notification, err error, maxAttempts int) *fsm.MarkNotificationFailed {
	p := &fsm.MarkNotificationFailed{ID: n.ID, Error: failureText(err)}
	if n.Attempts+1 >= maxAttempts {
		p.Dead = true
		return p
	}
	retry := now.Add(notifyBackoff(n.Attempts))
	p.RetryAt = &retry
	return p
}

// failureText is err's message as the fsm takes it: valid UTF-8 without
// control characters (a server's answer may hold anything), within
// MaxTextLength, never empty.
func failureText(err error) string {
	msg := strings.Map(func(r rune) rune {
		if r < 0x20 && r != '\t' && r != '\n' || r == 0x7f {
			return ' '
		}
		return r
	}, strings.ToValidUTF8(err.Error(), "?"))
	if len(msg) > fsm.MaxTextLength {
		msg = strings.ToValidUTF8(msg[:fsm.MaxTextLength], "")
	}
	if strings.TrimSpace(msg) == "" {
		msg = "delivery failed without a reason"
	}
	return msg
}

// errNoNotifier is the failure of a channel without a notifier when the
// scheduler has no Notifiers at all.
type errNoNotifier string

func (e errNoNotifier) Error() string { return "no notifier configured for channel " + string(e) }

// Is makes errNoNotifier match notifier.ErrNoNotifier, as the registry's own error does.
func (e errNoNotifier) Is(target error) bool { return target == notifier.ErrNoNotifier }

// sendNotifications is the notifications loop: every pending notification,
// and every failed one due again, goes out through its channel's notifier.
// A delivery is recorded sent; a failure (including a channel without a
// notifier, whose config may arrive later) failed with the reason and due
// again after a backoff, or dead once NotifyMaxAttempts attempts failed.
// Nothing is ever recorded sent that was not delivered.
func (s *Scheduler) sendNotifications(ctx context.Context) error {
	now := s.cfg.Now()
	var due []fsm.Notification
	for _, status := range []wire.NotificationStatus{fsm.NotifyPending, fsm.NotifyFailed} {
		for page := 1; ; page++ {
			l, err := s.state.Notifications(fsm.NotificationFilter{Status: status}, fsm.Page{Page: page, PerPage: fsm.MaxPerPage})
			if err != nil {
				return err
			}
			for _, n := range l.Items {
				if notifyDue(now, &n) {
					due = append(due, n)
				}
			}
			if len(l.Items) < fsm.MaxPerPage {
				break
			}
		}
	}
	sent, failed, dead := 0, 0, 0
	for _, n := range due {
		if err := ctx.Err(); err != nil {
			return err
		}
		var err error
		if s.cfg.Notifiers == nil {
			err = errNoNotifier(n.Channel)
		} else {
			err = s.cfg.Notifiers.Send(ctx, n)
		}
		if ctx.Err() != nil {
			return ctx.Err() // leadership lost mid-send: the next leader sends again
		}
		at := s.cfg.Now()
		var p fsm.Payload = &fsm.MarkNotificationSent{ID: n.ID}
		what := "sent"
		if err != nil {
			f := notifyFailure(at, &n, err, s.cfg.NotifyMaxAttempts)
			p, what = f, "failed"
			if f.Dead {
				what = "dead"
			}
		}
		perr := s.propose(ctx, at, notifyRequest(n.ID, n.Requeues, n.Attempts, what), p)
		switch {
		case rejected(perr):
			s.log.Debug("notification changed meanwhile", "notification", n.ID, "err", perr)
			continue
		case perr != nil:
			return perr
		}
		switch what {
		case "sent":
			sent++
		case "failed":
			failed++
			// A channel without a notifier was warned of when the node
			// started; each notification kept for it is not news.
			lv := slog.LevelWarn
			if errors.Is(err, notifier.ErrNoNotifier) {
				lv = slog.LevelInfo
			}
			s.log.Log(ctx, lv, "notification not delivered; retried later", "notification", n.ID, "channel", n.Channel, "attempt", n.Attempts+1, "err", err)
		case "dead":
			dead++
			s.log.Error("notification not delivered; retry budget spent", "notification", n.ID, "channel", n.Channel, "attempts", n.Attempts+1, "err", err)
		}
	}
	if len(due) > 0 {
		s.log.Info("notifications pass", "due", len(due), "sent", sent, "failed", failed, "dead", dead)
	}
	return nil
}
