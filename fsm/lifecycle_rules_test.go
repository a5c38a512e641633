package fsm_test

import (
	"github.com/certctl/certctl/api/wire"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/certctl/certctl/fsm"
	"github.com/certctl/certctl/fsm/fsmtest"
)

func days(n float64) time.Duration { return time.Duration(n * float64(fsm.Day)) }

func TestLifecycle_RenewalWindow(t *testing.T) {
	ten := 10
	cases := []struct {
		name     string
		policy   *fsm.RenewalPolicy
		lifetime time.Duration
		want     time.Duration
	}{
		{"policy window wins over the lifetime", &fsm.RenewalPolicy{RenewalWindowDays: &ten}, days(365), days(10)},
		{"no window: a third of the lifetime", &fsm.RenewalPolicy{}, days(90), days(30)},
		{"no window, lifetime not whole days", &fsm.RenewalPolicy{}, 47 * time.Hour, 47 * time.Hour / 3},
		{"no window, lifetime unknown: a third of 90 days", &fsm.RenewalPolicy{}, 0, days(30)},
		{"no policy: a third of the lifetime", nil, days(6), days(2)},
		{"no policy, lifetime unknown", nil, 0, fsm.DefaultLifetime / 3},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, fsm.RenewalWindow(tc.policy, tc.lifetime))
		})
	}
}

func TestLifecycle_RenewalDue(t *testing.T) {
	thirty := 30
	auto := &fsm.RenewalPolicy{AutoRenew: true, RenewalWindowDays: &thirty}
	manual := &fsm.RenewalPolicy{RenewalWindowDays: &thirty}
	third := &fsm.RenewalPolicy{AutoRenew: true}
	cases := []struct {
		name     string
		policy   *fsm.RenewalPolicy
		left     time.Duration
		lifetime time.Duration
		want     bool
	}{
		{"outside the window", auto, days(30) + time.Second, 0, false},
		{"on the window's edge", auto, days(30), 0, true},
		{"expired", auto, -time.Hour, 0, true},
		{"auto_renew off never", manual, -time.Hour, 0, false},
		{"a third of a year left of a year", third, days(365) / 3, days(365), true},
		{"a little more than a third left", third, days(365)/3 + time.Minute, days(365), false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, fsm.RenewalDue(tc.policy, tc.left, tc.lifetime))
		})
	}
}

func TestLifecycle_Thresholds(t *testing.T) {
	p := &fsm.RenewalPolicy{AlertThresholdsDays: []int{7, 30, 0, 14, 7}}
	assert.Equal(t, []int{30, 14, 7, 0}, fsm.AlertThresholds(p), "largest first, once each")
	cases := []struct {
		left time.Duration
		want []int
	}{
		{days(31), nil},
		{days(30), []int{30}},
		{days(8), []int{30, 14}},
		{days(7), []int{30, 14, 7}},
		{time.Second, []int{30, 14, 7}},
		{0, []int{30, 14, 7, 0}},
		{-days(400), []int{30, 14, 7, 0}},
	}
	for _, tc := range cases {
		assert.Equal(t, tc.want, fsm.CrossedThresholds(p, tc.left), "left %s", tc.left)
	}
}

func TestLifecycle_RenewalHorizon(t *testing.T) {
	five := 5
	cases := []struct {
		name     string
		policies []fsm.RenewalPolicy
		want     time.Duration
	}{
		{"none", nil, 0},
		{"largest threshold", []fsm.RenewalPolicy{{AlertThresholdsDays: []int{3, 45}}}, days(45)},
		{"a window counts only when renewing automatically", []fsm.RenewalPolicy{{AlertThresholdsDays: []int{1}, RenewalWindowDays: &five}}, days(1)},
		{"a window", []fsm.RenewalPolicy{{AutoRenew: true, RenewalWindowDays: &five}}, days(5)},
		{"no window: a third of the longest lifetime", []fsm.RenewalPolicy{{AutoRenew: true}}, days(100)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, fsm.RenewalHorizon(tc.policies, days(300)))
		})
	}
}

func TestLifecycle_RetryDelay(t *testing.T) {
	cases := []struct {
		interval, attempt int
		want              time.Duration
	}{
		{60, 1, 60 * time.Minute},
		{60, 2, 120 * time.Minute},
		{60, 3, 240 * time.Minute},
		{60, 4, 480 * time.Minute},
		{60, 6, 24 * time.Hour}, // 32 h, capped at a day
		{60, 100, 24 * time.Hour},
		{30, 1, 30 * time.Minute},
		{1, 1, time.Minute}, // minutes, never seconds
		{0, 3, 0},
		{7 * 24 * 60, 3, 7 * 24 * time.Hour}, // an interval longer than the cap is kept
	}
	for _, tc := range cases {
		assert.Equal(t, tc.want, fsm.RetryDelay(tc.interval, tc.attempt), "interval %d min, attempt %d", tc.interval, tc.attempt)
	}
}

