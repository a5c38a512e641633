package fsm_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/certctl/certctl/fsm"
	"github.com/certctl/certctl/fsm/fsmtest"
)

func days(n int) time.Duration { return time.Duration(n) * fsm.Day }

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

func TestLifecycle_PlanRenewal(t *testing.T) {
	now := fsmtest.T0
	thirty := 30
	p := &fsm.RenewalPolicy{AutoRenew: true, RenewalWindowDays: &thirty, AlertThresholdsDays: []int{14, 0}}
	cert := func(status string, left time.Duration) *fsm.Certificate {
		exp := now.Add(left)
		return &fsm.Certificate{ID: "mc-1", Status: status, ExpiresAt: &exp}
	}
	cases := []struct {
		name string
		cert *fsm.Certificate
		want fsm.RenewalPlan
	}{
		{"no expiry", &fsm.Certificate{Status: fsm.CertActive}, fsm.RenewalPlan{}},
		{"archived", cert(fsm.CertArchived, -time.Hour), fsm.RenewalPlan{}},
		{"revoked", cert(fsm.CertRevoked, -time.Hour), fsm.RenewalPlan{}},
		{"never issued", cert(fsm.CertPending, -time.Hour), fsm.RenewalPlan{}},
		{"far off", cert(fsm.CertActive, days(60)), fsm.RenewalPlan{Left: days(60)}},
		{"inside the window", cert(fsm.CertActive, days(20)), fsm.RenewalPlan{Renew: true, Left: days(20)}},
		{"inside the alert window: Expiring", cert(fsm.CertActive, days(10)),
			fsm.RenewalPlan{Status: fsm.CertExpiring, Crossed: []int{14}, Renew: true, Left: days(10)}},
		{"Expiring stays", cert(fsm.CertExpiring, days(10)), fsm.RenewalPlan{Crossed: []int{14}, Renew: true, Left: days(10)}},
		{"expired: Expired", cert(fsm.CertFailed, -time.Hour),
			fsm.RenewalPlan{Status: fsm.CertExpired, Crossed: []int{14, 0}, Renew: true, Left: -time.Hour}},
		{"Expired stays", cert(fsm.CertExpired, -time.Hour), fsm.RenewalPlan{Crossed: []int{14, 0}, Renew: true, Left: -time.Hour}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, fsm.PlanRenewal(now, tc.cert, p, 0))
		})
	}
}

func TestLifecycle_RetryDelay(t *testing.T) {
	cases := []struct {
		interval, attempt int
		want              time.Duration
	}{
		{0, 1, 0},
		{60, 1, time.Hour},
		{60, 2, 2 * time.Hour},
		{60, 3, 4 * time.Hour},
		{60, 6, fsm.MaxRetryDelay},
		{60, 60, fsm.MaxRetryDelay},
		{2 * 24 * 60, 3, 48 * time.Hour}, // an interval past the cap is kept
	}
	for _, tc := range cases {
		assert.Equal(t, tc.want, fsm.RetryDelay(tc.interval, tc.attempt), "interval %d, attempt %d", tc.interval, tc.attempt)
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
				assert.Equal(t, `certificate "mc-1" is `+st+` and cannot be renewed; create a new certificate instead`, r.Message)
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
