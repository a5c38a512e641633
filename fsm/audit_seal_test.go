package fsm

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestSealAudit_EqualsMarshallingTheSealedEvent(t *testing.T) {
	ev := AuditEvent{ID: auditID(7), Actor: `a "quoted" actor`, ActorType: ActorUser, ActorRole: RoleAdmin, Action: "x",
		ResourceType: "certificate", ResourceID: "mc-1", Details: json.RawMessage(`{"k":"v"}`),
		Timestamp: time.Date(2026, 1, 2, 3, 4, 5, 6000, time.UTC), Seq: 7, RaftIndex: 9, PrevHash: "abc"}
	stored := sealAudit(&ev)
	want, err := json.Marshal(&ev)
	require.NoError(t, err)
	assert.Equal(t, string(want), string(stored))
	assert.Equal(t, auditHash(&ev), ev.Hash)
}
