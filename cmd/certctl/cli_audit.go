package main

import (
	"context"
	"fmt"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/certctl/certctl/api/client"
	"github.com/certctl/certctl/api/wire"
)

func newAuditCommand(o *cliOptions) *cobra.Command {
	return newGroup("audit", "Read and verify the audit trail", newAuditListCommand(o), newAuditVerifyCommand(o))
}

func newAuditListCommand(o *cliOptions) *cobra.Command {
	var (
		f        client.ListAuditOptions
		from, to string
		pages    pageFlags
	)
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List audit events",
		Example: `  certctl audit list --resource-id mc-api-prod
  certctl audit list --actor-type Agent --from -1d`,
		Args: noArgs,
		RunE: o.run(func(ctx context.Context, inv *invocation, _ []string) error {
			if err := pages.validate(); err != nil {
				return err
			}
			var err error
			if f.From, err = parseWhen("from", from, inv.now); err != nil {
				return err
			}
			if f.To, err = parseWhen("to", to, inv.now); err != nil {
				return err
			}
			f.Page, f.PerPage = pages.page, pages.perPage
			l, err := inv.client.ListAudit(ctx, f)
			if err != nil {
				return err
			}
			if inv.json {
				return printJSON(inv.out, l)
			}
			t := newTable(inv.out, "SEQ", "TIME", "ACTOR", "ACTION", "RESOURCE", "ID")
			for _, e := range l.Data {
				actor := e.Actor
				if e.ActorType != "" {
					actor += " (" + e.ActorType + ")"
				}
				resource := e.ResourceType
				if e.ResourceID != "" {
					resource += " " + e.ResourceID
				}
				t.row(strconv.FormatUint(e.Seq, 10), when(&e.Timestamp), actor, e.Action, resource, e.ID)
			}
			if err := t.flush(); err != nil {
				return err
			}
			printPage(inv.errOut, len(l.Data), l.Total, l.Page, l.PerPage, "events")
			return nil
		}),
	}
	fs := cmd.Flags()
	fs.StringVar(&f.Actor, "actor", "", "only events by this actor")
	fs.StringVar(&f.ActorType, "actor-type", "", "only events by this kind of actor: User, System or Agent")
	fs.StringVar(&f.Action, "action", "", "only this action")
	fs.StringVar(&f.ResourceType, "resource-type", "", "only events on this kind of resource")
	fs.StringVar(&f.ResourceID, "resource-id", "", "only events on this resource")
	fs.StringVar(&from, "from", "", "only events at or after: RFC 3339, a date or an offset such as -7d")
	fs.StringVar(&to, "to", "", "only events before: RFC 3339, a date or an offset")
	pages.register(cmd)
	return cmd
}

func newAuditVerifyCommand(o *cliOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "verify",
		Short: "Verify the audit trail's hash chain",
		Long: `Have a server recompute the SHA-256 chain of the audit trail: each event
holds the hash of the one before, so a changed, removed or inserted event
breaks the chain. Exits 0 when the chain is intact and 1, naming the first
broken link, when it is not.`,
		Args: noArgs,
		RunE: o.run(func(ctx context.Context, inv *invocation, _ []string) error {
			v, err := inv.client.VerifyAudit(ctx)
			if err != nil {
				return err
			}
			if inv.json {
				err = printJSON(inv.out, v)
			} else {
				err = printVerification(inv, v)
			}
			if err != nil {
				return err
			}
			if !v.Valid {
				return brokenChainError(v)
			}
			return nil
		}),
	}
}

func printVerification(inv *invocation, v *wire.AuditVerification) error {
	if v.Valid {
		_, err := fmt.Fprintf(inv.out, "audit chain intact: %d events, head %s\n", v.Events, dash(v.Head))
		return err
	}
	fields := [][2]string{
		{"Audit chain", "BROKEN"},
		{"Events verified", strconv.FormatUint(v.Events, 10)},
		{"Last good hash", v.Head},
	}
	if b := v.FirstBreak; b != nil {
		fields = append(fields,
			[2]string{"First break", "event " + strconv.FormatUint(b.Seq, 10) + idSuffix(b.ID)},
			[2]string{"Reason", b.Reason})
	}
	return printFields(inv.out, fields)
}

func brokenChainError(v *wire.AuditVerification) error {
	if b := v.FirstBreak; b != nil {
		return fmt.Errorf("audit chain is broken at event %d%s: %s", b.Seq, idSuffix(b.ID), b.Reason)
	}
	return fmt.Errorf("audit chain is broken")
}

func idSuffix(id string) string {
	if id == "" {
		return ""
	}
	return " (" + id + ")"
}
