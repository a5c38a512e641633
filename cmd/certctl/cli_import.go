package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/certctl/certctl/fsm"
	"github.com/certctl/certctl/node/pgimport"
)

func newImportCommand(o *cliOptions) *cobra.Command {
	return newGroup("import", "Import another certctl's state into the cluster", newImportPostgresCommand(o))
}

func newImportPostgresCommand(o *cliOptions) *cobra.Command {
	var (
		dsn, dsnFile, checkpoint string
		dryRun, strict, restart  bool
		batchRows                int
	)
	cmd := &cobra.Command{
		Use:   "postgres",
		Short: "Import a database of the original certctl (PostgreSQL) into the cluster (admin keys only)",
		Long: `Read the original certctl's fourteen tables from the PostgreSQL database at
--dsn (or the DSN in --dsn-file, which keeps its password out of the process
list) and write them into the cluster through Raft, in batches of --batch
rows, each batch one raft entry: ids, names, statuses and times are kept,
mappings travel with their certificates, versions with their PEM chains.
Agents keep working with the keys they have: the original stored the SHA-256
of each agent's key, and that hash becomes the agent's key here. Audit
events are appended to the cluster's chain after a marker event naming the
database, each marked as imported with its id there.

A row is refused, and named with the reason, when the cluster already holds
its id (other than from this same row), its name or fingerprint is taken, a
record it references is neither in the cluster nor imported, or it is not
valid here (a PEM that does not parse, an unknown status). The rest is
imported; with --strict nothing is imported when anything would be refused.
--dry-run prints what would be imported and refused and writes nothing. The
exit status is 0 when nothing was (or would be) refused, 1 otherwise.

A run can be stopped and run again: it resumes after the last batch written
(--checkpoint), and rows already imported identical are skipped.`,
		Example: `  certctl import postgres --dsn-file /root/original.dsn --dry-run
  certctl import postgres --dsn-file /root/original.dsn`,
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
			if batchRows < 1 || batchRows > fsm.MaxImportRecords {
				return usageError{fmt.Errorf("--batch %d must be between 1 and %d rows", batchRows, fsm.MaxImportRecords)}
			}
			if strict && dryRun {
				return usageError{errors.New("--strict and --dry-run: a dry run writes nothing anyway; give one of them")}
			}
			source := sourceName(cfg)
			if checkpoint == "" && !inv.flags.Changed("checkpoint") {
				checkpoint = defaultCheckpoint(source)
			}
			if restart && checkpoint != "" {
				if err := os.Remove(checkpoint); err != nil && !errors.Is(err, os.ErrNotExist) {
					return fmt.Errorf("--restart: %w", err)
				}
			}
			conn, err := pgx.ConnectConfig(ctx, cfg)
			if err != nil {
				return fmt.Errorf("connect to %s: %s", source, strings.ReplaceAll(err.Error(), conninfo, "(the DSN)"))
			}
			defer conn.Close(context.Background())

			run := func(dry bool) (*pgimport.Report, error) {
				p := newImportProgress(inv.errOut, dry)
				defer p.finish()
				return pgimport.Run(ctx, conn, inv.client, pgimport.Config{
					Source: source, DryRun: dry, BatchRows: batchRows, Checkpoint: checkpoint, Progress: p.update,
				})
			}
			if strict {
				rep, err := run(true)
				if err != nil {
					return err
				}
				if len(rep.Refused) > 0 {
					if err := printImportReport(inv, rep); err != nil {
						return err
					}
					return fmt.Errorf("--strict: %d row(s) would be refused (listed above); nothing was imported", len(rep.Refused))
				}
			}
			start := time.Now()
			rep, err := run(dryRun)
			if rep != nil && (err == nil || rep.Rows() > 0) {
				if perr := printImportReport(inv, rep); perr != nil && err == nil {
					err = perr
				}
			}
			if err != nil {
				if !dryRun && checkpoint != "" {
					return fmt.Errorf("%w (what was written is kept; run the same command again to resume after it)", err)
				}
				return err
			}
			if !dryRun && checkpoint != "" {
				// The run is complete: the next one reads every table again
				// (and skips what it finds imported).
				_ = os.Remove(checkpoint)
			}
			if !inv.json {
				verb := "imported"
				if dryRun {
					verb = "checked"
				}
				fmt.Fprintf(inv.errOut, "%s %d rows in %s\n", verb, rep.Rows(), time.Since(start).Round(time.Millisecond))
			}
			if n := len(rep.Refused); n > 0 {
				if dryRun {
					return fmt.Errorf("%d row(s) would be refused (listed above)", n)
				}
				return fmt.Errorf("%d row(s) refused (listed above); the rest was imported", n)
			}
			return nil
		}),
	}
	f := cmd.Flags()
	f.StringVar(&dsn, "dsn", "", "the original's database: a PostgreSQL connection string (its password shows in the process list: prefer --dsn-file)")
	f.StringVar(&dsnFile, "dsn-file", "", "a file holding the connection string")
	f.BoolVar(&dryRun, "dry-run", false, "print what would be imported and refused; write nothing")
	f.BoolVar(&strict, "strict", false, "import nothing when anything would be refused")
	f.IntVar(&batchRows, "batch", pgimport.DefaultBatchRows, "rows per batch (one raft entry each)")
	f.StringVar(&checkpoint, "checkpoint", "", "FILE recording how far the import got, to resume from (default: one per database under the user's cache directory; \"\" for none)")
	f.BoolVar(&restart, "restart", false, "ignore the checkpoint and read every table from its start (rows already imported are still skipped)")
	return cmd
}

