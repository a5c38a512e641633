package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/certctl/certctl/api/wire"
	"github.com/certctl/certctl/node/backup"
)

// newSnapshotRestoreCommand is `certctl snapshot restore FILE`: the file is
// streamed to the cluster, which checks it whole and then replaces every
// node's state with it.
func newSnapshotRestoreCommand(cli *cliOptions) *cobra.Command {
	var yes, force bool
	cmd := &cobra.Command{
		Use:   "restore FILE",
		Short: "Replace the whole cluster's state with a snapshot file (admin)",
		Long: "Restore streams FILE (from 'certctl snapshot save') to the cluster. The leader checks it whole first " +
			"(format version, checksum, every record, schema version, cluster id) and refuses it, changing nothing, " +
			"if a check fails; otherwise every node's state becomes the snapshot's: everything written since it was saved is gone. " +
			"The cluster keeps its own id, CA, members and join tokens. On a terminal it asks for confirmation; " +
			"unattended (stdin not a terminal) it needs --yes.\n\n" +
			"For a cluster that is gone, start a new node with 'certctl server --restore-from FILE' instead (docs/operations.md, Disaster recovery).",
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 || args[0] == "" {
				return usageError{fmt.Errorf("%s needs the snapshot FILE (usage: %s)", cmd.CommandPath(), cmd.UseLine())}
			}
			return nil
		},
		RunE: cli.run(func(ctx context.Context, inv *invocation, args []string) error {
			path := args[0]
			h, err := readSnapshotHeader(path)
			if err != nil {
				return err
			}
			if !yes {
				if !isTerminalReader(inv.in) {
					return usageError{errors.New("restore replaces the whole cluster's state and stdin is not a terminal to confirm it: give --yes to restore unattended")}
				}
				ok, err := confirmRestore(ctx, inv, h)
				if err != nil {
					return err
				}
				if !ok {
					return errors.New("restore cancelled; nothing was changed")
				}
			}
			start := time.Now()
			res, err := inv.client.RestoreSnapshot(ctx, path, force)
			if err != nil {
				return err
			}
			if inv.json {
				return printJSON(inv.out, res)
			}
			printRestored(inv.out, res, time.Since(start))
			return nil
		}),
	}
	cmd.Flags().BoolVarP(&yes, "yes", "y", false, "restore without asking for confirmation")
	cmd.Flags().BoolVar(&force, "force-cluster-id", false, "restore a snapshot saved by another cluster (its data; this cluster keeps its id, CA and members; the key-encryption key must be the same)")
	return cmd
}

// readSnapshotHeader reads FILE's header only: the whole file is checked by
// the cluster as it arrives.
func readSnapshotHeader(path string) (*backup.Header, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, usageError{fmt.Errorf("snapshot file: %w", err)}
	}
	defer f.Close()
	h, _, err := backup.Read(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return h, nil
}

// confirmRestore shows what is replaced by what and asks.
func confirmRestore(ctx context.Context, inv *invocation, h *backup.Header) (bool, error) {
	st, err := inv.client.Cluster(ctx)
	if err != nil {
		return false, err
	}
	var index uint64
	for _, m := range st.Members {
		index = max(index, m.AppliedIndex)
	}
	fmt.Fprintf(inv.errOut, "This replaces the state of every node of cluster %s (index %d, now %s)\n",
		printable(st.ClusterID), index, inv.now.UTC().Format(time.RFC3339))
	fmt.Fprintf(inv.errOut, "with the snapshot of cluster %s (index %d, saved %s from node %s, %d records).\n",
		printable(h.ClusterID), h.Index, h.CreatedAt.UTC().Format(time.RFC3339), printable(h.NodeID), h.Records())
	if h.ClusterID != st.ClusterID {
		fmt.Fprintf(inv.errOut, "The snapshot is of ANOTHER cluster: the cluster refuses it without --force-cluster-id.\n")
	}
	fmt.Fprintf(inv.errOut, "Everything written since the snapshot was saved is lost. Restore? [y/N] ")
	line, err := bufio.NewReader(inv.in).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return false, err
	}
	switch strings.ToLower(strings.TrimSpace(line)) {
	case "y", "yes":
		return true, nil
	}
	return false, nil
}

func printRestored(w io.Writer, r wire.SnapshotRestored, took time.Duration) {
	fmt.Fprintf(w, "Restored the snapshot of cluster %s (index %d, saved %s from node %s, %d records) into every node at raft index %d in %s.\n",
		printable(r.ClusterID), r.Index, r.CreatedAt.UTC().Format(time.RFC3339), printable(r.NodeID), r.Records, r.RestoredIndex, took.Round(time.Millisecond))
}

func isTerminalReader(r io.Reader) bool {
	f, ok := r.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
