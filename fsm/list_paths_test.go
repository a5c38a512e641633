package fsm_test

import (
	"fmt"
	"math/rand"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

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
	statuses := []string{fsm.CertActive, fsm.CertExpiring, fsm.CertExpired, fsm.CertFailed}
	var all []fsm.Certificate
	for i := range 240 {
		c := fsmtest.Certificate(fmt.Sprintf("mc-p%03d", i), fmt.Sprintf("h%d.example.com", i))
		if i%5 != 0 { // some have no expiry
			exp := base.Add(time.Duration(rng.Intn(400)) * time.Hour)
			c.ExpiresAt = &exp
		}
		l.Must(&fsm.CreateCertificate{Certificate: c})
		st := statuses[rng.Intn(len(statuses))]
		l.Must(&fsm.SetCertificateStatus{ID: c.ID, Status: st})
		c.Status = st
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
			if canon, _ := fsm.CertificateStatuses.Canonical(flt.Status); flt.Status != "" && c.Status != canon {
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
