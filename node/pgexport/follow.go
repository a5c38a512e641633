package pgexport

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/certctl/certctl/fsm"
	"github.com/certctl/certctl/node/backup"
)

// Source hands out the cluster's state: Fetch writes a snapshot file
// (node/backup's format) of a state consistent at one raft index to w. The
// API's GET /api/v1/cluster/snapshot is one (the leader's state after a
// barrier, so it holds every write acknowledged before the call).
type Source interface {
	Fetch(ctx context.Context, w io.Writer) error
}

// SourceFunc is a Source as a function.
type SourceFunc func(ctx context.Context, w io.Writer) error

// Fetch calls f.
func (f SourceFunc) Fetch(ctx context.Context, w io.Writer) error { return f(ctx, w) }

// FollowConfig configures a Follower.
type FollowConfig struct {
	// Connect opens a connection to the database; called again after a
	// connection fails.
	Connect func(ctx context.Context) (*pgx.Conn, error)
	// StateDir keeps the state the database was last synced to (last.db),
	// so a restart writes only what changed since. Required.
	StateDir string
	// Interval between two rounds (default 5 s); a round that took longer
	// is followed at once.
	Interval time.Duration
	// RoundTimeout bounds one round, fetch and sync (default 10 min).
	RoundTimeout time.Duration
	// LagWarn: a round that ends with the database further behind than
	// this logs a warning (default 1 min).
	LagWarn time.Duration
	// Registerer receives the follower's metrics; nil registers none.
	Registerer prometheus.Registerer
	Log        *slog.Logger
	Now        func() time.Time
}

// Validate checks the configuration and fills in its defaults.
func (c *FollowConfig) Validate() error {
	if c.Connect == nil {
		return errors.New("pgexport: FollowConfig.Connect is required")
	}
	if c.StateDir == "" {
		return errors.New("pgexport: a state directory is required to follow")
	}
	if c.Interval == 0 {
		c.Interval = 5 * time.Second
	}
	if c.Interval < 100*time.Millisecond {
		return fmt.Errorf("pgexport: interval %s is below 100ms", c.Interval)
	}
	if c.RoundTimeout == 0 {
		c.RoundTimeout = 10 * time.Minute
	}
	if c.LagWarn == 0 {
		c.LagWarn = time.Minute
	}
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return nil
}

// Follower keeps a database in step with the cluster: each round fetches
// the state (one raft index), writes its difference from the state the
// database holds in one transaction, and keeps it as the base of the next
// round. The database therefore moves from one raft index to a later one,
// never showing half of a change, and a restart of either side resumes from
// the index certctl_export records (a whole comparison when the state dir
// does not hold that state).
type Follower struct {
	cfg FollowConfig
	e   *Exporter
	src Source

	conn *pgx.Conn

	mu       sync.Mutex
	syncedAt time.Time // the start of the fetch the database now reflects
	index    uint64

	mLag     prometheus.GaugeFunc
	mIndex   prometheus.Gauge
	mRows    *prometheus.CounterVec
	mRounds  *prometheus.CounterVec
	mSeconds prometheus.Histogram
}

// NewFollower returns a follower exporting through e the states src hands out.
func NewFollower(cfg FollowConfig, e *Exporter, src Source) (*Follower, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cfg.StateDir, 0o700); err != nil {
		return nil, fmt.Errorf("pgexport: state dir: %w", err)
	}
	f := &Follower{cfg: cfg, e: e, src: src}
	f.mLag = prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "certctl_export_lag_seconds",
		Help: "How far behind the cluster the database may be: seconds since the start of the fetch of the state it holds (every write acknowledged before then is in it)."},
		func() float64 { return f.Lag().Seconds() })
	f.mIndex = prometheus.NewGauge(prometheus.GaugeOpts{Name: "certctl_export_raft_index", Help: "The raft index of the state the database holds."})
	f.mRows = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "certctl_export_rows_total", Help: "Rows changed in the database, by operation (upsert, delete)."}, []string{"op"})
	f.mRounds = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "certctl_export_rounds_total", Help: "Follow rounds, by outcome (ok, error)."}, []string{"outcome"})
	f.mSeconds = prometheus.NewHistogram(prometheus.HistogramOpts{Name: "certctl_export_round_seconds", Help: "Duration of a follow round: fetch, difference and commit.",
		Buckets: []float64{.05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300}})
	if cfg.Registerer != nil {
		for _, c := range []prometheus.Collector{f.mLag, f.mIndex, f.mRows, f.mRounds, f.mSeconds} {
			if err := cfg.Registerer.Register(c); err != nil {
				return nil, fmt.Errorf("pgexport: metrics: %w", err)
			}
		}
	}
	return f, nil
}

// Lag is how far behind the database may be: the time since the start of
// the fetch whose state it holds (since the follower started, before the
// first round succeeded).
func (f *Follower) Lag() time.Duration {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.syncedAt.IsZero() {
		return 0
	}
	return f.cfg.Now().Sub(f.syncedAt)
}

// Index is the raft index the database holds, as of the last round (0
// before the first).
func (f *Follower) Index() uint64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.index
}