// sourceName names the database without its password.
func sourceName(cfg *pgx.ConnConfig) string {
	user := cfg.User
	if user != "" {
		user += "@"
	}
	return "postgres://" + user + cfg.Host + ":" + strconv.Itoa(int(cfg.Port)) + "/" + cfg.Database
}

// defaultCheckpoint is the checkpoint of an import from source, under the
// user's cache directory; "" when there is none.
func defaultCheckpoint(source string) string {
	dir, err := os.UserCacheDir()
	if err != nil {
		return ""
	}
	sum := sha256.Sum256([]byte(source))
	return filepath.Join(dir, "certctl", "import-"+hex.EncodeToString(sum[:6])+".json")
}

// importProgress shows a bar per table on a terminal; elsewhere nothing.
type importProgress struct {
	w     io.Writer
	dry   bool
	tty   bool
	table string
	bar   *progressbar.ProgressBar
}

func newImportProgress(w io.Writer, dry bool) *importProgress {
	p := &importProgress{w: w, dry: dry}
	if f, ok := w.(interface{ Fd() uintptr }); ok && term.IsTerminal(int(f.Fd())) {
		p.tty = true
	}
	return p
}

func (p *importProgress) update(table string, done, total int64) {
	if !p.tty {
		return
	}
	if table != p.table {
		p.finish()
		desc := table
		if p.dry {
			desc += " (dry run)"
		}
		p.table = table
		p.bar = progressbar.NewOptions64(total,
			progressbar.OptionSetWriter(p.w),
			progressbar.OptionSetDescription(fmt.Sprintf("%-28s", desc)),
			progressbar.OptionShowCount(),
			progressbar.OptionShowIts(),
			progressbar.OptionSetItsString("rows"),
			progressbar.OptionSetWidth(30),
			progressbar.OptionThrottle(100*time.Millisecond),
			progressbar.OptionOnCompletion(func() { fmt.Fprintln(p.w) }),
		)
	}
	_ = p.bar.Set64(done)
}

func (p *importProgress) finish() {
	if p.bar != nil {
		_ = p.bar.Finish()
		p.bar = nil
	}
}

// printImportReport prints the counts per table, then what was refused and
// why, what was imported otherwise than it was, and whose keys work.
func printImportReport(inv *invocation, rep *pgimport.Report) error {
	if inv.json {
		return printJSON(inv.out, rep)
	}
	w := inv.out
	mode := ""
	if rep.DryRun {
		mode = " (dry run: nothing written)"
	}
	fmt.Fprintf(w, "import from %s%s\n", rep.Source, mode)
	if rep.Resumed != "" {
		fmt.Fprintf(w, "resumed: %s\n", rep.Resumed)
	}
	t := newTable(w, "TABLE", "NEW", "SAME", "REFUSED")
	for _, name := range fsm.ImportTables {
		c := rep.Tables[name]
		if c == nil {
			continue
		}
		t.row(name, strconv.Itoa(c.New), strconv.Itoa(c.Same), strconv.Itoa(c.Refused))
	}
	if err := t.flush(); err != nil {
		return err
	}
	if len(rep.Refused) > 0 {
		verb := "refused"
		if rep.DryRun {
			verb = "would be refused"
		}
		fmt.Fprintf(w, "\n%d row(s) %s:\n", len(rep.Refused), verb)
		for _, r := range rep.Refused {
			field := ""
			if r.Field != "" {
				field = " (" + r.Field + ")"
			}
			fmt.Fprintf(w, "  %s %s%s: %s\n", r.Table, printable(r.ID), field, printable(r.Reason))
		}
	}
	if len(rep.Warnings) > 0 {
		fmt.Fprintf(w, "\n%d warning(s):\n", len(rep.Warnings))
		for _, s := range rep.Warnings {
			fmt.Fprintf(w, "  %s\n", printable(s))
		}
	}
	if len(rep.AgentKeys) > 0 {
		fmt.Fprintf(w, "\nagents whose existing key works here: %s\n", strings.Join(rep.AgentKeys, ", "))
	}
	return nil
}
