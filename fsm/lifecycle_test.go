package fsm_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/certctl/certctl/fsm"
	"github.com/certctl/certctl/fsm/fsmtest"
)

func TestFSM_NotificationKeySeen(t *testing.T) {
	f, l := seeded(t)
	seen, err := f.NotificationKeySeen("mc-1/expiry/30/1")
	require.NoError(t, err)
	assert.False(t, seen)

	l.Must(&fsm.CreateNotifications{Notifications: []fsm.Notification{fsmtest.Notification("ne-1", "mc-1/expiry/30/1")}})
	seen, err = f.NotificationKeySeen("mc-1/expiry/30/1")
	require.NoError(t, err)
	assert.True(t, seen)

	seen, err = f.NotificationKeySeen("")
	require.NoError(t, err)
	assert.False(t, seen, "an empty key is never seen")
}

func TestFSM_LatestCertificateVersion(t *testing.T) {
	f, l := seeded(t)
	l.Must(&fsm.CreateCertificate{Certificate: fsmtest.Certificate("mc-10", "ten.example.com")})

	_, err := f.LatestCertificateVersion(fsmtest.CertificateID)
	require.ErrorIs(t, err, fsm.ErrNotFound)

	l.Must(&fsm.RecordVersion{Version: fsmtest.Version("cv-1", fsmtest.CertificateID, 1, at(0), 90*day)})
	l.Advance(time.Hour)
	l.Must(&fsm.RecordVersion{Version: fsmtest.Version("cv-2", fsmtest.CertificateID, 2, at(time.Hour), 30*day)})
	// A version of a certificate whose id sorts right after mc-1's must not be
	// taken for mc-1's.
	l.Advance(time.Hour)
	l.Must(&fsm.RecordVersion{Version: fsmtest.Version("cv-3", "mc-10", 3, at(2*time.Hour), 7*day)})

	v, err := f.LatestCertificateVersion(fsmtest.CertificateID)
	require.NoError(t, err)
	assert.Equal(t, "cv-2", v.ID)
	assert.Equal(t, 30*day, v.NotAfter.Sub(v.NotBefore))

	v, err = f.LatestCertificateVersion("mc-10")
	require.NoError(t, err)
	assert.Equal(t, "cv-3", v.ID)

	_, err = f.LatestCertificateVersion("mc-unknown")
	require.ErrorIs(t, err, fsm.ErrNotFound)
}

func TestFSM_TargetCertificateIDs(t *testing.T) {
	f, l := seeded(t)
	c := fsmtest.Certificate("mc-0", "zero.example.com")
	c.TargetIDs = []string{fsmtest.TargetID}
	l.Must(&fsm.CreateCertificate{Certificate: c})
	l.Must(&fsm.CreateTarget{Target: fsmtest.Target("target-10", "other", fsmtest.AgentID)})

	ids, err := f.TargetCertificateIDs(fsmtest.TargetID)
	require.NoError(t, err)
	assert.Equal(t, []string{"mc-0", "mc-1"}, ids)

	ids, err = f.TargetCertificateIDs("target-10")
	require.NoError(t, err)
	assert.Empty(t, ids)

	l.Must(&fsm.UnmapTarget{CertificateID: "mc-0", TargetID: fsmtest.TargetID})
	ids, err = f.TargetCertificateIDs(fsmtest.TargetID)
	require.NoError(t, err)
	assert.Equal(t, []string{"mc-1"}, ids)
}
