package main

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
)

func newStatusCommand(o *cliOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "status",
		Short: "Show the cluster: members, leader and raft progress",
		Long: `Show the cluster as the answering server sees it: every member with its
raft state, term, commit and applied indexes, its replication (ok, or
"stalled" when its stall check sees replication stuck; the leader names the
followers whose logs do not advance), and whether it is healthy (a leader or a
follower that knows the leader). The leader is marked *. When the leader
takes scheduled snapshots (snapshot_interval), their last success and last
failure follow.`,
		Args: noArgs,
		RunE: o.run(func(ctx context.Context, inv *invocation, _ []string) error {
			st, err := inv.client.Cluster(ctx)
			if err != nil {
				return err
			}
			if inv.json {
				return printJSON(inv.out, st)
			}
			leader := "none known"
			leaderID := ""
			if st.Leader != nil {
				leaderID = st.Leader.NodeID
				leader = st.Leader.NodeID + " (" + dash(st.Leader.APIAddr) + ")"
			}
			if err := printFields(inv.out, [][2]string{
				{"Cluster", st.ClusterID},
				{"Leader", leader},
				{"Answered by", st.NodeID},
			}); err != nil {
				return err
			}
			fmt.Fprintln(inv.out)
			t := newTable(inv.out, "NODE", "STATE", "SUFFRAGE", "API ADDR", "RAFT ADDR", "TERM", "COMMIT", "APPLIED", "REPLICATION", "HEALTHY")
			u := func(n uint64) string { return strconv.FormatUint(n, 10) }
			for _, m := range st.Members {
				node := m.NodeID
				if m.NodeID == leaderID {
					node += "*"
				}
				healthy := yesNo(m.Healthy)
				if m.Error != "" {
					healthy += ": " + m.Error
				}
				repl := "ok"
				switch {
				case m.Error != "":
					repl = "-"
				case len(m.StalledFollowers) > 0:
					repl = "stalled: " + strings.Join(m.StalledFollowers, ",")
				case m.ReplicationStalled:
					repl = "stalled"
				}
				t.row(node, m.State, m.Suffrage, m.APIAddr, m.RaftAddr, u(m.Term), u(m.CommitIndex), u(m.AppliedIndex), repl, healthy)
			}
			if err := t.flush(); err != nil {
				return err
			}
			if sn := st.Snapshots; sn != nil {
				fmt.Fprintln(inv.out)
				last := "none yet"
				if sn.LastSuccessAt != nil {
					last = when(sn.LastSuccessAt) + " " + sn.LastSuccessFile + " (index " + u(sn.LastSuccessIndex) + ")"
				}
				failed := "none"
				if sn.LastFailureAt != nil {
					failed = when(sn.LastFailureAt) + ": " + sn.LastError
				}
				return printFields(inv.out, [][2]string{
					{"Snapshots", "every " + sn.Interval + " to " + sn.Dir + ", keeping " + strconv.Itoa(sn.Retain) + " (on " + sn.NodeID + ")"},
					{"Last snapshot", last},
					{"Last failure", failed},
					{"Failures", u(sn.Failures)},
				})
			}
			return nil
		}),
	}
}
