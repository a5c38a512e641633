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
					actor += " (" + string(e.ActorType) + ")"
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
	var cluster bool
	cmd := &cobra.Command{
		Use:   "verify",
		Short: "Verify the audit trail's keyed hash chain, or compare every member's",
		Long: `Have a server check the chain of its copy of the audit trail. Each event
holds an HMAC-SHA256, under a key the nodes derive from their KEK, of its
content and of the link before it, so a changed, removed or inserted event
breaks the chain, even in a state file edited offline with the chain
recomputed by someone without the KEK. The check runs on the server, which
holds the key; this command shows its answer. Events written before the
chain was keyed keep their plain SHA-256 links, sealed by the first keyed
one. Exits 0 when the chain is intact and 1, naming the first broken link,
when it is not.

With --cluster, ask every member (the members of GET /api/v1/cluster, at
their API addresses, with the same API key and TLS settings) for the head of
its chain as of the same raft index (the lowest applied index among them) and
for its own check: a member whose head differs from the majority's, whose
chain is broken, or that does not answer is named, and the exit code is 1.
This finds a node whose chain was rewritten even with the KEK.`,
		Example: `  certctl audit verify
  certctl audit verify --cluster`,
		Args: noArgs,
		RunE: o.run(func(ctx context.Context, inv *invocation, _ []string) error {
			if cluster {
				return verifyCluster(ctx, inv)
			}
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
	cmd.Flags().BoolVar(&cluster, "cluster", false, "compare every member's chain head at the same raft index and name those that differ")
	return cmd
}

func printVerification(inv *invocation, v *wire.AuditVerification) error {
	if !v.Keyed {
		fmt.Fprintln(inv.errOut, "warning: the server holds no audit key (no --kek-file): its links are plain SHA-256, which "+
			"anyone with its state file can recompute; compare the members with --cluster")
	}
	if v.Valid {
		_, err := fmt.Fprintf(inv.out, "audit chain intact: %d events, head %s\n", v.Events, dash(v.Head))
		if err == nil && v.Keyed && v.UnkeyedEvents > 0 {
			_, err = fmt.Fprintf(inv.out, "events 1 to %d are plain SHA-256 links written before the chain was keyed; the keyed link of event %d seals them\n",
				v.UnkeyedEvents, v.KeyedFrom)
		}
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