func TestLifecycle_AttemptsAndDefaults(t *testing.T) {
	assert.Equal(t, fsm.DefaultMaxAttempts, fsm.MaxAttempts(nil), "no policy: the jobs' default")
	assert.Equal(t, 4, fsm.MaxAttempts(&fsm.RenewalPolicy{MaxRetries: 3}))
	assert.Equal(t, 1, fsm.MaxAttempts(&fsm.RenewalPolicy{}))
	assert.Equal(t, fsm.MaxJobAttempts, fsm.MaxAttempts(&fsm.RenewalPolicy{MaxRetries: 100}))
	d := fsm.DefaultRenewalPolicy()
	assert.Equal(t, fsm.RenewalPolicy{AutoRenew: true, MaxRetries: 3, RetryIntervalMinutes: 60, AlertThresholdsDays: []int{30, 14, 7, 0}}, d,
		"the original's column defaults")
	e := fsm.EffectivePolicy(nil)
	assert.Equal(t, fsm.DefaultMaxAttempts-1, e.MaxRetries)
	p := &fsm.RenewalPolicy{ID: "rp-1", MaxRetries: 9}
	assert.Equal(t, *p, fsm.EffectivePolicy(p))

	assert.True(t, fsm.RetriesLeft(&fsm.Job{Attempts: 2, MaxAttempts: 3}))
	assert.False(t, fsm.RetriesLeft(&fsm.Job{Attempts: 3, MaxAttempts: 3}))
}

func TestLifecycle_JobStates(t *testing.T) {
	for _, st := range fsm.JobStatuses {
		want := st == fsm.JobCompleted || st == fsm.JobFailed || st == fsm.JobCancelled
		assert.Equal(t, want, fsm.JobFinished(st), st)
	}
	now := fsmtest.T0
	past, future := now.Add(-time.Second), now.Add(time.Second)
	cases := []struct {
		name string
		job  fsm.Job
		want bool
	}{
		{"pending, due", fsm.Job{Type: fsm.JobRenewal, Status: fsm.JobPending, ScheduledAt: now}, true},
		{"pending, later", fsm.Job{Type: fsm.JobIssuance, Status: fsm.JobPending, ScheduledAt: future}, false},
		{"deployments are the agents'", fsm.Job{Type: fsm.JobDeployment, Status: fsm.JobPending, ScheduledAt: past}, false},
		{"running, lease held", fsm.Job{Type: fsm.JobRenewal, Status: fsm.JobRunning, LeaseExpiresAt: &future}, false},
		{"running, lease ran out", fsm.Job{Type: fsm.JobRenewal, Status: fsm.JobRunning, LeaseExpiresAt: &now}, true},
		{"awaiting a CSR", fsm.Job{Type: fsm.JobRenewal, Status: fsm.JobAwaitingCSR, ScheduledAt: past}, false},
		{"finished", fsm.Job{Type: fsm.JobRenewal, Status: fsm.JobFailed, ScheduledAt: past}, false},
	}
	for _, tc := range cases {
		assert.Equal(t, tc.want, fsm.JobDue(now, &tc.job), tc.name)
	}
}

func TestLifecycle_WhoGetsWork(t *testing.T) {
	for _, st := range fsm.CertificateStatuses {
		c := &fsm.Certificate{ID: "mc-1", Status: st}
		r := fsm.WorkRefusal(c, "renewed")
		switch st {
		case fsm.CertArchived, fsm.CertRevoked:
			assert.False(t, fsm.MayGetWork(st), st)
			if assert.NotNil(t, r, st) {
				assert.Equal(t, fsm.CodeState, r.Code)
				assert.Equal(t, `certificate "mc-1" is `+string(st)+` and cannot be renewed; create a new certificate instead`, r.Message)
			}
		default:
			assert.True(t, fsm.MayGetWork(st), st)
			assert.Nil(t, r, st)
		}
		watched := st != fsm.CertPending && st != fsm.CertArchived && st != fsm.CertRevoked
		assert.Equal(t, watched, fsm.Watched(st), st)
	}
}

