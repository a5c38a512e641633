package scheduler

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/certctl/certctl/api/wire"
	"github.com/certctl/certctl/fsm"
	"github.com/certctl/certctl/fsm/fsmtest"
)

func (h *harness) healthCheck() {
	h.t.Helper()
	require.NoError(h.t, h.s.checkAgents(context.Background()))
}

func (h *harness) heartbeat(agentID string) {
	h.t.Helper()
	h.must(&fsm.RecordHeartbeats{Beats: []fsm.Heartbeat{{AgentID: agentID, At: h.clock.Now()}}})
}

func (h *harness) agentStatus(id string) wire.AgentStatus {
	h.t.Helper()
	a, err := h.f.Agent(id)
	require.NoError(h.t, err)
	return a.Status
}

func TestHealth_StaleAgentGoesOfflineOnceAlertedOnce(t *testing.T) {
	h := newHarness(t)
	// agent-1 serves target-1, which serves mc-1 (owner-1); a second
	// certificate of another owner is deployed there too.
	h.must(&fsm.CreateOwner{Owner: fsmtest.Owner("owner-2", fsmtest.TeamID)})
	c := fsmtest.Certificate("mc-2", "two.example.com")
	c.OwnerID, c.TargetIDs = "owner-2", []string{fsmtest.TargetID}
	h.must(&fsm.CreateCertificate{Certificate: c})
	h.heartbeat(fsmtest.AgentID)
	seen := h.clock.Now()

	h.clock.Advance(3 * time.Minute) // exactly three missed heartbeats: not yet
	h.healthCheck()
	assert.Equal(t, fsm.AgentOnline, h.agentStatus(fsmtest.AgentID))

	h.clock.Advance(time.Second)
	for range 5 {
		h.healthCheck()
		h.clock.Advance(2 * time.Minute)
	}
	assert.Equal(t, fsm.AgentOffline, h.agentStatus(fsmtest.AgentID))
	assert.Len(t, h.audit("agent_status_changed", fsmtest.AgentID), 1, "offline once")
	alerts := h.notifications(fsm.NotificationFilter{Type: "AgentOffline"})
	require.Len(t, alerts, 1, "alerted once")
	assert.Equal(t, agentAlertKey(fsmtest.AgentID, seen), alerts[0].DedupKey)
	assert.Equal(t, "owner-1@example.com, owner-2@example.com", alerts[0].Recipient)
	assert.Equal(t, wire.ChannelEmail, alerts[0].Channel)
	assert.Empty(t, alerts[0].CertificateID)
	assert.Contains(t, alerts[0].Message, "serve 2 certificate(s)")

	// Back, then silent again: a new silence, a new alert.
	h.heartbeat(fsmtest.AgentID)
	h.healthCheck()
	assert.Equal(t, fsm.AgentOnline, h.agentStatus(fsmtest.AgentID))
	h.clock.Advance(10 * time.Minute)
	h.healthCheck()
	h.healthCheck()
	assert.Equal(t, fsm.AgentOffline, h.agentStatus(fsmtest.AgentID))
	assert.Len(t, h.notifications(fsm.NotificationFilter{Type: "AgentOffline"}), 2)
}

func TestHealth_AgentWithoutTargetsGoesOfflineWithoutAlert(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.AgentOfflineAfter = 5 * time.Minute })
	h.must(&fsm.RegisterAgent{Agent: fsmtest.Agent("agent-idle", "idle-01")})
	h.heartbeat("agent-idle")
	h.clock.Advance(4 * time.Minute)
	h.healthCheck()
	assert.Equal(t, fsm.AgentOnline, h.agentStatus("agent-idle"), "within AgentOfflineAfter")
	h.clock.Advance(2 * time.Minute)
	h.healthCheck()
	assert.Equal(t, fsm.AgentOffline, h.agentStatus("agent-idle"))
	assert.Empty(t, h.notifications(fsm.NotificationFilter{Type: "AgentOffline"}))
}

func TestHealth_OfflineAndRetiredAgentsAreLeftAlone(t *testing.T) {
	h := newHarness(t)
	h.must(&fsm.RegisterAgent{Agent: fsmtest.Agent("agent-gone", "gone-01")})
	h.heartbeat("agent-gone")
	h.must(&fsm.RetireAgent{AgentID: "agent-gone"})
	h.clock.Advance(time.Hour)
	before := h.prop.proposals()
	h.healthCheck() // agent-1 never came online; agent-gone is retired
	assert.Equal(t, before, h.prop.proposals())
}

func TestStale(t *testing.T) {
	hb := t0.Add(-time.Hour)
	cases := []struct {
		name  string
		agent fsm.Agent
		stale bool
	}{
		{"online, silent", fsm.Agent{Status: fsm.AgentOnline, LastHeartbeatAt: &hb}, true},
		{"online, recent", fsm.Agent{Status: fsm.AgentOnline, LastHeartbeatAt: ptr(t0.Add(-time.Minute))}, false},
		{"online, never beat, registered long ago", fsm.Agent{Status: fsm.AgentOnline, RegisteredAt: hb}, true},
		{"online, never beat, just registered", fsm.Agent{Status: fsm.AgentOnline, RegisteredAt: t0}, false},
		{"offline", fsm.Agent{Status: fsm.AgentOffline, LastHeartbeatAt: &hb}, false},
		{"degraded", fsm.Agent{Status: fsm.AgentDegraded, LastHeartbeatAt: &hb}, false},
		{"retired", fsm.Agent{Status: fsm.AgentOnline, LastHeartbeatAt: &hb, RetiredAt: &t0}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, got := stale(t0, &tc.agent, 3*time.Minute)
			assert.Equal(t, tc.stale, got)
		})
	}
}

func TestHealth_OnlineAgainWithoutANewerHeartbeatGoesOfflineAgain(t *testing.T) {
	h := newHarness(t)
	h.heartbeat(fsmtest.AgentID)
	late := h.clock.Now().Add(-time.Second)
	h.clock.Advance(10 * time.Minute)
	h.healthCheck()
	require.Equal(t, fsm.AgentOffline, h.agentStatus(fsmtest.AgentID))
	// A heartbeat older than the last one, relayed late: Online again, but
	// the agent is as silent as before.
	h.must(&fsm.RecordHeartbeats{Beats: []fsm.Heartbeat{{AgentID: fsmtest.AgentID, At: late}}})
	require.Equal(t, fsm.AgentOnline, h.agentStatus(fsmtest.AgentID))
	h.clock.Advance(2 * time.Minute)
	h.healthCheck()
	assert.Equal(t, fsm.AgentOffline, h.agentStatus(fsmtest.AgentID))
	assert.Len(t, h.notifications(fsm.NotificationFilter{Type: "AgentOffline"}), 1, "the same silence: one alert")
}
