package scheduler

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/certctl/certctl/connectors/notifier"
	"github.com/certctl/certctl/fsm"
	"github.com/certctl/certctl/fsm/fsmtest"
)

// recordingNotifier keeps what it was asked to send.
type recordingNotifier struct {
	alerts []notifier.Alert
	events []notifier.Event
}

func (r *recordingNotifier) ValidateConfig(context.Context, json.RawMessage) error { return nil }
func (r *recordingNotifier) SendAlert(_ context.Context, a notifier.Alert) error {
	r.alerts = append(r.alerts, a)
	return nil
}
func (r *recordingNotifier) SendEvent(_ context.Context, e notifier.Event) error {
	r.events = append(r.events, e)
	return nil
}

func TestNotifierService_Send(t *testing.T) {
	h := newHarness(t)
	exp := t0.Add(30 * day)
	h.cert("mc-exp", fsm.CertActive, exp, "")
	cert := h.certificate("mc-exp")
	now := exp.Add(-13*day - time.Hour)

	reg := notifier.NewRegistry()
	rec := &recordingNotifier{}
	require.NoError(t, reg.Register("Email", rec))
	assert.Error(t, reg.Register("email", rec), "a channel is registered once, in any case")
	svc, err := NewNotifierService(reg, h.f, func() time.Time { return now })
	require.NoError(t, err)

	n := fsmtest.Notification("ne-a", "")
	n.CertificateID = "mc-exp"
	n.Recipient = "a@example.com, b@example.com"
	require.NoError(t, svc.Send(context.Background(), n))
	require.Len(t, rec.alerts, 1)
	a := rec.alerts[0]
	assert.Equal(t, "ExpirationWarning", a.Type)
	assert.Equal(t, cert.Name, a.CertificateName)
	assert.Equal(t, cert.CommonName, a.CommonName)
	assert.Equal(t, 13, a.DaysLeft)
	assert.Equal(t, []string{"a@example.com", "b@example.com"}, a.Recipients)

	n.Type = "RenewalSuccess"
	require.NoError(t, svc.Send(context.Background(), n))
	require.Len(t, rec.events, 1, "a success is an event")

	n.Channel = "Slack"
	err = svc.Send(context.Background(), n)
	assert.ErrorIs(t, err, notifier.ErrNoNotifier)
	assert.ErrorContains(t, err, "no notifier configured for channel Slack")
}

func TestDaysLeft(t *testing.T) {
	exp := t0
	assert.Equal(t, 0, daysLeft(exp.Add(-time.Hour), exp))
	assert.Equal(t, 1, daysLeft(exp.Add(-24*time.Hour), exp))
	assert.Equal(t, -1, daysLeft(exp.Add(time.Hour), exp))
}
