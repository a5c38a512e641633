package backup

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/certctl/certctl/api/wire"
)

// File names of scheduled snapshots: FilePrefix, the UTC time, the raft
// index, FileSuffix. Names sort by time.
const (
	FilePrefix = "certctl-snapshot-"
	FileSuffix = ".snap"
)

// DefaultRetain is how many scheduled snapshots are kept when Retain is 0.
const DefaultRetain = 7

// ScheduleConfig configures scheduled snapshots.
type ScheduleConfig struct {
	// Dir receives the files (created 0700 if missing); required.
	Dir string
	// Interval between snapshots; required, at least a minute.
	Interval time.Duration
	// Retain is how many files to keep; 0 means DefaultRetain.
	Retain int
	// NodeID names this node in the header.
	NodeID string
	Logger *slog.Logger
	Now    func() time.Time // nil: time.Now
}

// Validate checks the configuration and says what to fix.
func (c ScheduleConfig) Validate() error {
	switch {
	case c.Dir == "":
		return errors.New("backup: snapshot_dir is required with snapshot_interval: name the directory scheduled snapshots go to")
	case c.Interval < time.Minute:
		return fmt.Errorf("backup: snapshot_interval %s is too short: use at least 1m (e.g. 6h), or 0 to turn scheduled snapshots off", c.Interval)
	case c.Retain < 0:
		return fmt.Errorf("backup: snapshot_retain %d must be 1 or more (0 means %d)", c.Retain, DefaultRetain)
	}
	return nil
}

// Schedule writes a snapshot file of the state to Dir every Interval while
// Run runs (on the leader, through node.RunOnLeader), keeping the newest
// Retain files. Its Status is safe to read from any goroutine.
type Schedule struct {
	cfg ScheduleConfig
	src State

	mu     sync.Mutex
	status wire.SnapshotStatus
}

// NewSchedule returns a Schedule of src's state; cfg is validated.
func NewSchedule(cfg ScheduleConfig, src State) (*Schedule, error) {
	if cfg.Retain == 0 {
		cfg.Retain = DefaultRetain
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Schedule{cfg: cfg, src: src, status: wire.SnapshotStatus{
		NodeID: cfg.NodeID, Interval: cfg.Interval.String(), Dir: cfg.Dir, Retain: cfg.Retain,
	}}, nil
}

// Status returns the outcome of the snapshots taken so far.
func (s *Schedule) Status() wire.SnapshotStatus {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.status
	return st
}

// Run takes a snapshot whenever one is due, until ctx ends: the first when
// the newest file in Dir is older than Interval (at once when there is
// none), so a change of leader neither skips nor repeats one. A failed
// snapshot is retried after a tenth of the interval (at most 10 minutes).
func (s *Schedule) Run(ctx context.Context) {
	due := s.cfg.Now()
	if _, at, ok := s.newest(); ok {
		due = at.Add(s.cfg.Interval)
	}
	retry := min(s.cfg.Interval/10, 10*time.Minute)
	for {
		timer := time.NewTimer(max(due.Sub(s.cfg.Now()), 0))
		select {
		case <-ctx.Done():
			timer.Stop()
			return
		case <-timer.C:
		}
		if _, err := s.Save(ctx); err != nil {
			due = s.cfg.Now().Add(retry)
			continue
		}
		due = s.cfg.Now().Add(s.cfg.Interval)
	}
}

// Save writes one snapshot file to Dir now, prunes the oldest beyond Retain
// and records the outcome in Status. It returns the file's path.
func (s *Schedule) Save(ctx context.Context) (string, error) {
	path, idx, err := s.save()
	now := s.cfg.Now().UTC()
	s.mu.Lock()
	if err != nil {
		s.status.LastFailureAt, s.status.LastError = &now, err.Error()
		s.status.Failures++
	} else {
		s.status.LastSuccessAt, s.status.LastSuccessFile, s.status.LastSuccessIndex = &now, path, idx
	}
	s.mu.Unlock()
	if err != nil {
		if ctx.Err() == nil {
			s.cfg.Logger.Error("scheduled snapshot failed", "dir", s.cfg.Dir, "err", err)
		}
		return "", err
	}
	s.cfg.Logger.Info("scheduled snapshot written", "file", path, "index", idx)
	if err := s.prune(); err != nil {
		s.cfg.Logger.Warn("scheduled snapshot: old files not pruned", "dir", s.cfg.Dir, "err", err)
	}
	return path, nil
}

func (s *Schedule) save() (string, uint64, error) {
	if err := os.MkdirAll(s.cfg.Dir, 0o700); err != nil {
		return "", 0, fmt.Errorf("backup: snapshot_dir: %w", err)
	}
	now := s.cfg.Now().UTC()
	p, err := Prepare(s.src, s.cfg.Dir, s.cfg.NodeID, now)
	if err != nil {
		return "", 0, err
	}
	defer p.Close()
	name := fmt.Sprintf("%s%s-%d%s", FilePrefix, now.Format("20060102T150405Z"), p.Header.Index, FileSuffix)
	path := filepath.Join(s.cfg.Dir, name)
	if err := WriteFile(path, p.WriteTo, nil); err != nil {
		return "", 0, err
	}
	return path, p.Header.Index, nil
}

// WriteFile writes a snapshot file at path through write: to a temporary
// name in the same directory (mode 0600), synced, read back to check its
// body's size and SHA-256, checked by verify (when not nil) with the
// temporary file's path, then renamed to path and the directory synced. A
// failure leaves no file behind.
func WriteFile(path string, write func(io.Writer) (int64, error), verify func(tmp string) error) (err error) {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if err := tmp.Chmod(0o600); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	if _, err := write(tmp); err != nil {
		return err
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	if _, err := tmp.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	if err := checkStream(tmp); err != nil {
		return fmt.Errorf("backup: the file written does not read back: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	if verify != nil {
		if err := verify(tmp.Name()); err != nil {
			return err
		}
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return nil
}

// checkStream reads a snapshot file through, checking its format and its
// body's size and SHA-256.
func checkStream(r io.Reader) error {
	_, body, err := Read(r)
	if err != nil {
		return err
	}
	_, err = io.Copy(io.Discard, body)
	return err
}

// files lists the scheduled snapshots in Dir, oldest first.
func (s *Schedule) files() ([]os.DirEntry, error) {
	entries, err := os.ReadDir(s.cfg.Dir)
	if err != nil {
		return nil, err
	}
	var out []os.DirEntry
	for _, e := range entries {
		if e.Type().IsRegular() && strings.HasPrefix(e.Name(), FilePrefix) && strings.HasSuffix(e.Name(), FileSuffix) {
			out = append(out, e)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name() < out[j].Name() })
	return out, nil
}

// newest returns the newest scheduled snapshot and its modification time.
func (s *Schedule) newest() (string, time.Time, bool) {
	files, err := s.files()
	if err != nil || len(files) == 0 {
		return "", time.Time{}, false
	}
	last := files[len(files)-1]
	info, err := last.Info()
	if err != nil {
		return "", time.Time{}, false
	}
	return filepath.Join(s.cfg.Dir, last.Name()), info.ModTime(), true
}

// prune deletes the oldest scheduled snapshots beyond Retain.
func (s *Schedule) prune() error {
	files, err := s.files()
	if err != nil {
		return err
	}
	var errs []error
	for len(files) > s.cfg.Retain {
		if err := os.Remove(filepath.Join(s.cfg.Dir, files[0].Name())); err != nil {
			errs = append(errs, err)
		}
		files = files[1:]
	}
	return errors.Join(errs...)
}