// Run follows until ctx ends, then closes the connection. A failed round
// (cluster or database away) is logged and retried at the next interval.
func (f *Follower) Run(ctx context.Context) error {
	f.mu.Lock()
	f.syncedAt = f.cfg.Now() // lag counts from the start until the first round
	f.mu.Unlock()
	defer f.close()
	for {
		start := f.cfg.Now()
		if _, err := f.Round(ctx); err != nil && ctx.Err() == nil {
			f.cfg.Log.Error("export round failed; retrying", "err", err, "retry_in", f.cfg.Interval.String())
		}
		if lag := f.Lag(); lag > f.cfg.LagWarn && ctx.Err() == nil {
			f.cfg.Log.Warn("export is behind the cluster", "lag", lag.Round(time.Millisecond).String(), "raft_index", f.Index(), "lag_warn", f.cfg.LagWarn.String())
		}
		wait := f.cfg.Interval - f.cfg.Now().Sub(start)
		if wait < 0 {
			wait = 0
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(wait):
		}
	}
}

func (f *Follower) close() {
	if f.conn != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = f.conn.Close(ctx)
		f.conn = nil
	}
}

// Round fetches the state once and brings the database to it.
func (f *Follower) Round(ctx context.Context) (res Result, err error) {
	ctx, cancel := context.WithTimeout(ctx, f.cfg.RoundTimeout)
	defer cancel()
	start := f.cfg.Now()
	defer func() {
		outcome := "ok"
		if err != nil {
			outcome = "error"
		}
		f.mRounds.WithLabelValues(outcome).Inc()
		f.mSeconds.Observe(f.cfg.Now().Sub(start).Seconds())
	}()
	next := filepath.Join(f.cfg.StateDir, "next.db")
	last := filepath.Join(f.cfg.StateDir, "last.db")
	if err := FetchState(ctx, f.src, next); err != nil {
		return res, err
	}
	cur, err := fsm.OpenStateFile(next)
	if err != nil {
		return res, err
	}
	defer cur.Close()
	var prev *fsm.StateFile
	if _, err := os.Stat(last); err == nil {
		if prev, err = fsm.OpenStateFile(last); err != nil {
			f.cfg.Log.Warn("the state of the last round does not open; comparing the whole state", "file", last, "err", err)
			prev = nil
		} else {
			defer prev.Close()
		}
	}
	if f.conn == nil || f.conn.IsClosed() {
		if f.conn, err = f.cfg.Connect(ctx); err != nil {
			f.conn = nil
			return res, fmt.Errorf("pgexport: connect: %w", err)
		}
	}
	res, err = f.e.Sync(ctx, f.conn, prev, cur)
	if err != nil {
		if f.conn != nil && !errors.Is(err, ErrOtherCluster) {
			f.close() // a broken connection is opened anew next round
		}
		return res, err
	}
	cur.Close()
	if prev != nil {
		prev.Close()
	}
	if err := os.Rename(next, last); err != nil {
		return res, fmt.Errorf("pgexport: keep state: %w", err)
	}
	f.mu.Lock()
	f.syncedAt, f.index = start, res.Index
	f.mu.Unlock()
	f.mIndex.Set(float64(res.Index))
	f.mRows.WithLabelValues("upsert").Add(float64(total(res.Changed)))
	f.mRows.WithLabelValues("delete").Add(float64(total(res.Deleted)))
	if n := total(res.Changed) + total(res.Deleted); n > 0 || res.Full {
		f.cfg.Log.Info("export synced", "raft_index", res.Index, "full", res.Full, "changed", total(res.Changed), "deleted", total(res.Deleted))
	}
	return res, nil
}

func total(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

var errReaderDone = errors.New("pgexport: snapshot reader done")

// FetchState fetches a snapshot from src and writes its body, the state
// file, to path (mode 0600), checking the snapshot's size and SHA-256 as it
// streams: a damaged or short snapshot leaves no file.
func FetchState(ctx context.Context, src Source, path string) error {
	pr, pw := io.Pipe()
	errc := make(chan error, 1)
	go func() {
		err := src.Fetch(ctx, pw)
		pw.CloseWithError(err)
		errc <- err
	}()
	err := ReadSnapshot(pr, path)
	pr.CloseWithError(errReaderDone)
	// The fetch's own error (refused, unreachable) explains a failed read
	// better than the read does.
	if ferr := <-errc; ferr != nil && !errors.Is(ferr, errReaderDone) {
		os.Remove(path)
		return fmt.Errorf("pgexport: fetch the state: %w", ferr)
	}
	return err
}

// ReadSnapshot reads a snapshot file (node/backup's format) from r and
// writes its body to path, removed again when the body fails its checks.
func ReadSnapshot(r io.Reader, path string) (err error) {
	_, body, err := backup.Read(r)
	if err != nil {
		return fmt.Errorf("pgexport: %w", err)
	}
	out, err := os.OpenFile(path, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("pgexport: %w", err)
	}
	defer func() {
		if cerr := out.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("pgexport: %w", cerr)
		}
		if err != nil {
			os.Remove(path)
		}
	}()
	if _, err := io.Copy(out, body); err != nil {
		return fmt.Errorf("pgexport: the snapshot fails its checks: %w", err)
	}
	return nil
}
