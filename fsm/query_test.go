package fsm_test

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

const day = 24 * time.Hour

func TestFSM_ListPagination(t *testing.T) {
	f, l := seeded(t)
	for i := range 23 {
		l.Must(&fsm.CreateTeam{Team: fsmtest.Team(fmt.Sprintf("team-x%02d", i), fmt.Sprint("Team ", i))})
	}
	all, err := f.Teams(fsm.Page{PerPage: fsm.MaxPerPage})
	require.NoError(t, err)
	require.Len(t, all.Items, 24)

	cases := []struct {
		name  string
		page  fsm.Page
		first int // index in all of the page's first item
		len   int
	}{
		{"first page", fsm.Page{Page: 1, PerPage: 10}, 0, 10},
		{"middle page", fsm.Page{Page: 2, PerPage: 10}, 10, 10},
		{"last, partial page", fsm.Page{Page: 3, PerPage: 10}, 20, 4},
		{"past the end", fsm.Page{Page: 4, PerPage: 10}, 0, 0},
		{"one per page", fsm.Page{Page: 24, PerPage: 1}, 23, 1},
		{"defaults", fsm.Page{}, 0, 24},
		{"negative page is the first", fsm.Page{Page: -3, PerPage: 5}, 0, 5},
		{"per page clamped", fsm.Page{Page: 1, PerPage: 100_000}, 0, 24},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			list, err := f.Teams(tc.page)
			require.NoError(t, err)
			assert.Equal(t, 24, list.Total, "the total counts every match, not the page")
			require.Len(t, list.Items, tc.len)
			if tc.len > 0 {
				assert.Equal(t, all.Items[tc.first:tc.first+tc.len], list.Items)
			}
		})
	}
}

// certFixture adds to the seeded state (mc-1: Pending, production, owner-1,
// team-1, issuer-1, no expiry) certificates that differ in every filtered field.
func certFixture(t *testing.T) *fsm.FSM {
	t.Helper()
	f, l := seeded(t)
	l.Must(&fsm.CreateTeam{Team: fsmtest.Team("team-2", "Security")})
	l.Must(&fsm.CreateOwner{Owner: fsmtest.Owner("owner-2", "team-2")})
	l.Must(&fsm.CreateIssuer{Issuer: fsmtest.Issuer("issuer-2", "Other CA")})
	add := func(id, cn, name, env, owner, team, issuer string, expires time.Duration, status wire.CertificateStatus) {
		c := fsmtest.Certificate(id, cn)
		c.Environment, c.OwnerID, c.TeamID, c.IssuerID = env, owner, team, issuer
		if name != "" {
			c.Name = name
		}
		c.ExpiresAt = ptr(at(expires))
		l.Must(&fsm.CreateCertificate{Certificate: c})
		if status == fsm.CertArchived {
			l.Must(&fsm.ArchiveCertificate{ID: id})
		} else {
			l.Must(&fsm.SetCertificateStatus{ID: id, Status: status})
		}
	}
	add("mc-a", "api.example.com", "", "staging", "owner-2", "team-2", fsmtest.IssuerID, 10*day, fsm.CertActive)
	add("mc-b", "db.internal.example.com", "", "production", fsmtest.OwnerID, fsmtest.TeamID, "issuer-2", 40*day, fsm.CertActive)
	add("mc-c", "Mail.Example.org", "Mail gateway", "production", "owner-2", "team-2", "issuer-2", 2*day, fsm.CertExpiring)
	add("mc-d", "old.example.com", "", "staging", fsmtest.OwnerID, fsmtest.TeamID, fsmtest.IssuerID, -day, fsm.CertExpired)
	add("mc-e", "gone.example.com", "", "production", fsmtest.OwnerID, fsmtest.TeamID, fsmtest.IssuerID, 5*day, fsm.CertArchived)
	return f
}

