package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/certctl/certctl/api/client"
	"github.com/certctl/certctl/node/backup"
)

func newSnapshotCommand(o *cliOptions) *cobra.Command {
	return newGroup("snapshot", "Save, inspect and restore backups of the cluster's state",
		newSnapshotSaveCommand(o), newSnapshotInspectCommand(o), newSnapshotRestoreCommand(o))
}

func newSnapshotSaveCommand(o *cliOptions) *cobra.Command {
	var checkRecords bool
	cmd := &cobra.Command{
		Use:   "save FILE",
		Short: "Save a snapshot of the cluster's state to FILE (admin keys only)",
		Long: `Save a snapshot of the leader's state to FILE. Any member answers (a follower
relays the leader's). The file is written with mode 0600 to a temporary name
beside FILE, read back and checked (format, size and SHA-256 of the body, in
constant memory) and only then renamed to FILE; --check-records also opens it
as a state file and decodes every record, as certctl snapshot inspect does
(which maps the whole file, so memory grows with its size). A progress bar
shows on a terminal.

The file holds everything the cluster keeps, its sealed secrets sealed: keep
it as safe as the nodes' data dirs. Issuing after a restore needs the
cluster's key-encryption key (kek_file), which the snapshot does not hold.`,
		Example: `  certctl snapshot save /var/backups/certctl/$(date +%F).snap
  certctl snapshot inspect /var/backups/certctl/2026-05-01.snap`,
		Args: oneFile,
		RunE: o.run(func(ctx context.Context, inv *invocation, args []string) error {
			path := args[0]
			if info, err := os.Stat(filepath.Dir(path)); err != nil || !info.IsDir() {
				return usageError{fmt.Errorf("FILE %s: its directory %s does not exist", path, filepath.Dir(path))}
			}
			var (
				h   *backup.Header
				rep backup.Report
			)
			write := func(w io.Writer) (int64, error) {
				var n int64
				err := inv.client.Snapshot(ctx, func(s *client.SnapshotStream) error {
					bar := newProgress(inv.errOut, s.Size, s.Records)
					var dst io.Writer = w
					if bar != nil {
						dst = io.MultiWriter(w, bar)
					}
					var err error
					n, err = io.Copy(dst, s.Body)
					if bar != nil {
						_ = bar.Finish()
					}
					if err == nil && s.Size >= 0 && n != s.Size {
						err = fmt.Errorf("the server sent %d bytes of %d", n, s.Size)
					}
					if err != nil {
						return fmt.Errorf("receiving the snapshot: %w", err)
					}
					return nil
				})
				return n, err
			}
			verify := func(tmp string) error {
				var err error
				if checkRecords {
					h, rep, err = backup.Inspect(tmp)
				} else {
					h, rep, err = backup.CheckStream(tmp)
				}
				if err != nil {
					return fmt.Errorf("the snapshot received fails its checks, nothing was saved: %w", err)
				}
				return nil
			}
			if err := backup.WriteFile(path, write, verify); err != nil {
				return err
			}
			if inv.json {
				return printJSON(inv.out, inspection{File: path, OK: true, Header: h, Checks: rep.Checks, Counts: rep.Counts})
			}
			return printFields(inv.out, [][2]string{
				{"Saved", path},
				{"Cluster", h.ClusterID},
				{"Index", strconv.FormatUint(h.Index, 10)},
				{"Term", strconv.FormatUint(h.Term, 10)},
				{"From node", h.NodeID},
				{"Records", strconv.FormatInt(h.Records(), 10)},
				{"Size", strconv.FormatInt(h.BodySize, 10) + " bytes (body)"},
				{"SHA-256", h.BodySHA256},
			})
		}),
	}
	cmd.Flags().BoolVar(&checkRecords, "check-records", false, "also decode every record before keeping the file (memory grows with the file's size)")
	return cmd
}

// oneFile accepts exactly one argument, a file name.
func oneFile(cmd *cobra.Command, args []string) error {
	if len(args) != 1 || args[0] == "" {
		return usageError{fmt.Errorf("%s needs one FILE argument (usage: %s)", cmd.CommandPath(), cmd.UseLine())}
	}
	return nil
}