func TestLifecycle_FinalAlertSent(t *testing.T) {
	now := fsmtest.T0
	p := &fsm.RenewalPolicy{AlertThresholdsDays: []int{7, 0}}
	exp := now.Add(-time.Hour)
	later := now.Add(time.Hour)
	all := func(int) bool { return true }
	cases := []struct {
		name    string
		cert    fsm.Certificate
		alerted func(int) bool
		want    bool
	}{
		{"expired, every alert queued", fsm.Certificate{Status: fsm.CertExpired, ExpiresAt: &exp}, all, true},
		{"expired, final alert missing", fsm.Certificate{Status: fsm.CertExpired, ExpiresAt: &exp}, func(d int) bool { return d != 0 }, false},
		{"not yet Expired", fsm.Certificate{Status: fsm.CertFailed, ExpiresAt: &exp}, all, false},
		{"not expired", fsm.Certificate{Status: fsm.CertExpired, ExpiresAt: &later}, all, false},
		{"no expiry", fsm.Certificate{Status: fsm.CertExpired}, all, false},
	}
	for _, tc := range cases {
		assert.Equal(t, tc.want, fsm.FinalAlertSent(&tc.cert, p, now, tc.alerted), tc.name)
	}
}

func TestLifecycle_PlanRenewal(t *testing.T) {
	now := fsmtest.T0
	std := fsm.RenewalPolicy{AutoRenew: true, RenewalWindowDays: ptr(30), AlertThresholdsDays: []int{30, 14, 7, 0}}
	cases := []struct {
		name     string
		status   wire.CertificateStatus
		left     time.Duration
		policy   fsm.RenewalPolicy
		lifetime time.Duration
		want     fsm.RenewalPlan
	}{
		{"far from expiry", fsm.CertActive, days(45), std, 0,
			fsm.RenewalPlan{}},
		{"just inside the alert window", fsm.CertActive, days(30), std, 0,
			fsm.RenewalPlan{Status: fsm.CertExpiring, Crossed: []int{30}, Renew: true}},
		{"ten days left", fsm.CertActive, days(10), std, 0,
			fsm.RenewalPlan{Status: fsm.CertExpiring, Crossed: []int{30, 14}, Renew: true}},
		{"already expiring", fsm.CertExpiring, days(10), std, 0,
			fsm.RenewalPlan{Crossed: []int{30, 14}, Renew: true}},
		{"a second before expiry", fsm.CertExpiring, time.Second, std, 0,
			fsm.RenewalPlan{Crossed: []int{30, 14, 7}, Renew: true}},
		{"expiry is now", fsm.CertExpiring, 0, std, 0,
			fsm.RenewalPlan{Status: fsm.CertExpired, Crossed: []int{30, 14, 7, 0}, Renew: true}},
		{"active, expired", fsm.CertActive, -days(3), std, 0,
			fsm.RenewalPlan{Status: fsm.CertExpired, Crossed: []int{30, 14, 7, 0}, Renew: true}},
		{"failed, expired", fsm.CertFailed, -days(3), std, 0,
			fsm.RenewalPlan{Status: fsm.CertExpired, Crossed: []int{30, 14, 7, 0}, Renew: true}},
		{"renewing, expired", fsm.CertRenewalInProgress, -days(3), std, 0,
			fsm.RenewalPlan{Status: fsm.CertExpired, Crossed: []int{30, 14, 7, 0}, Renew: true}},
		{"expired stays expired", fsm.CertExpired, -days(3), std, 0,
			fsm.RenewalPlan{Crossed: []int{30, 14, 7, 0}, Renew: true}},
		{"failed is not moved to expiring", fsm.CertFailed, days(10), std, 0,
			fsm.RenewalPlan{Crossed: []int{30, 14}, Renew: true}},

		{"window 14, 20 days left: no renewal yet", fsm.CertActive, days(20),
			fsm.RenewalPolicy{AutoRenew: true, RenewalWindowDays: ptr(14), AlertThresholdsDays: []int{30}}, 0,
			fsm.RenewalPlan{Status: fsm.CertExpiring, Crossed: []int{30}}},
		{"window 30, 20 days left: renewal due", fsm.CertActive, days(20),
			fsm.RenewalPolicy{AutoRenew: true, RenewalWindowDays: ptr(30), AlertThresholdsDays: []int{30}}, 0,
			fsm.RenewalPlan{Status: fsm.CertExpiring, Crossed: []int{30}, Renew: true}},
		{"no window: a third of a 60-day lifetime is 20 days", fsm.CertActive, days(21),
			fsm.RenewalPolicy{AutoRenew: true}, 60 * fsm.Day,
			fsm.RenewalPlan{}},
		{"no window: 20 days of 60 left", fsm.CertActive, days(20),
			fsm.RenewalPolicy{AutoRenew: true}, 60 * fsm.Day,
			fsm.RenewalPlan{Renew: true}},
		{"no window, unknown lifetime: 90 days, renew at 30", fsm.CertActive, days(30.5),
			fsm.RenewalPolicy{AutoRenew: true}, 0,
			fsm.RenewalPlan{}},
		{"no window, unknown lifetime, 30 days left", fsm.CertActive, days(30),
			fsm.RenewalPolicy{AutoRenew: true}, 0,
			fsm.RenewalPlan{Renew: true}},
		{"no window, a year's lifetime", fsm.CertActive, days(100),
			fsm.RenewalPolicy{AutoRenew: true}, 365 * fsm.Day,
			fsm.RenewalPlan{Renew: true}},
		{"short-lived: 8 h left of 24 h", fsm.CertActive, 8 * time.Hour,
			fsm.RenewalPolicy{AutoRenew: true}, 24 * time.Hour,
			fsm.RenewalPlan{Renew: true}},
		{"auto renew off: alerts only", fsm.CertActive, days(5),
			fsm.RenewalPolicy{AutoRenew: false, RenewalWindowDays: ptr(30), AlertThresholdsDays: []int{30, 14, 7, 0}}, 0,
			fsm.RenewalPlan{Status: fsm.CertExpiring, Crossed: []int{30, 14, 7}}},
		{"thresholds unordered and repeated", fsm.CertActive, days(6),
			fsm.RenewalPolicy{AlertThresholdsDays: []int{7, 30, 7, 14, 3}}, 0,
			fsm.RenewalPlan{Status: fsm.CertExpiring, Crossed: []int{30, 14, 7}}},
		{"no thresholds: expired but never expiring", fsm.CertActive, days(1),
			fsm.RenewalPolicy{}, 0,
			fsm.RenewalPlan{}},

		{"pending is not watched", fsm.CertPending, days(1), std, 0, fsm.RenewalPlan{}},
		{"revoked is not watched", fsm.CertRevoked, -days(1), std, 0, fsm.RenewalPlan{}},
		{"archived is not watched", fsm.CertArchived, -days(1), std, 0, fsm.RenewalPlan{}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			exp := now.Add(tc.left)
			c := &fsm.Certificate{ID: "mc-x", Status: tc.status, ExpiresAt: &exp}
			got := fsm.PlanRenewal(now, c, &tc.policy, tc.lifetime)
			want := tc.want
			if want.Status != "" || want.Crossed != nil || want.Renew {
				want.Left = tc.left
			}
			if got.Status == "" && got.Crossed == nil && !got.Renew {
				got.Left = 0
			}
			assert.Equal(t, want, got)
		})
	}

	t.Run("no expiry", func(t *testing.T) {
		assert.Equal(t, fsm.RenewalPlan{}, fsm.PlanRenewal(now, &fsm.Certificate{Status: fsm.CertActive}, &std, 0))
	})
	t.Run("pure", func(t *testing.T) {
		exp := now.Add(days(10))
		c := &fsm.Certificate{Status: fsm.CertActive, ExpiresAt: &exp}
		p := fsm.RenewalPolicy{AutoRenew: true, AlertThresholdsDays: []int{7, 30, 14}}
		first := fsm.PlanRenewal(now, c, &p, 0)
		assert.Equal(t, first, fsm.PlanRenewal(now, c, &p, 0))
		assert.Equal(t, []int{7, 30, 14}, p.AlertThresholdsDays, "PlanRenewal must not reorder the policy's thresholds")
	})
}

func TestLifecycle_RenewalHorizonOfPolicies(t *testing.T) {
	longest := 398 * fsm.Day
	assert.Equal(t, time.Duration(0), fsm.RenewalHorizon(nil, longest))
	assert.Equal(t, 30*fsm.Day, fsm.RenewalHorizon([]fsm.RenewalPolicy{{AutoRenew: true, RenewalWindowDays: ptr(14), AlertThresholdsDays: []int{30, 7}}}, longest))
	assert.Equal(t, 45*fsm.Day, fsm.RenewalHorizon([]fsm.RenewalPolicy{
		{AutoRenew: true, RenewalWindowDays: ptr(45), AlertThresholdsDays: []int{30}},
		{AutoRenew: false, AlertThresholdsDays: []int{14}}, // no window and no auto renewal: its thresholds only
	}, longest))
	assert.Equal(t, longest/3, fsm.RenewalHorizon([]fsm.RenewalPolicy{{AutoRenew: true, AlertThresholdsDays: []int{30}}}, longest),
		"a policy without a window reads a third of the longest lifetime ahead")
}
