package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/spf13/cobra"

	"github.com/certctl/certctl/api/client"
	"github.com/certctl/certctl/fsm"
	"github.com/certctl/certctl/node/pgexport"
)

// newExportSubcommands are the exports of the cluster's state as the
// original certctl's PostgreSQL tables, subcommands of certctl export.
func newExportSubcommands(o *cliOptions) []*cobra.Command {
	return []*cobra.Command{newExportPostgresCommand(o), newExportSQLCommand(o)}
}

// exportSource is where an export reads the state: a saved snapshot file
// (--snapshot) or the cluster (GET /api/v1/cluster/snapshot, admin keys).
type exportSource struct{ snapshot string }

func (s *exportSource) register(cmd *cobra.Command) {
	cmd.Flags().StringVar(&s.snapshot, "snapshot", "", "read the state from a snapshot FILE (certctl snapshot save) instead of the cluster")
}

func (s *exportSource) source(inv *invocation) pgexport.Source {
	if s.snapshot != "" {
		return pgexport.SourceFunc(func(_ context.Context, w io.Writer) error {
			f, err := os.Open(s.snapshot)
			if err != nil {
				return fmt.Errorf("--snapshot: %w", err)
			}
			defer f.Close()
			_, err = io.Copy(w, f)
			return err
		})
	}
	return pgexport.SourceFunc(func(ctx context.Context, w io.Writer) error {
		return inv.client.Snapshot(ctx, func(st *client.SnapshotStream) error {
			_, err := io.Copy(w, st.Body)
			return err
		})
	})
}

// exportSecrets are the secret fields the connectors declare, which an
// export leaves sealed or redacted.
func exportSecrets() (pgexport.Secrets, error) {
	reg, err := issuerRegistry(nil, nil)
	if err != nil {
		return pgexport.Secrets{}, err
	}
	return pgexport.Secrets{Issuer: reg.SecretFields, Target: targetSecrets().SecretFields}, nil
}

// fetchOnce fetches the state into a temporary file and opens it.
func fetchOnce(ctx context.Context, src pgexport.Source, dir string) (*fsm.StateFile, func(), error) {
	tmp, err := os.MkdirTemp(dir, "certctl-export-")
	if err != nil {
		return nil, nil, err
	}
	path := filepath.Join(tmp, "state.db")
	if err := pgexport.FetchState(ctx, src, path); err != nil {
		os.RemoveAll(tmp)
		return nil, nil, err
	}
	sf, err := fsm.OpenStateFile(path)
	if err != nil {
		os.RemoveAll(tmp)
		return nil, nil, err
	}
	return sf, func() { sf.Close(); os.RemoveAll(tmp) }, nil
}

