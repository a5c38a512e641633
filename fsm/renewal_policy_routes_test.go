package fsm_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/certctl/certctl/api/wire"
	"github.com/certctl/certctl/fsm"
)

func TestFSM_RenewalPolicyRoutesAreValidated(t *testing.T) {
	meta := fsm.Meta{Time: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	policy := func(routes ...fsm.NotifyRoute) *fsm.CreateRenewalPolicy {
		return &fsm.CreateRenewalPolicy{Policy: fsm.RenewalPolicy{ID: "rp-x", Name: "x", Notify: routes}}
	}
	for name, p := range map[string]*fsm.CreateRenewalPolicy{
		"unknown channel": policy(fsm.NotifyRoute{Channel: "Pager"}),
		"unknown type":    policy(fsm.NotifyRoute{Channel: "Email", Types: []wire.NotificationType{"Birthday"}}),
		"empty recipient": policy(fsm.NotifyRoute{Channel: "Email", Recipients: []string{""}}),
	} {
		_, err := fsm.NewCommand(meta, p)
		assert.ErrorIs(t, err, fsm.ErrInvalid, name)
	}
	p := policy(fsm.NotifyRoute{Channel: "webhook", Types: []wire.NotificationType{"expirationwarning"}})
	_, err := fsm.NewCommand(meta, p)
	require.NoError(t, err)
	assert.Equal(t, wire.ChannelWebhook, p.Policy.Notify[0].Channel, "names are taken in any case and stored canonical")
	assert.Equal(t, []wire.NotificationType{wire.NotificationExpirationWarning}, p.Policy.Notify[0].Types)
	assert.Len(t, p.Policy.Routes("ExpirationWarning"), 1)
	assert.Empty(t, p.Policy.Routes("RenewalFailure"))
}
