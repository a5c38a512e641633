package main

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/certctl/certctl/api/client"
	"github.com/certctl/certctl/api/wire"
)

func newAgentCommand(o *cliOptions) *cobra.Command {
	return newGroup("agent", "Manage agents", newAgentListCommand(o), newAgentGetCommand(o), newAgentRegisterCommand(o), newAgentRetireCommand(o))
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
				t.row(a.ID, a.Name, a.Hostname, string(status), ago(a.LastHeartbeatAt, inv.now), a.Version)
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
		{"Status", string(a.Status)},
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

func newAgentRegisterCommand(o *cliOptions) *cobra.Command {
	var name, hostname, keyFile string
	cmd := &cobra.Command{
		Use:   "register --name NAME --hostname HOST",
		Short: "Register an agent and get its id and API key",
		Long: "Register an agent. The answer carries the agent's id and its own API key, which the cluster shows this once: " +
			"with --key-file the key is written there (0600) instead of printed. Put both in the agent's config " +
			"(agent_id, and api_key or api_key_file in /etc/certctl/agent.yaml).",
		Args: noArgs,
		RunE: o.run(func(ctx context.Context, inv *invocation, _ []string) error {
			if name == "" || hostname == "" {
				return usageError{errors.New("--name and --hostname are required")}
			}
			if keyFile != "" {
				// Made before registering: a key the cluster shows once must not
				// be lost to a file that cannot be written.
				f, err := os.OpenFile(keyFile, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
				if err != nil {
					return usageError{fmt.Errorf("--key-file: %w", err)}
				}
				defer f.Close()
				reg, err := inv.client.RegisterAgent(ctx, name, hostname)
				if err != nil {
					os.Remove(keyFile)
					return err
				}
				if _, err := fmt.Fprintln(f, reg.APIKey); err != nil {
					return fmt.Errorf("write the key of agent %s to %s: %w (retire the agent and register again)", reg.ID, keyFile, err)
				}
				if err := f.Close(); err != nil {
					return fmt.Errorf("write the key of agent %s to %s: %w (retire the agent and register again)", reg.ID, keyFile, err)
				}
				reg.APIKey = ""
				if inv.json {
					return printJSON(inv.out, reg)
				}
				fmt.Fprintf(inv.out, "agent_id: %s\napi_key_file: %s\n", printable(reg.ID), keyFile)
				return nil
			}
			reg, err := inv.client.RegisterAgent(ctx, name, hostname)
			if err != nil {
				return err
			}
			if inv.json {
				return printJSON(inv.out, reg)
			}
			fmt.Fprintf(inv.out, "agent_id: %s\napi_key: %s\n", printable(reg.ID), printable(reg.APIKey))
			fmt.Fprintln(inv.errOut, "the API key is shown this once: put it in the agent's config now")
			return nil
		}),
	}
	cmd.Flags().StringVar(&name, "name", "", "the agent's name")
	cmd.Flags().StringVar(&hostname, "hostname", "", "the host the agent runs on")
	cmd.Flags().StringVar(&keyFile, "key-file", "", "write the API key to this new file (0600) instead of printing it")
	return cmd
}