func newExportPostgresCommand(o *cliOptions) *cobra.Command {
	var (
		dsn, dsnFile, stateDir, metricsAddr string
		follow                              bool
		interval, lagWarn                   time.Duration
		src                                 exportSource
	)
	cmd := &cobra.Command{
		Use:   "postgres",
		Short: "Write the cluster's state into a PostgreSQL database (admin keys only); --follow keeps it in step",
		Long: `Write the cluster's state, read at one raft index, into the PostgreSQL
database at --dsn (or the DSN in --dsn-file, which keeps its password out of
the process list) as the original certctl's fourteen tables: created when
missing, rows upserted, rows the cluster no longer has deleted, all in one
transaction, and the cluster id and raft index recorded in certctl_export.
Running it again changes nothing unless the cluster did. Secrets leave
sealed (or redacted); agents carry only their key's hash.

With --follow it keeps the database in step: every --interval it fetches the
leader's state and writes its difference from the last one (kept in
--state-dir) in one transaction, so the database moves from one raft index
to a later one; after a restart of either side it resumes from the index
certctl_export records. Prometheus metrics (certctl_export_lag_seconds and
more) are served on --metrics-addr; a warning is logged while the database
is more than --lag-warn behind.`,
		Example: `  certctl export postgres --dsn-file /etc/certctl/export.dsn
  certctl export postgres --dsn-file /etc/certctl/export.dsn --follow --state-dir /var/lib/certctl-export`,
		Args: noArgs,
		RunE: o.run(func(ctx context.Context, inv *invocation, _ []string) error {
			conninfo, err := readDSN(dsn, dsnFile)
			if err != nil {
				return err
			}
			cfg, err := pgx.ParseConfig(conninfo)
			if err != nil {
				return usageError{fmt.Errorf("--dsn: %s", strings.ReplaceAll(err.Error(), conninfo, "(the DSN)"))}
			}
			if follow && src.snapshot != "" {
				return usageError{errors.New("--follow reads the cluster, not a --snapshot file: give one or the other")}
			}
			if follow && stateDir == "" {
				return usageError{errors.New("--follow needs --state-dir DIR, where it keeps the state the database was last brought to")}
			}
			sec, err := exportSecrets()
			if err != nil {
				return err
			}
			log := slog.New(slog.NewTextHandler(inv.errOut, nil))
			e := pgexport.New(sec, log)
			connect := func(ctx context.Context) (*pgx.Conn, error) { return pgx.ConnectConfig(ctx, cfg.Copy()) }
			if follow {
				return runFollow(ctx, inv, log, e, src.source(inv), connect, pgexport.FollowConfig{
					StateDir: stateDir, Interval: interval, LagWarn: lagWarn, Log: log}, metricsAddr)
			}
			state, done, err := fetchOnce(ctx, src.source(inv), "")
			if err != nil {
				return err
			}
			defer done()
			conn, err := connect(ctx)
			if err != nil {
				return fmt.Errorf("connect to the database: %w", err)
			}
			defer conn.Close(context.Background())
			start := time.Now()
			res, err := e.Sync(ctx, conn, nil, state)
			if err != nil {
				return err
			}
			return printExport(inv, res, time.Since(start))
		}),
	}
	f := cmd.Flags()
	f.StringVar(&dsn, "dsn", "", "PostgreSQL connection string (postgres://USER@HOST/DB?sslmode=verify-full); visible in the process list: prefer --dsn-file")
	f.StringVar(&dsnFile, "dsn-file", "", "file holding the connection string (keep it mode 0600)")
	f.BoolVar(&follow, "follow", false, "keep the database in step with the cluster until stopped")
	f.StringVar(&stateDir, "state-dir", "", "with --follow: directory keeping the state the database was last brought to")
	f.DurationVar(&interval, "interval", 5*time.Second, "with --follow: time between two fetches of the cluster's state")
	f.DurationVar(&lagWarn, "lag-warn", time.Minute, "with --follow: log a warning while the database is further behind than this")
	f.StringVar(&metricsAddr, "metrics-addr", "127.0.0.1:9469", "with --follow: address of the Prometheus /metrics listener (\"\" for none)")
	src.register(cmd)
	return cmd
}

// readDSN returns the DSN of --dsn or --dsn-file (exactly one).
func readDSN(dsn, file string) (string, error) {
	switch {
	case dsn != "" && file != "":
		return "", usageError{errors.New("give --dsn or --dsn-file, not both")}
	case dsn == "" && file == "":
		return "", usageError{errors.New("give the database with --dsn-file FILE (or --dsn DSN)")}
	case file != "":
		raw, err := os.ReadFile(file)
		if err != nil {
			return "", usageError{fmt.Errorf("--dsn-file: %w", err)}
		}
		s := strings.TrimSpace(string(raw))
		if s == "" {
			return "", usageError{fmt.Errorf("--dsn-file %s is empty: it should hold one connection string", file)}
		}
		return s, nil
	}
	return dsn, nil
}

