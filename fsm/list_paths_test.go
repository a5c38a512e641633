package fsm_test

import (
	"encoding/json"
	"fmt"
	"math/rand"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/certctl/certctl/api/wire"
	"github.com/certctl/certctl/fsm"
	"github.com/certctl/certctl/fsm/fsmtest"
)

// The status-only and expiry-only filters take index fast paths; they must
// answer exactly what a full scan with the same filter answers.
func TestFSM_CertificateListFastPathsMatchScan(t *testing.T) {
	f := fsmtest.Open(t)
	l := fsmtest.NewLog(t, f)
	fsmtest.Seed(l)
	rng := rand.New(rand.NewSource(7))
	base := time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)
	statuses := []string{string(fsm.CertActive), string(fsm.CertExpiring), string(fsm.CertExpired), string(fsm.CertFailed)}
	var all []fsm.Certificate
	for i := range 240 {
		c := fsmtest.Certificate(fmt.Sprintf("mc-p%03d", i), fmt.Sprintf("h%d.example.com", i))
		if i%5 != 0 { // some have no expiry
			exp := base.Add(time.Duration(rng.Intn(400)) * time.Hour)
			c.ExpiresAt = &exp
		}
		l.Must(&fsm.CreateCertificate{Certificate: c})
		st := statuses[rng.Intn(len(statuses))]
		l.Must(&fsm.SetCertificateStatus{ID: c.ID, Status: wire.CertificateStatus(st)})
		c.Status = wire.CertificateStatus(st)
		all = append(all, c)
	}
	before, after := base.Add(200*time.Hour), base.Add(50*time.Hour)
	filters := []fsm.CertificateFilter{
		{Status: fsm.CertExpiring},
		{Status: "expired"},
		{ExpiresBefore: &before},
		{ExpiresAfter: &after},
		{ExpiresAfter: &after, ExpiresBefore: &before},
	}
	for _, flt := range filters {
		// The expected answer, computed here from what was written.
		var want []string
		for _, c := range all {
			if canon, _ := fsm.CertificateStatuses.Canonical(string(flt.Status)); flt.Status != "" && c.Status != canon {
				continue
			}
			if flt.ExpiresBefore != nil && (c.ExpiresAt == nil || !c.ExpiresAt.Before(*flt.ExpiresBefore)) {
				continue
			}
			if flt.ExpiresAfter != nil && (c.ExpiresAt == nil || !c.ExpiresAt.After(*flt.ExpiresAfter)) {
				continue
			}
			want = append(want, c.ID)
		}
		var got []string
		for page := 1; ; page++ {
			res, err := f.Certificates(flt, fsm.Page{Page: page, PerPage: 7})
			require.NoError(t, err)
			assert.Equal(t, len(want), res.Total, "total of %+v", flt)
			for _, c := range res.Items {
				got = append(got, c.ID)
			}
			if len(res.Items) < 7 {
				break
			}
		}
		slices.Sort(got)
		slices.Sort(want)
		assert.Equal(t, want, got, "pages of %+v", flt)
	}
}

// Deep pages of the unfiltered list are found through page marks; they must
// stay right when certificates are added between the marks.
func TestFSM_CertificatePagesStayExactAcrossMarks(t *testing.T) {
	f := fsmtest.Open(t)
	l := fsmtest.NewLog(t, f)
	fsmtest.Seed(l)
	add := func(id string) {
		l.Must(&fsm.CreateCertificate{Certificate: fsmtest.Certificate(id, "h.example.com")})
	}
	for i := range 700 {
		add(fmt.Sprintf("mc-m%04d", i*2))
	}
	check := func() {
		t.Helper()
		var want []string
		for p := 1; ; p++ { // a walk with a filter that matches all: the scan path
			res, err := f.Certificates(fsm.CertificateFilter{Q: "h.example.com"}, fsm.Page{Page: p, PerPage: 500})
			require.NoError(t, err)
			for _, c := range res.Items {
				want = append(want, c.ID)
			}
			if len(res.Items) < 500 {
				break
			}
		}
		want = append([]string{fsmtest.CertificateID}, want...) // the seeded one has another name
		var got []string
		for p := 1; ; p++ {
			res, err := f.CertificatesJSON(fsm.CertificateFilter{}, fsm.Page{Page: p, PerPage: 37})
			require.NoError(t, err)
			assert.Equal(t, len(want), res.Total)
			for _, raw := range res.Items {
				var c fsm.Certificate
				require.NoError(t, json.Unmarshal(raw, &c))
				got = append(got, c.ID)
			}
			if len(res.Items) < 37 {
				break
			}
		}
		slices.Sort(want)
		assert.Equal(t, want, got)
	}
	check()
	for i := range 20 { // land between existing keys, before and after marks
		add(fmt.Sprintf("mc-m%04d", i*70+1))
	}
	check()
}
