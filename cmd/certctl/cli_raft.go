package main

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/certctl/certctl/connectors/keywrap"
	"github.com/certctl/certctl/node"
)

func newRaftCommand(o *cliOptions) *cobra.Command {
	return newGroup("raft", "Manage the cluster's raft membership and recover from lost quorum",
		newRaftListPeersCommand(o), newRaftRemovePeerCommand(o), newRaftTransferLeaderCommand(o), newRaftRecoverCommand(o))
}

func newRaftListPeersCommand(o *cliOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "list-peers",
		Short: "List the servers of the raft configuration",
		Long: `List every server of the raft configuration as the answering node sees it:
its id, raft and API addresses, suffrage (voter or nonvoter), whether it
leads, the last index of its log and whether it is healthy (a leader, or a
follower that knows the leader), the last two as it reports them itself.`,
		Args: noArgs,
		RunE: o.run(func(ctx context.Context, inv *invocation, _ []string) error {
			p, err := inv.client.RaftPeers(ctx)
			if err != nil {
				return err
			}
			if inv.json {
				return printJSON(inv.out, p)
			}
			t := newTable(inv.out, "NODE", "RAFT ADDR", "API ADDR", "SUFFRAGE", "LEADER", "LAST INDEX", "HEALTHY")
			for _, peer := range p.Peers {
				last, health := strconv.FormatUint(peer.LastIndex, 10), yesNo(peer.Healthy)
				if peer.Error != "" {
					last, health = "-", "no: "+peer.Error
				}
				t.row(peer.NodeID, peer.RaftAddr, dash(peer.APIAddr), peer.Suffrage, yesNo(peer.Leader), last, health)
			}
			return t.flush()
		}),
	}
}

func newRaftRemovePeerCommand(o *cliOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "remove-peer ID",
		Short: "Remove a server from the cluster for good",
		Long: `Remove node ID from the raft configuration and the cluster's member records.
The leader does it (the command finds it). Removing the leader makes it step
down first. A removed node's data dir is of no use: to bring the machine back,
start it with an empty data dir and a new join token.`,
		Example: `  certctl operator raft remove-peer node3`,
		Args:    oneID,
		RunE: o.run(func(ctx context.Context, inv *invocation, args []string) error {
			if err := inv.client.RemovePeer(ctx, args[0]); err != nil {
				return err
			}
			return printAction(inv, args[0], "removed", "removed node %s from the cluster", args[0])
		}),
	}
}

func newRaftTransferLeaderCommand(o *cliOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "transfer-leader [ID]",
		Short: "Hand leadership to a named voter, or to the most up-to-date one",
		Long: `Ask the leader to hand leadership over: to voter ID when given, else to the
follower whose log is most up to date. The command returns once the old
leader sees the new one, and prints it.`,
		Example: `  certctl operator raft transfer-leader
  certctl operator raft transfer-leader node2`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) > 1 {
				return usageError{fmt.Errorf("%s takes at most one node id, got %d arguments", cmd.CommandPath(), len(args))}
			}
			if len(args) == 1 && strings.TrimSpace(args[0]) == "" {
				return usageError{fmt.Errorf("%s: the node id is empty", cmd.CommandPath())}
			}
			return nil
		},
		RunE: o.run(func(ctx context.Context, inv *invocation, args []string) error {
			id := ""
			if len(args) == 1 {
				id = args[0]
			}
			r, err := inv.client.TransferLeader(ctx, id)
			if err != nil {
				return err
			}
			if inv.json {
				return printJSON(inv.out, r)
			}
			return printFields(inv.out, [][2]string{{"Leader", r.Leader.NodeID}, {"API addr", dash(r.Leader.APIAddr)}, {"Raft addr", r.Leader.RaftAddr}})
		}),
	}
}