func TestFSM_CertificateFilters(t *testing.T) {
	f := certFixture(t)
	cases := []struct {
		name string
		flt  fsm.CertificateFilter
		want []string
	}{
		{"none", fsm.CertificateFilter{}, []string{"mc-1", "mc-a", "mc-b", "mc-c", "mc-d", "mc-e"}},
		{"status", fsm.CertificateFilter{Status: fsm.CertActive}, []string{"mc-a", "mc-b"}},
		{"status, any case", fsm.CertificateFilter{Status: "EXPIRING"}, []string{"mc-c"}},
		{"status nobody has", fsm.CertificateFilter{Status: fsm.CertRevoked}, []string{}},
		{"environment", fsm.CertificateFilter{Environment: "staging"}, []string{"mc-a", "mc-d"}},
		{"owner", fsm.CertificateFilter{OwnerID: "owner-2"}, []string{"mc-a", "mc-c"}},
		{"team", fsm.CertificateFilter{TeamID: fsmtest.TeamID}, []string{"mc-1", "mc-b", "mc-d", "mc-e"}},
		{"issuer", fsm.CertificateFilter{IssuerID: "issuer-2"}, []string{"mc-b", "mc-c"}},
		// Filtered by expiry alone, the list is in expiry order, soonest first.
		{"expires before", fsm.CertificateFilter{ExpiresBefore: ptr(at(7 * day))}, []string{"mc-d", "mc-c", "mc-e"}},
		{"expires before, exclusive", fsm.CertificateFilter{ExpiresBefore: ptr(at(10 * day))}, []string{"mc-d", "mc-c", "mc-e"}},
		{"expires after", fsm.CertificateFilter{ExpiresAfter: ptr(at(7 * day))}, []string{"mc-a", "mc-b"}},
		{"expires after, exclusive", fsm.CertificateFilter{ExpiresAfter: ptr(at(10 * day))}, []string{"mc-b"}},
		{"expiry window", fsm.CertificateFilter{ExpiresAfter: ptr(fsmtest.T0), ExpiresBefore: ptr(at(30 * day))}, []string{"mc-c", "mc-e", "mc-a"}},
		{"expiry window, empty", fsm.CertificateFilter{ExpiresAfter: ptr(at(10 * day)), ExpiresBefore: ptr(at(11 * day))}, []string{}},
		{"q in common name, any case", fsm.CertificateFilter{Q: "example.ORG"}, []string{"mc-c"}},
		{"q in name", fsm.CertificateFilter{Q: "gateway"}, []string{"mc-c"}},
		{"q matching many", fsm.CertificateFilter{Q: ".example.com"}, []string{"mc-1", "mc-a", "mc-b", "mc-d", "mc-e"}},
		{"status and environment", fsm.CertificateFilter{Status: fsm.CertActive, Environment: "production"}, []string{"mc-b"}},
		{"owner and expiry", fsm.CertificateFilter{OwnerID: fsmtest.OwnerID, ExpiresBefore: ptr(at(30 * day))}, []string{"mc-d", "mc-e"}},
		{"status and expiry", fsm.CertificateFilter{Status: fsm.CertActive, ExpiresBefore: ptr(at(30 * day))}, []string{"mc-a"}},
		{"no match", fsm.CertificateFilter{Environment: "production", OwnerID: "owner-2", Status: fsm.CertActive}, []string{}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			list, err := f.Certificates(tc.flt, fsm.Page{})
			require.NoError(t, err)
			assert.Equal(t, tc.want, certIDs(list.Items))
			assert.Equal(t, len(tc.want), list.Total)

			// Paged one at a time, the pages add up to the same list and total.
			var paged []string
			for p := 1; p <= len(tc.want)+1; p++ {
				page, err := f.Certificates(tc.flt, fsm.Page{Page: p, PerPage: 1})
				require.NoError(t, err)
				assert.Equal(t, len(tc.want), page.Total, "page %d", p)
				paged = append(paged, certIDs(page.Items)...)
			}
			assert.Equal(t, tc.want, append([]string{}, paged...))
		})
	}
}

func TestFSM_CertificatesSorted(t *testing.T) {
	f := certFixture(t)
	cases := []struct {
		sort string
		want []string
	}{
		{"expires_at", []string{"mc-d", "mc-c", "mc-e", "mc-a", "mc-b", "mc-1"}},
		{"-expires_at", []string{"mc-1", "mc-b", "mc-a", "mc-e", "mc-c", "mc-d"}},
		{"common_name", []string{"mc-c", "mc-a", "mc-b", "mc-e", "mc-d", "mc-1"}},
		{"-id", []string{"mc-e", "mc-d", "mc-c", "mc-b", "mc-a", "mc-1"}},
	}
	for _, tc := range cases {
		t.Run(tc.sort, func(t *testing.T) {
			list, err := f.Certificates(fsm.CertificateFilter{Sort: tc.sort}, fsm.Page{})
			require.NoError(t, err)
			assert.Equal(t, tc.want, certIDs(list.Items))
			page, err := f.Certificates(fsm.CertificateFilter{Sort: tc.sort}, fsm.Page{Page: 2, PerPage: 4})
			require.NoError(t, err)
			assert.Equal(t, tc.want[4:], certIDs(page.Items))
			assert.Equal(t, len(tc.want), page.Total)
		})
	}
	t.Run("unknown field", func(t *testing.T) {
		_, err := f.Certificates(fsm.CertificateFilter{Sort: "owner"}, fsm.Page{})
		assert.ErrorIs(t, err, fsm.ErrInvalid)
	})
}

func TestFSM_CertificatesExpiringBefore(t *testing.T) {
	f := certFixture(t)
	var got []string
	require.NoError(t, f.CertificatesExpiringBefore(at(30*day), func(c *fsm.Certificate) bool {
		got = append(got, c.ID)
		return true
	}))
	// Soonest first; mc-e is archived, mc-b outside the window, mc-1 never expires.
	assert.Equal(t, []string{"mc-d", "mc-c", "mc-a"}, got)

	got = nil
	require.NoError(t, f.CertificatesExpiringBefore(at(30*day), func(c *fsm.Certificate) bool {
		got = append(got, c.ID)
		return len(got) < 2
	}))
	assert.Equal(t, []string{"mc-d", "mc-c"}, got, "returning false stops the walk")

	got = nil
	require.NoError(t, f.CertificatesExpiringBefore(at(-day), func(c *fsm.Certificate) bool {
		got = append(got, c.ID)
		return true
	}))
	assert.Empty(t, got, "the bound is exclusive")
}

