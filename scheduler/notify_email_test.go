package scheduler

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/certctl/certctl/connectors/notifier"
	"github.com/certctl/certctl/connectors/notifier/email"
	"github.com/certctl/certctl/connectors/notifier/email/emailtest"
	"github.com/certctl/certctl/fsm"
	"github.com/certctl/certctl/fsm/fsmtest"
)

// TestScheduler_NotifySMTPDown sends through the real e-mail notifier to an
// SMTP port nothing listens on: each pass counts an attempt and sets the next
// one after the backoff, until the budget is spent and the notification is
// dead, all of it visible through the fsm's notifications.
func TestScheduler_NotifySMTPDown(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	port := ln.Addr().(*net.TCPAddr).Port
	require.NoError(t, ln.Close())

	mail, err := email.New(email.Config{SMTPHost: "127.0.0.1", SMTPPort: port, FromAddress: "certctl@example.org", TimeoutSeconds: 2}, nil)
	require.NoError(t, err)
	reg := notifier.NewRegistry()
	require.NoError(t, reg.Register(email.Channel, mail))

	h := newHarness(t, func(c *Config) { c.NotifyMaxAttempts = 3 })
	svc, err := NewNotifierService(reg, h.f, h.clock.Now)
	require.NoError(t, err)
	cfg := h.s.cfg
	cfg.Notifiers = svc
	h.s, err = New(cfg, h.f, h.prop)
	require.NoError(t, err)
	h.queue(fsmtest.Notification("ne-a", ""))
	ctx := context.Background()

	for attempt := 1; attempt <= 2; attempt++ {
		require.NoError(t, h.s.sendNotifications(ctx))
		failed := h.notifications(fsm.NotificationFilter{Status: fsm.NotifyFailed})
		require.Len(t, failed, 1, "attempt %d", attempt)
		n := failed[0]
		assert.Equal(t, attempt, n.Attempts)
		assert.Contains(t, n.Error, "127.0.0.1:")
		require.NotNil(t, n.NextAttemptAt)
		assert.True(t, n.NextAttemptAt.Equal(h.clock.Now().Add(notifyBackoff(attempt-1))), "next attempt at %s", n.NextAttemptAt)
		h.clock.Set(*n.NextAttemptAt)
	}
	require.NoError(t, h.s.sendNotifications(ctx))
	assert.Empty(t, h.notifications(fsm.NotificationFilter{Status: fsm.NotifyFailed}))
	assert.Empty(t, h.notifications(fsm.NotificationFilter{Status: fsm.NotifySent}))
	dead := h.notifications(fsm.NotificationFilter{Status: fsm.NotifyDead})
	require.Len(t, dead, 1)
	assert.Equal(t, 3, dead[0].Attempts)
	assert.Nil(t, dead[0].NextAttemptAt)
}

// TestScheduler_NotifyExpiryByEmail follows an expiry alert from the renewal
// check through the notifications loop and the real e-mail notifier to a
// real SMTP server (Mailpit, over STARTTLS with a login): the message names
// the certificate, the days left and its link, and the notification is sent.
func TestScheduler_NotifyExpiryByEmail(t *testing.T) {
	cert, key := emailtest.SelfSigned(t)
	mp := emailtest.Start(t, "--smtp-tls-cert", cert, "--smtp-tls-key", key, "--smtp-require-starttls")
	mail, err := email.New(email.Config{SMTPHost: "127.0.0.1", SMTPPort: mp.SMTPPort, Username: "certctl", Password: "pw",
		FromAddress: "certctl@example.org", CAFile: cert, LinkBaseURL: "https://certctl.example/certificates"}, nil)
	require.NoError(t, err)
	reg := notifier.NewRegistry()
	require.NoError(t, reg.Register(email.Channel, mail))

	h := newHarness(t)
	svc, err := NewNotifierService(reg, h.f, h.clock.Now)
	require.NoError(t, err)
	cfg := h.s.cfg
	cfg.Notifiers = svc
	h.s, err = New(cfg, h.f, h.prop)
	require.NoError(t, err)

	h.policy("rp-alert", 0, false, 14)
	h.cert("mc-shop", fsm.CertActive, t0.Add(14*day-time.Hour), "rp-alert")
	h.renewalCheck()
	queued := h.notifications(fsm.NotificationFilter{CertificateID: "mc-shop"})
	require.Len(t, queued, 1)
	require.NotEmpty(t, queued[0].Recipient, "the owner's e-mail address")

	require.NoError(t, h.s.sendNotifications(context.Background()))
	n, err := h.f.Notification(queued[0].ID)
	require.NoError(t, err)
	assert.Equal(t, fsm.NotifySent, n.Status, "error: %s", n.Error)

	msgs := mp.Messages(t)
	require.Len(t, msgs, 1)
	assert.Contains(t, msgs[0].Subject, "mc-shop")
	assert.Contains(t, msgs[0].Subject, "13 days")
	assert.Contains(t, msgs[0].Text, "Days left: 13")
	assert.Contains(t, msgs[0].Text, "Link: https://certctl.example/certificates/mc-shop")
	assert.Equal(t, queued[0].Recipient, msgs[0].To[0].Address)
}
