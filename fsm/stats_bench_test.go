package fsm_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	"github.com/stretchr/testify/require"

	"github.com/certctl/certctl/fsm"
	"github.com/certctl/certctl/fsm/fsmtest"
)

// dashboardInventory loads certs Active certificates, one version each
// (a 90-day lifetime) ending spread over (now − 30 days, now + 400 days],
// one in a hundred with a weak key: a site's inventory as the overview
// reads it.
func dashboardInventory(b *testing.B, certs int) (*fsm.FSM, time.Time) {
	f := fsmtest.Open(b)
	l := fsmtest.NewLog(b, f)
	fsmtest.Seed(l)
	now := l.Now
	for i := 0; i < certs; i += 500 {
		entries := make([]*raft.Log, 0, 1000)
		for j := i; j < i+500; j++ {
			id := fmt.Sprintf("bench-%08d", j)
			entries = append(entries, l.Entry(&fsm.CreateCertificate{Certificate: fsmtest.Certificate(id, fmt.Sprintf("h%d.example.com", j))}))
			notAfter := now.Add(-30*fsm.Day + time.Duration(j)*(430*fsm.Day/time.Duration(certs)))
			v := fsmtest.Version("cv-"+id, id, j+1, notAfter.Add(-90*fsm.Day), 90*fsm.Day)
			v.WeakKey = j%100 == 0
			entries = append(entries, l.Entry(&fsm.RecordVersion{Version: v}))
		}
		fsmtest.ApplyBatch(b, f, entries...)
	}
	return f, now
}

// BenchmarkFSM_Dashboard100k times the dashboard's reads at 100,000
// certificates (plus the seed's one), sharing one inventory:
//
//   - summary: GET /api/v1/stats/summary's read: counters, the expiry
//     index's keys, and the certificates inside the renewal horizon (a
//     third of the 398-day maximum lifetime) decoded for renewal_overdue;
//   - timeline: the overview's 90-day weekly expiry timeline (index keys);
//   - list/<risk>: the first page of the list each tile links to.
func BenchmarkFSM_Dashboard100k(b *testing.B) {
	f, now := dashboardInventory(b, 100_000)
	rc := fsm.RiskClock{Now: now}
	s, err := f.StatsSummary(rc)
	require.NoError(b, err)
	require.Equal(b, 100_001, s.Certificates.Total)
	require.Equal(b, 1000, s.Certificates.WeakKeys)
	require.InDelta(b, 100_000*30/430, s.Certificates.Expired, 2)
	b.Run("summary", func(b *testing.B) {
		for b.Loop() {
			if _, err := f.StatsSummary(rc); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("timeline", func(b *testing.B) {
		for b.Loop() {
			if _, err := f.ExpirationTimeline(now, 90, 7*fsm.Day); err != nil {
				b.Fatal(err)
			}
		}
	})
	for _, r := range fsm.Risks {
		b.Run("list/"+string(r), func(b *testing.B) {
			for b.Loop() {
				if _, err := f.CertificatesJSON(fsm.CertificateFilter{Risk: r, Clock: rc}, fsm.Page{}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
