package fsm_test

import (
	"fmt"
	"path/filepath"
	"testing"

	"github.com/hashicorp/raft"
	"github.com/stretchr/testify/require"

	"github.com/certctl/certctl/fsm"
	"github.com/certctl/certctl/fsm/fsmtest"
)

// benchmarkApply applies n CreateCertificate entries, batch at a time, to a
// seeded FSM that fsyncs every commit, as a node's does, and reports entries/s.
func benchmarkApply(b *testing.B, batch int) {
	f := fsmtest.OpenPath(b, filepath.Join(b.TempDir(), "state.db"), fsm.Options{})
	l := fsmtest.NewLog(b, f)
	fsmtest.Seed(l)
	entries := make([]*raft.Log, b.N*batch)
	for i := range entries {
		c := fsmtest.Certificate(fmt.Sprintf("bench-%08d", i), fmt.Sprintf("h%d.example.com", i))
		c.TargetIDs = []string{fsmtest.TargetID}
		entries[i] = l.Entry(&fsm.CreateCertificate{Certificate: c})
	}
	b.ResetTimer()
	for i := range b.N {
		for _, r := range f.ApplyBatch(entries[i*batch : (i+1)*batch]) {
			if err := r.(*fsm.ApplyResult).Err; err != nil {
				b.Fatal(err)
			}
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(len(entries))/b.Elapsed().Seconds(), "entries/s")
	list, err := f.Certificates(fsm.CertificateFilter{}, fsm.Page{PerPage: 1})
	require.NoError(b, err)
	require.Equal(b, len(entries)+1, list.Total)
}

// BenchmarkFSM_ApplyBatch is raft's path: one bbolt commit per 64 entries.
func BenchmarkFSM_ApplyBatch(b *testing.B) { benchmarkApply(b, 64) }

// BenchmarkFSM_ApplyOneByOne commits each entry alone, for the ratio.
func BenchmarkFSM_ApplyOneByOne(b *testing.B) { benchmarkApply(b, 1) }