// newProgress returns a progress bar of size bytes (a spinner when size is
// unknown) on w, or nil when w is not a terminal: piped output stays clean.
func newProgress(w io.Writer, size, records int64) *progressbar.ProgressBar {
	f, ok := w.(interface{ Fd() uintptr })
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return nil
	}
	desc := "snapshot"
	if records >= 0 {
		desc = fmt.Sprintf("snapshot, %d records", records)
	}
	return progressbar.NewOptions64(size,
		progressbar.OptionSetWriter(w),
		progressbar.OptionSetDescription(desc),
		progressbar.OptionShowBytes(true),
		progressbar.OptionShowCount(),
		progressbar.OptionSetWidth(30),
		progressbar.OptionThrottle(100*time.Millisecond),
		progressbar.OptionOnCompletion(func() { fmt.Fprintln(w) }),
		progressbar.OptionSpinnerType(14),
	)
}

// inspection is the JSON answer of snapshot inspect (and save).
type inspection struct {
	File   string         `json:"file"`
	OK     bool           `json:"ok"`
	Error  string         `json:"error,omitempty"`
	Header *backup.Header `json:"header"`
	Checks []backup.Check `json:"checks"`
	Counts map[string]int `json:"counts,omitempty"`
}

func newSnapshotInspectCommand(o *cliOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "inspect FILE",
		Short: "Check a snapshot file and print its header, without a cluster",
		Long: `Print a snapshot file's header (format version, cluster id, raft index and
term, the node and time it came from, counts per table, audit chain head,
size and SHA-256 of its body) and check it: format version, the whole
body's checksum, that every record of every table decodes, and that the
header's counts and index agree with the body. Needs no cluster and no API
key. Exits non-zero when any check fails, saying which.`,
		Args: oneFile,
		RunE: func(cmd *cobra.Command, args []string) error {
			asJSON, err := o.outputJSON()
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			path := args[0]
			if _, err := os.Stat(path); err != nil {
				return usageError{fmt.Errorf("FILE: %w", err)}
			}
			h, rep, ierr := backup.Inspect(path)
			if asJSON {
				res := inspection{File: path, OK: ierr == nil, Header: h, Checks: rep.Checks, Counts: rep.Counts}
				if res.Checks == nil {
					res.Checks = []backup.Check{}
				}
				if ierr != nil {
					res.Error = ierr.Error()
				}
				if err := printJSON(out, res); err != nil {
					return err
				}
			} else if err := printInspection(out, path, h, rep); err != nil {
				return err
			}
			if ierr != nil {
				return fmt.Errorf("snapshot %s fails its checks: %s", path, printable(ierr.Error()))
			}
			return nil
		},
	}
}

// outputJSON reads the global --output flag for commands without a client.
func (o *cliOptions) outputJSON() (bool, error) {
	switch o.output {
	case "table":
		return false, nil
	case "json":
		return true, nil
	}
	return false, usageError{fmt.Errorf("--output %q must be table or json", o.output)}
}

func printInspection(w io.Writer, path string, h *backup.Header, rep backup.Report) error {
	if h != nil {
		created := h.CreatedAt
		fields := [][2]string{
			{"File", path},
			{"Format", fmt.Sprintf("%s %d", backup.Magic, h.FormatVersion)},
			{"Cluster", h.ClusterID},
			{"Index", strconv.FormatUint(h.Index, 10)},
			{"Term", strconv.FormatUint(h.Term, 10)},
			{"From node", h.NodeID},
			{"Created", when(&created)},
			{"Schema version", strconv.FormatUint(h.SchemaVersion, 10)},
			{"Audit head", fmt.Sprintf("seq %d %s %s", h.AuditHead.Seq, dash(h.AuditHead.ID), dash(h.AuditHead.Hash))},
			{"Body", fmt.Sprintf("%d bytes, sha256 %s", h.BodySize, h.BodySHA256)},
			{"Records", strconv.FormatInt(h.Records(), 10)},
		}
		if err := printFields(w, fields); err != nil {
			return err
		}
		fmt.Fprintln(w)
		t := newTable(w, "TABLE", "RECORDS", "IN BODY")
		names := make([]string, 0, len(h.Counts))
		for name := range h.Counts {
			names = append(names, name)
		}
		sort.Strings(names)
		for _, name := range names {
			inBody := "-"
			if rep.Counts != nil {
				inBody = strconv.Itoa(rep.Counts[name])
			}
			t.row(name, strconv.Itoa(h.Counts[name]), inBody)
		}
		if err := t.flush(); err != nil {
			return err
		}
		fmt.Fprintln(w)
	}
	t := newTable(w, "CHECK", "RESULT", "DETAIL")
	for _, c := range rep.Checks {
		result := "ok"
		if !c.OK {
			result = "FAILED"
		}
		t.row(c.Name, result, dash(c.Detail))
	}
	return t.flush()
}
