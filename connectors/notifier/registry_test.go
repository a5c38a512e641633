package notifier_test

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/certctl/certctl/connectors/notifier"
)

type nop struct{}

func (nop) ValidateConfig(context.Context, json.RawMessage) error { return nil }
func (nop) SendAlert(context.Context, notifier.Alert) error       { return nil }
func (nop) SendEvent(context.Context, notifier.Event) error       { return nil }

func TestRegistry(t *testing.T) {
	r := notifier.NewRegistry()
	require.NoError(t, r.Register("Email", nop{}))
	assert.Error(t, r.Register("EMAIL", nop{}), "once per channel, in any case")
	assert.Error(t, r.Register("", nop{}))
	assert.Error(t, r.Register("Webhook", nil))

	n, err := r.Get("email")
	require.NoError(t, err)
	assert.Equal(t, nop{}, n)

	_, err = r.Get("Slack")
	require.ErrorIs(t, err, notifier.ErrNoNotifier)
	var ne *notifier.NoNotifierError
	require.ErrorAs(t, err, &ne)
	assert.Equal(t, "Slack", ne.Channel)
	assert.EqualError(t, err, "notifier: no notifier configured for channel Slack")
	assert.Equal(t, []string{"Email"}, r.Channels())
}

func TestIsEvent(t *testing.T) {
	assert.True(t, notifier.IsEvent("RenewalSuccess"))
	assert.False(t, notifier.IsEvent("ExpirationWarning"))
	assert.False(t, notifier.IsEvent("AgentOffline"))
}
