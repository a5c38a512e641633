package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/certctl/certctl/api/client"
)

func newKeyCommand(o *cliOptions) *cobra.Command {
	return newGroup("key", "Manage API keys", newKeyCreateCommand(o), newKeyListCommand(o), newKeyRevokeCommand(o))
}

func newKeyCreateCommand(o *cliOptions) *cobra.Command {
	var name, role, agentID string
	cmd := &cobra.Command{
		Use:   "create",
		Short: "Create an API key",
		Long: `Create an API key. Roles: admin (everything), operator (everything but keys
and cluster membership), viewer (read only), auditor (the audit trail) and
agent (one agent's own endpoints; name it with --agent). The key is printed
once: store it now.`,
		Example: `  certctl key create --name ci-pipeline --role operator
  certctl key create --name web-1 --role agent --agent ag-web-prod`,
		Args: noArgs,
		RunE: o.run(func(ctx context.Context, inv *invocation, _ []string) error {
			if name == "" || role == "" {
				return usageError{errors.New("key create needs --name and --role")}
			}
			k, err := inv.client.CreateKey(ctx, name, role, agentID)
			if err != nil {
				return err
			}
			if inv.json {
				return printJSON(inv.out, k)
			}
			if err := printFields(inv.out, [][2]string{
				{"ID", k.ID}, {"Name", k.Name}, {"Role", k.Role}, {"Agent", k.AgentID}, {"Prefix", k.Prefix},
				{"Created", when(&k.CreatedAt)}, {"API key", k.APIKey},
			}); err != nil {
				return err
			}
			_, err = fmt.Fprintln(inv.errOut, "Store the API key now: it is not shown again.")
			return err
		}),
	}
	cmd.Flags().StringVar(&name, "name", "", "name telling what the key is for (required)")
	cmd.Flags().StringVar(&role, "role", "", "admin, operator, viewer, auditor or agent (required)")
	cmd.Flags().StringVar(&agentID, "agent", "", "agent ID, for role agent")
	return cmd
}

func newKeyListCommand(o *cliOptions) *cobra.Command {
	var pages pageFlags
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List API keys (without their secrets)",
		Args:  noArgs,
		RunE: o.run(func(ctx context.Context, inv *invocation, _ []string) error {
			if err := pages.validate(); err != nil {
				return err
			}
			l, err := inv.client.ListKeys(ctx, client.ListOptions{Page: pages.page, PerPage: pages.perPage})
			if err != nil {
				return err
			}
			if inv.json {
				return printJSON(inv.out, l)
			}
			t := newTable(inv.out, "ID", "NAME", "ROLE", "AGENT", "PREFIX", "CREATED", "REVOKED")
			for _, k := range l.Data {
				t.row(k.ID, k.Name, k.Role, k.AgentID, k.Prefix, when(&k.CreatedAt), when(k.RevokedAt))
			}
			if err := t.flush(); err != nil {
				return err
			}
			printPage(inv.errOut, len(l.Data), l.Total, l.Page, l.PerPage, "keys")
			return nil
		}),
	}
	pages.register(cmd)
	return cmd
}

func newKeyRevokeCommand(o *cliOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "revoke ID",
		Short: "Revoke an API key",
		Args:  oneID,
		RunE: o.run(func(ctx context.Context, inv *invocation, args []string) error {
			if err := inv.client.RevokeKey(ctx, args[0]); err != nil {
				return err
			}
			return printAction(inv, args[0], "revoked", "revoked API key %s", args[0])
		}),
	}
}
