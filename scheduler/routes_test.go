package scheduler

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/certctl/certctl/api/wire"
	"github.com/certctl/certctl/fsm"
	"github.com/certctl/certctl/fsm/fsmtest"
)

// A renewal policy's routes say which channels and recipients get which
// notifications; a type no route takes goes to the owner's e-mail.
func TestRenewal_AlertsFollowThePolicysRoutes(t *testing.T) {
	h := newHarness(t)
	h.must(&fsm.CreateRenewalPolicy{Policy: fsm.RenewalPolicy{ID: "policy-routed", Name: "routed", AutoRenew: false,
		MaxRetries: 3, RetryIntervalMinutes: 60, AlertThresholdsDays: []int{30},
		Notify: []fsm.NotifyRoute{
			{Channel: "webhook", Types: []wire.NotificationType{wire.NotificationExpirationWarning}},
			{Channel: "Email", Recipients: []string{"pki@example.com", "oncall@example.com"}, Types: []wire.NotificationType{wire.NotificationExpirationWarning, wire.NotificationRenewalFailure}},
			{Channel: "Email", Types: []wire.NotificationType{wire.NotificationDeploymentFailure}},
		}}})
	h.cert("mc-routed", fsm.CertActive, t0.Add(20*day), "policy-routed")
	for range 3 {
		h.renewalCheck()
	}
	notes := h.notifications(fsm.NotificationFilter{CertificateID: "mc-routed"})
	require.Len(t, notes, 2, "one per route that takes the type, once however often the check runs")
	byChannel := map[string]fsm.Notification{}
	for _, n := range notes {
		byChannel[string(n.Channel)] = n
		assert.Equal(t, wire.NotificationExpirationWarning, n.Type)
	}
	assert.Equal(t, "", byChannel["Webhook"].Recipient, "a webhook goes to its configured destination")
	assert.Equal(t, "pki@example.com,oncall@example.com", byChannel["Email"].Recipient, "not the owner: the route names its recipients")
}

func TestNotificationsFor_FallsBackToTheOwner(t *testing.T) {
	build := func() fsm.Notification { return fsm.Notification{Message: "m"} }
	p := &fsm.RenewalPolicy{Notify: []fsm.NotifyRoute{{Channel: "Webhook", Types: []wire.NotificationType{wire.NotificationRenewalFailure}}}}
	for _, policy := range []*fsm.RenewalPolicy{nil, {}, p} {
		notes := notificationsFor(policy, wire.NotificationExpirationWarning, "k", "owner@example.com", build)
		require.Len(t, notes, 1)
		assert.Equal(t, wire.ChannelEmail, notes[0].Channel)
		assert.Equal(t, "owner@example.com", notes[0].Recipient)
		assert.Equal(t, "k", notes[0].DedupKey, "the owner's e-mail keeps the event's key")
	}
	notes := notificationsFor(p, wire.NotificationRenewalFailure, "k", "owner@example.com", build)
	require.Len(t, notes, 1)
	assert.Equal(t, wire.ChannelWebhook, notes[0].Channel)
	assert.Equal(t, "k/Webhook/0", notes[0].DedupKey)
}

// The agent-offline alert follows the renewal policies of the certificates
// deployed through the silent agent, as every other alert does: a policy's
// routes that take AgentOffline get it (an Email route without recipients
// goes to that policy's owners), the same destination once; the owners of
// certificates whose policy does not route it get the e-mail as before.
func TestHealth_AgentOfflineAlertFollowsThePolicysRoutes(t *testing.T) {
	h := newHarness(t)
	offline := []wire.NotificationType{wire.NotificationAgentOffline}
	h.must(&fsm.CreateRenewalPolicy{Policy: fsm.RenewalPolicy{ID: "policy-routed", Name: "routed", MaxRetries: 3, RetryIntervalMinutes: 60,
		Notify: []fsm.NotifyRoute{
			{Channel: "Webhook", Types: offline},
			{Channel: "Email", Types: offline},
			{Channel: "Email", Recipients: []string{"pki@example.com"}, Types: []wire.NotificationType{wire.NotificationExpirationWarning}},
		}}})
	h.must(&fsm.CreateRenewalPolicy{Policy: fsm.RenewalPolicy{ID: "policy-webhook", Name: "webhook", MaxRetries: 3, RetryIntervalMinutes: 60,
		Notify: []fsm.NotifyRoute{{Channel: "Webhook", Types: offline}}}})
	for i, policy := range []string{"policy-routed", "policy-webhook"} {
		owner := fmt.Sprintf("owner-%d", i+2)
		h.must(&fsm.CreateOwner{Owner: fsmtest.Owner(owner, fsmtest.TeamID)})
		c := fsmtest.Certificate(fmt.Sprintf("mc-%d", i+2), fmt.Sprintf("c%d.example.com", i+2))
		c.OwnerID, c.RenewalPolicyID, c.TargetIDs = owner, policy, []string{fsmtest.TargetID}
		h.must(&fsm.CreateCertificate{Certificate: c})
	}
	h.heartbeat(fsmtest.AgentID)
	seen := h.clock.Now()
	h.clock.Advance(time.Hour)
	for range 3 {
		h.healthCheck()
	}

	alerts := h.notifications(fsm.NotificationFilter{Type: "AgentOffline"})
	got := map[string]string{}
	for _, n := range alerts {
		got[string(n.Channel)+" "+n.Recipient] = n.DedupKey
		assert.Contains(t, n.Message, "serve 3 certificate(s)")
	}
	key := agentAlertKey(fsmtest.AgentID, seen)
	assert.Equal(t, map[string]string{
		"Webhook ":                  key + "/policy-routed/Webhook/0",
		"Email owner-2@example.com": key + "/policy-routed/Email/1",
		"Email owner-1@example.com": key,
	}, got, "mc-1's policy routes nothing: its owner gets the e-mail; policy-webhook's route is the one already alerted")
}