func TestFSM_CertificatesExpiringBeforeFollowsRenewal(t *testing.T) {
	f, l := seeded(t)
	l.Must(&fsm.RecordVersion{Version: fsmtest.Version("ver-1", fsmtest.CertificateID, 1, at(-80*day), 90*day)})
	var got []string
	collect := func(c *fsm.Certificate) bool { got = append(got, c.ID); return true }
	require.NoError(t, f.CertificatesExpiringBefore(at(30*day), collect))
	require.Equal(t, []string{fsmtest.CertificateID}, got)

	l.Must(&fsm.RecordVersion{Version: fsmtest.Version("ver-2", fsmtest.CertificateID, 2, fsmtest.T0, 90*day)})

	got = nil
	require.NoError(t, f.CertificatesExpiringBefore(at(30*day), collect))
	assert.Empty(t, got, "the renewed certificate left the window: its old expiry is no longer indexed")
}

func TestFSM_JobFilters(t *testing.T) {
	f, l := seeded(t)
	l.Must(&fsm.CreateCertificate{Certificate: fsmtest.Certificate("mc-2", "api.example.com")})
	l.Must(&fsm.CreateJobs{Jobs: []fsm.Job{
		fsmtest.Job("job-1", fsm.JobRenewal), fsmtest.Job("job-2", fsm.JobIssuance), fsmtest.DeploymentJob("job-3"),
		{ID: "job-4", Type: fsm.JobRenewal, CertificateID: "mc-2"},
	}})
	l.Must(&fsm.ClaimJob{JobID: "job-1", Holder: "node-1", LeaseUntil: at(time.Hour)})
	l.Must(&fsm.CancelJob{JobID: "job-2"})

	cases := []struct {
		name string
		flt  fsm.JobFilter
		want []string
	}{
		{"none", fsm.JobFilter{}, []string{"job-1", "job-2", "job-3", "job-4"}},
		{"status", fsm.JobFilter{Status: "pending"}, []string{"job-3", "job-4"}},
		{"type", fsm.JobFilter{Type: "RENEWAL"}, []string{"job-1", "job-4"}},
		{"agent", fsm.JobFilter{AgentID: fsmtest.AgentID}, []string{"job-3"}},
		{"certificate", fsm.JobFilter{CertificateID: fsmtest.CertificateID}, []string{"job-1", "job-2", "job-3"}},
		{"certificate and status", fsm.JobFilter{CertificateID: fsmtest.CertificateID, Status: fsm.JobRunning}, []string{"job-1"}},
		{"status and type", fsm.JobFilter{Status: fsm.JobPending, Type: fsm.JobDeployment}, []string{"job-3"}},
		{"statuses", fsm.JobFilter{Statuses: []wire.JobStatus{"pending", fsm.JobRunning}}, []string{"job-1", "job-3", "job-4"}},
		{"statuses and type", fsm.JobFilter{Statuses: []wire.JobStatus{fsm.JobPending, fsm.JobCancelled}, Type: fsm.JobIssuance}, []string{"job-2"}},
		{"agent and statuses", fsm.JobFilter{AgentID: fsmtest.AgentID, Statuses: []wire.JobStatus{fsm.JobPending, fsm.JobAwaitingCSR, fsm.JobRunning}}, []string{"job-3"}},
		{"agent and statuses it has none of", fsm.JobFilter{AgentID: fsmtest.AgentID, Statuses: []wire.JobStatus{fsm.JobRunning, fsm.JobCancelled}}, []string{}},
		{"certificate and statuses", fsm.JobFilter{CertificateID: fsmtest.CertificateID, Statuses: []wire.JobStatus{fsm.JobRunning, fsm.JobCancelled}}, []string{"job-1", "job-2"}},
		{"status and statuses must both hold", fsm.JobFilter{Status: fsm.JobPending, Statuses: []wire.JobStatus{fsm.JobRunning}}, []string{}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			list, err := f.Jobs(tc.flt, fsm.Page{})
			require.NoError(t, err)
			got := []string{}
			for _, j := range list.Items {
				got = append(got, j.ID)
			}
			assert.Equal(t, tc.want, got)
			assert.Equal(t, len(tc.want), list.Total)
			page, err := f.Jobs(tc.flt, fsm.Page{Page: 2, PerPage: 1})
			require.NoError(t, err)
			assert.Equal(t, len(tc.want), page.Total)
		})
	}
}

func TestFSM_Counts(t *testing.T) {
	f, _ := seeded(t)
	counts, err := f.Counts()
	require.NoError(t, err)
	assert.Equal(t, 1, counts["managed_certificates"])
	assert.Equal(t, 1, counts["certificate_target_mappings"])
	assert.Equal(t, fsmtest.SeedAuditEvents, counts["audit_events"])
	assert.Zero(t, counts["jobs"])
}

func certIDs(certs []fsm.Certificate) []string {
	ids := []string{}
	for _, c := range certs {
		ids = append(ids, c.ID)
	}
	return ids
}
