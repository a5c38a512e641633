package backup_test

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/certctl/certctl/node/backup"
)

func TestSchedule_SaveKeepsRetainNewest(t *testing.T) {
	f := seeded(t)
	dir := filepath.Join(t.TempDir(), "snaps")
	now := created
	s, err := backup.NewSchedule(backup.ScheduleConfig{Dir: dir, Interval: time.Hour, Retain: 2, NodeID: "node-1",
		Now: func() time.Time { return now }}, f)
	require.NoError(t, err)
	var saved []string
	for range 4 {
		path, err := s.Save(context.Background())
		require.NoError(t, err)
		saved = append(saved, path)
		now = now.Add(time.Hour)
	}
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
		info, err := e.Info()
		require.NoError(t, err)
		assert.Equal(t, os.FileMode(0o600), info.Mode().Perm(), e.Name())
	}
	assert.Equal(t, []string{filepath.Base(saved[2]), filepath.Base(saved[3])}, names)
	assert.Regexp(t, `^certctl-snapshot-20260501T130000Z-\d+\.snap$`, names[1])

	h, rep, err := backup.Inspect(saved[3])
	require.NoError(t, err, rep)
	assert.Equal(t, "cl-backup", h.ClusterID)
	assert.Equal(t, "node-1", h.NodeID)

	st := s.Status()
	require.NotNil(t, st.LastSuccessAt)
	assert.Equal(t, saved[3], st.LastSuccessFile)
	assert.Equal(t, f.AppliedIndex(), st.LastSuccessIndex)
	assert.Nil(t, st.LastFailureAt)
	assert.Zero(t, st.Failures)
	assert.Equal(t, 2, st.Retain)
}

func TestSchedule_FailureIsRecorded(t *testing.T) {
	f := seeded(t)
	notDir := filepath.Join(t.TempDir(), "file")
	require.NoError(t, os.WriteFile(notDir, nil, 0o600))
	s, err := backup.NewSchedule(backup.ScheduleConfig{Dir: notDir, Interval: time.Hour}, f)
	require.NoError(t, err)
	_, err = s.Save(context.Background())
	require.Error(t, err)
	st := s.Status()
	require.NotNil(t, st.LastFailureAt)
	assert.Contains(t, st.LastError, "snapshot_dir")
	assert.EqualValues(t, 1, st.Failures)
	assert.Nil(t, st.LastSuccessAt)
	assert.Equal(t, backup.DefaultRetain, st.Retain)
}

// TestSchedule_RunTakesOneAtOnceWhenNoneIsRecent: a leader with no recent
// file in the directory snapshots as it starts, and Run returns when its
// leadership (ctx) ends.
func TestSchedule_RunTakesOneAtOnceWhenNoneIsRecent(t *testing.T) {
	f := seeded(t)
	dir := t.TempDir()
	s, err := backup.NewSchedule(backup.ScheduleConfig{Dir: dir, Interval: time.Hour}, f)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); s.Run(ctx) }()
	require.Eventually(t, func() bool { return s.Status().LastSuccessAt != nil }, 30*time.Second, 10*time.Millisecond)
	cancel()
	wg.Wait()
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	assert.Len(t, entries, 1)
}

func TestScheduleConfig_Validate(t *testing.T) {
	for _, tt := range []struct {
		cfg  backup.ScheduleConfig
		want string
	}{
		{backup.ScheduleConfig{Interval: time.Hour}, "snapshot_dir is required"},
		{backup.ScheduleConfig{Dir: "/x", Interval: time.Second}, "snapshot_interval 1s is too short"},
		{backup.ScheduleConfig{Dir: "/x", Interval: time.Hour, Retain: -1}, "snapshot_retain -1"},
	} {
		assert.ErrorContains(t, tt.cfg.Validate(), tt.want)
	}
}
