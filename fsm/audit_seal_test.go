package fsm

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestSealAudit_EqualsMarshallingTheSealedEvent(t *testing.T) {
	for _, tc := range []struct {
		name  string
		key   []byte
		chain string
	}{
		{"plain", nil, ""},
		{"keyed", bytes.Repeat([]byte{7}, 32), ChainHMAC},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ev := AuditEvent{ID: auditID(7), Actor: `a "quoted" actor`, ActorType: ActorUser, ActorRole: RoleAdmin, Action: "x",
				ResourceType: "certificate", ResourceID: "mc-1", Details: json.RawMessage(`{"k":"v"}`),
				Timestamp: time.Date(2026, 1, 2, 3, 4, 5, 6000, time.UTC), Seq: 7, RaftIndex: 9, PrevHash: "abc"}
			stored := sealAudit(&ev, tc.key)
			want, err := json.Marshal(&ev)
			require.NoError(t, err)
			assert.Equal(t, string(want), string(stored))
			assert.Equal(t, tc.chain, ev.Chain)
			assert.Equal(t, auditHash(&ev, tc.key), ev.Hash)
		})
	}
}