func newRaftRecoverCommand(o *cliOptions) *cobra.Command {
	var dataDir, cfgPath, kekFile string
	cmd := &cobra.Command{
		Use:   "recover",
		Short: "Make a stopped node a cluster of itself alone, after the others are lost for good",
		Long: `Recover from lost quorum. Run it on the one surviving node, stopped, when the
other members are gone for good (a cluster of three that lost two cannot
elect a leader or take writes). It rewrites the node's raft state, offline,
so that at its next start it is the only voter of its cluster, with all its
data: every entry of its log is applied, a snapshot naming it as the only
voter is written, and the log is compacted (hashicorp/raft's RecoverCluster).
Then start the node: it elects itself and takes writes, and new nodes join it
with join tokens.

Give the node's configuration file with --config: it names the data dir,
the node's raft address and the key-encryption key, which applying log
entries needs (their audit events are keyed with it). --data-dir and
--kek-file override the file. The node must be stopped; the lost nodes must
never come back with their old data dirs (start them empty, with a join
token). See docs/operations.md, "Recovering from lost quorum".`,
		Example: `  systemctl stop certctl
  certctl operator raft recover --config /etc/certctl/certctl.yaml
  systemctl start certctl`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			rc, err := recoverConfig(cfgPath, dataDir, kekFile)
			if err != nil {
				return err
			}
			defer clear(rc.AuditKey)
			res, err := node.Recover(rc)
			if err != nil {
				return err
			}
			return printRecovered(cmd.OutOrStdout(), o.output == "json", rc.DataDir, res)
		},
	}
	cmd.Flags().StringVar(&dataDir, "data-dir", "", "the stopped node's data dir (default: data_dir of --config)")
	cmd.Flags().StringVar(&cfgPath, "config", "", "the node's YAML configuration file (data_dir, node_id, raft_addr, advertise_addr, kek_file)")
	cmd.Flags().StringVar(&kekFile, "kek-file", "", "the cluster's key-encryption key file (default: kek_file of --config)")
	return cmd
}

// recoverConfig resolves recover's flags and the node's configuration file.
func recoverConfig(cfgPath, dataDir, kekFile string) (node.RecoverConfig, error) {
	var file serverConfig
	raftAddr := ""
	if cfgPath != "" {
		if err := file.loadFile(cfgPath); err != nil {
			return node.RecoverConfig{}, usageError{err}
		}
		// What the server would use when it starts again with this file.
		def := defaultServerConfig()
		if file.DataDir == "" {
			file.DataDir = def.DataDir
		}
		raftAddr = def.RaftAddr
		if file.RaftAddr != "" {
			raftAddr = file.RaftAddr
		}
		if file.Advertise != "" {
			raftAddr = file.Advertise
		}
	}
	if dataDir == "" {
		dataDir = file.DataDir
	}
	if dataDir == "" {
		return node.RecoverConfig{}, usageError{fmt.Errorf("--data-dir is required (or --config naming data_dir): the data dir of the stopped node to recover")}
	}
	if kekFile == "" {
		kekFile = file.KEKFile
	}
	rc := node.RecoverConfig{DataDir: dataDir, NodeID: file.NodeID, RaftAddr: raftAddr}
	if kekFile != "" {
		kek, err := keywrap.LoadKEK(kekFile)
		if err != nil {
			return node.RecoverConfig{}, usageError{fmt.Errorf("--kek-file: %w", err)}
		}
		defer clear(kek)
		if rc.AuditKey, err = keywrap.AuditKey(kek); err != nil {
			return node.RecoverConfig{}, err
		}
	}
	return rc, nil
}

func printRecovered(w io.Writer, asJSON bool, dataDir string, r node.RecoverResult) error {
	if asJSON {
		return printJSON(w, r)
	}
	dropped := "none"
	if len(r.Dropped) > 0 {
		dropped = strings.Join(r.Dropped, ", ")
	}
	if err := printFields(w, [][2]string{
		{"Node", r.NodeID},
		{"Raft addr", r.RaftAddr},
		{"Data dir", dataDir},
		{"Index", strconv.FormatUint(r.Index, 10)},
		{"Term", strconv.FormatUint(r.Term, 10)},
		{"Entries applied", strconv.Itoa(r.Applied)},
		{"Dropped", dropped},
	}); err != nil {
		return err
	}
	_, err := fmt.Fprintf(w, "\nNode %s is now a cluster of itself alone. Start it, check it leads (certctl operator raft list-peers),\n"+
		"then add nodes with join tokens (certctl operator join-token create). Never restart a dropped node with its old data dir.\n", r.NodeID)
	return err
}
