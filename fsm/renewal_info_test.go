package fsm_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/certctl/certctl/api/wire"
	"github.com/certctl/certctl/fsm"
	"github.com/certctl/certctl/fsm/fsmtest"
)

func renewalInfoDue(t *testing.T, f *fsm.FSM, before time.Time) []string {
	t.Helper()
	var ids []string
	require.NoError(t, f.CertificatesRenewalInfoDue(before, func(c *fsm.Certificate) bool {
		ids = append(ids, c.ID)
		return true
	}))
	return ids
}

// TestLifecycle_PlanRenewalWithRenewalInfo: a window the CA suggested and
// still in force decides the renewal instead of the policy's window, in
// both directions; one that is stale, malformed or absent leaves the
// policy to decide as before.
func TestLifecycle_PlanRenewalWithRenewalInfo(t *testing.T) {
	now := fsmtest.T0
	exp := now.Add(days(60)) // 60 of 90 days left: outside a third of the lifetime
	window := func(from, to time.Duration, forExpiry time.Time) *wire.RenewalInfo {
		return &wire.RenewalInfo{WindowStart: now.Add(from), WindowEnd: now.Add(to), ExpiresAt: forExpiry,
			FetchedAt: now, RetryAfter: now.Add(6 * time.Hour)}
	}
	auto := fsm.EffectivePolicy(nil)
	wide := auto
	wide.RenewalWindowDays = ptr(80) // the policy alone would renew now
	manual := auto
	manual.AutoRenew = false
	cases := []struct {
		name      string
		expires   time.Time
		info      *wire.RenewalInfo
		policy    fsm.RenewalPolicy
		renew     bool
		suggested bool
	}{
		{"no window: the policy's third of the lifetime, not yet", exp, nil, auto, false, false},
		{"no window: a wide policy window renews", exp, nil, wide, true, false},
		{"window in the past renews early", exp, window(-2*time.Hour, -time.Hour, exp), auto, true, true},
		{"window far ahead holds off a wide policy window", exp, window(days(50), days(51), exp), wide, false, true},
		{"window open but the policy does not renew automatically", exp, window(-2*time.Hour, -time.Hour, exp), manual, false, true},
		{"window for the replaced certificate: the policy decides", exp, window(-2*time.Hour, -time.Hour, exp.Add(-days(90))), auto, false, false},
		{"window opening after expiry: the policy decides", exp, window(days(61), days(62), exp), wide, true, false},
		{"window ending before it starts: the policy decides", exp, window(-time.Hour, -2*time.Hour, exp), auto, false, false},
		{"expired, the window opening after: the policy renews", now.Add(-time.Hour), window(days(1), days(2), now.Add(-time.Hour)), auto, true, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := fsmtest.Certificate("mc-1", "a.example")
			c.Status, c.ExpiresAt, c.RenewalInfo = fsm.CertActive, &tc.expires, tc.info
			d := fsm.PlanRenewal(now, &c, &tc.policy, days(90))
			assert.Equal(t, tc.renew, d.Renew, "renew")
			assert.Equal(t, tc.suggested, d.Suggested, "the CA's window decided")
		})
	}
}

// TestLifecycle_ExpiredUnderWindowRenews: a certificate that expired while
// its window was still ahead is renewed all the same.
func TestLifecycle_ExpiredUnderWindowRenews(t *testing.T) {
	now := fsmtest.T0
	exp := now.Add(days(1))
	c := fsmtest.Certificate("mc-1", "a.example")
	c.Status, c.ExpiresAt = fsm.CertActive, &exp
	c.RenewalInfo = &wire.RenewalInfo{WindowStart: now.Add(-days(1)).Add(time.Hour), WindowEnd: exp.Add(-time.Minute), ExpiresAt: exp}
	p := fsm.EffectivePolicy(nil)
	later := exp.Add(time.Hour)
	assert.True(t, fsm.PlanRenewal(later, &c, &p, days(90)).Renew)
}

// TestLifecycle_RenewAt: the point chosen lies inside the window, is the
// same for the same certificate, and differs between certificates.
func TestLifecycle_RenewAt(t *testing.T) {
	ri := &wire.RenewalInfo{WindowStart: fsmtest.T0, WindowEnd: fsmtest.T0.Add(days(2))}
	seen := map[time.Time]bool{}
	for _, id := range []string{"mc-1", "mc-2", "mc-3", "mc-4"} {
		at := fsm.RenewAt(id, ri)
		assert.False(t, at.Before(ri.WindowStart), id)
		assert.True(t, at.Before(ri.WindowEnd), id)
		assert.Equal(t, at, fsm.RenewAt(id, ri))
		seen[at] = true
	}
	assert.Greater(t, len(seen), 1, "renewals spread over the window")
}

// TestFSM_SetRenewalInfoRefusals: a window for a certificate replaced
// since, and malformed windows, are refused with the field named.
func TestFSM_SetRenewalInfoRefusals(t *testing.T) {
	f, l := seeded(t)
	l.Must(&fsm.RecordVersion{Version: fsmtest.Version("ver-1", fsmtest.CertificateID, 1, at(0), 90*24*time.Hour)})
	exp := at(90 * 24 * time.Hour)
	ok := wire.RenewalInfo{WindowStart: at(time.Hour), WindowEnd: at(2 * time.Hour), FetchedAt: at(0), RetryAfter: at(time.Hour), ExpiresAt: exp}

	stale := ok
	stale.ExpiresAt = exp.Add(-time.Hour)
	err := l.Apply(&fsm.SetRenewalInfo{CertificateID: fsmtest.CertificateID, Info: stale}).Err
	require.Error(t, err)
	assert.ErrorIs(t, err, fsm.ErrState)
	assert.Contains(t, err.Error(), "no longer expires")

	backwards := ok
	backwards.WindowEnd = backwards.WindowStart
	err = (&fsm.SetRenewalInfo{CertificateID: fsmtest.CertificateID, Info: backwards}).Validate()
	require.Error(t, err)
	assert.Contains(t, err.Error(), "window_end")

	err = l.Apply(&fsm.SetRenewalInfo{CertificateID: "mc-none", Info: ok}).Err
	assert.ErrorIs(t, err, fsm.ErrNotFound)

	l.Must(&fsm.SetRenewalInfo{CertificateID: fsmtest.CertificateID, Info: ok})
	assert.Equal(t, []string{fsmtest.CertificateID}, renewalInfoDue(t, f, at(2*time.Hour)))
	// A renewal (a new expiry) takes the certificate out of the index: the
	// window was its predecessor's.
	l.Must(&fsm.RecordVersion{Version: fsmtest.Version("ver-2", fsmtest.CertificateID, 2, at(time.Hour), 90*24*time.Hour)})
	assert.Empty(t, renewalInfoDue(t, f, at(100*24*time.Hour)))
	c, err := f.Certificate(fsmtest.CertificateID)
	require.NoError(t, err)
	assert.False(t, fsm.RenewalInfoValid(c))
}
