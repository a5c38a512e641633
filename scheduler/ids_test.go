package scheduler

import (
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/certctl/certctl/fsm"
)

func TestIDs_AreValidAndFixedByTheDecision(t *testing.T) {
	exp := t0.Add(30 * day)
	assert.Equal(t, "job-renew-mc-api-prod-"+strconv.FormatInt(exp.Unix(), 10), renewalJobID("mc-api-prod", exp))

	long := strings.Repeat("c", fsm.MaxIDLength)
	id := renewalJobID(long, exp)
	require.NoError(t, fsm.ValidID("id", id), "a certificate id of the longest length still makes a valid job id")
	assert.Equal(t, id, renewalJobID(long, exp))
	assert.NotEqual(t, id, renewalJobID(long, exp.Add(day)), "a new expiry, a new job")

	key := expiryAlertKey(long, 14, exp)
	require.NoError(t, fsm.ValidID("id", notificationID(key)))
	assert.Equal(t, notificationID(key), notificationID(expiryAlertKey(long, 14, exp)))
	assert.NotEqual(t, notificationID(key), notificationID(expiryAlertKey(long, 7, exp)))
}