func runFollow(ctx context.Context, inv *invocation, log *slog.Logger, e *pgexport.Exporter, src pgexport.Source,
	connect func(context.Context) (*pgx.Conn, error), cfg pgexport.FollowConfig, metricsAddr string) error {
	reg := prometheus.NewRegistry()
	cfg.Connect, cfg.Registerer = connect, reg
	f, err := pgexport.NewFollower(cfg, e, src)
	if err != nil {
		return usageError{err}
	}
	if metricsAddr != "" {
		ln, err := net.Listen("tcp", metricsAddr)
		if err != nil {
			return usageError{fmt.Errorf("--metrics-addr: %w", err)}
		}
		mux := http.NewServeMux()
		mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
		srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
		go func() { _ = srv.Serve(ln) }()
		defer func() {
			sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_ = srv.Shutdown(sctx)
		}()
		log.Info("export metrics", "addr", "http://"+ln.Addr().String()+"/metrics")
	}
	log.Info("following the cluster into PostgreSQL", "interval", cfg.Interval.String(), "state_dir", cfg.StateDir)
	return f.Run(ctx)
}

func printExport(inv *invocation, res pgexport.Result, took time.Duration) error {
	rate := 0.0
	if took > 0 {
		rate = float64(res.Rows) / took.Seconds()
	}
	if inv.json {
		return printJSON(inv.out, map[string]any{"cluster_id": res.ClusterID, "raft_index": res.Index, "raft_term": res.Term,
			"rows": res.Rows, "changed": res.Changed, "deleted": res.Deleted, "skipped": res.Skipped,
			"seconds": took.Seconds(), "rows_per_second": rate})
	}
	changed, deleted, skipped := 0, 0, 0
	for _, t := range fsm.ExportTables {
		changed += res.Changed[t]
		deleted += res.Deleted[t]
		skipped += res.Skipped[t]
	}
	return printFields(inv.out, [][2]string{
		{"Cluster", res.ClusterID},
		{"Index", strconv.FormatUint(res.Index, 10)},
		{"Rows", strconv.Itoa(res.Rows)},
		{"Changed", strconv.Itoa(changed)},
		{"Deleted", strconv.Itoa(deleted)},
		{"Left out", strconv.Itoa(skipped) + " (a record they reference is absent)"},
		{"Took", took.Round(time.Millisecond).String() + fmt.Sprintf(" (%.0f rows/s)", rate)},
	})
}

func newExportSQLCommand(o *cliOptions) *cobra.Command {
	var (
		out string
		src exportSource
	)
	cmd := &cobra.Command{
		Use:   "sql",
		Short: "Write the cluster's state as a SQL script that psql -f loads into an empty database (admin keys only)",
		Long: `Write the cluster's state, read at one raft index, as a SQL script: the
original certctl's fourteen tables (CREATE TABLE IF NOT EXISTS), one
transaction of COPY blocks with the same rows 'certctl export postgres'
writes, and the certctl_export row. Load it into an empty database with
psql -v ON_ERROR_STOP=1 -f FILE. The file is written with mode 0600.`,
		Example: `  certctl export sql --out certctl.sql && psql -v ON_ERROR_STOP=1 -d reports -f certctl.sql`,
		Args:    noArgs,
		RunE: o.run(func(ctx context.Context, inv *invocation, _ []string) error {
			if out == "" {
				return usageError{errors.New("give the script's file with --out FILE")}
			}
			if info, err := os.Stat(filepath.Dir(out)); err != nil || !info.IsDir() {
				return usageError{fmt.Errorf("--out %s: its directory %s does not exist", out, filepath.Dir(out))}
			}
			sec, err := exportSecrets()
			if err != nil {
				return err
			}
			state, done, err := fetchOnce(ctx, src.source(inv), filepath.Dir(out))
			if err != nil {
				return err
			}
			defer done()
			tmp := out + ".tmp"
			f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
			if err != nil {
				return err
			}
			start := time.Now()
			res, err := pgexport.New(sec, nil).WriteSQL(f, state)
			if err == nil {
				err = f.Sync()
			}
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err == nil {
				err = os.Rename(tmp, out)
			}
			if err != nil {
				os.Remove(tmp)
				return err
			}
			return printExport(inv, res, time.Since(start))
		}),
	}
	cmd.Flags().StringVar(&out, "out", "", "file to write the script to")
	src.register(cmd)
	return cmd
}
