package main

import (
	"context"

	"github.com/spf13/cobra"

	"github.com/certctl/certctl/api/client"
	"github.com/certctl/certctl/api/wire"
)

func newAgentCommand(o *cliOptions) *cobra.Command {
	return newGroup("agent", "Manage agents", newAgentListCommand(o), newAgentGetCommand(o), newAgentRetireCommand(o))
}

func newAgentListCommand(o *cliOptions) *cobra.Command {
	var pages pageFlags
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List agents",
		Args:  noArgs,
		RunE: o.run(func(ctx context.Context, inv *invocation, _ []string) error {
			if err := pages.validate(); err != nil {
				return err
			}
			l, err := inv.client.ListAgents(ctx, client.ListOptions{Page: pages.page, PerPage: pages.perPage})
			if err != nil {
				return err
			}
			if inv.json {
				return printJSON(inv.out, l)
			}
			t := newTable(inv.out, "ID", "NAME", "HOSTNAME", "STATUS", "LAST HEARTBEAT", "VERSION")
			for _, a := range l.Data {
				status := a.Status
				if a.RetiredAt != nil {
					status = "Retired"
				}
				t.row(a.ID, a.Name, a.Hostname, status, ago(a.LastHeartbeatAt, inv.now), a.Version)
			}
			if err := t.flush(); err != nil {
				return err
			}
			printPage(inv.errOut, len(l.Data), l.Total, l.Page, l.PerPage, "agents")
			return nil
		}),
	}
	pages.register(cmd)
	return cmd
}

func newAgentGetCommand(o *cliOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "get ID",
		Short: "Show an agent",
		Args:  oneID,
		RunE: o.run(func(ctx context.Context, inv *invocation, args []string) error {
			a, err := inv.client.GetAgent(ctx, args[0])
			if err != nil {
				return err
			}
			return printAgent(inv, a)
		}),
	}
}

func printAgent(inv *invocation, a *wire.Agent) error {
	if inv.json {
		return printJSON(inv.out, a)
	}
	heartbeat := when(a.LastHeartbeatAt)
	if heartbeat != "" {
		heartbeat += " (" + ago(a.LastHeartbeatAt, inv.now) + ")"
	}
	return printFields(inv.out, [][2]string{
		{"ID", a.ID},
		{"Name", a.Name},
		{"Hostname", a.Hostname},
		{"Status", a.Status},
		{"Version", a.Version},
		{"Last heartbeat", heartbeat},
		{"Registered", when(&a.RegisteredAt)},
		{"Retired", when(a.RetiredAt)},
	})
}

func newAgentRetireCommand(o *cliOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "retire ID",
		Short: "Retire an agent",
		Long:  "Retire an agent: its key stops working and the agent is told to stop (410 Gone) on its next heartbeat or poll.",
		Args:  oneID,
		RunE: o.run(func(ctx context.Context, inv *invocation, args []string) error {
			if err := inv.client.RetireAgent(ctx, args[0]); err != nil {
				return err
			}
			return printAction(inv, args[0], "retired", "retired agent %s", args[0])
		}),
	}
}
