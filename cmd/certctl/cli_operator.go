package main

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/certctl/certctl/api/client"
	"github.com/certctl/certctl/api/wire"
)

// The bounds of a join token, as the server enforces them.
const (
	minJoinTokenTTL  = time.Minute
	maxJoinTokenTTL  = 7 * 24 * time.Hour
	maxJoinTokenUses = 100
)

func newOperatorCommand(o *cliOptions) *cobra.Command {
	return newGroup("operator", "Operate the cluster itself (admin keys only)",
		newGroup("join-token", "Manage the tokens that let new nodes join the cluster",
			newJoinTokenCreateCommand(o), newJoinTokenListCommand(o), newJoinTokenRevokeCommand(o)),
		newRaftCommand(o))
}

func newJoinTokenCreateCommand(o *cliOptions) *cobra.Command {
	var (
		ttl     time.Duration
		uses    int
		outFile string
	)
	cmd := &cobra.Command{
		Use:   "create",
		Short: "Create a join token",
		Long: `Create a join token: up to --uses nodes may join the cluster with it within
--ttl. The token is printed once (the cluster keeps only its hash): hand it
to the joining node in a file (--join-token-file), never on its command line.`,
		Example: `  certctl operator join-token create
  certctl operator join-token create --ttl 30m --uses 2 --out /root/join-token`,
		Args: noArgs,
		RunE: o.run(func(ctx context.Context, inv *invocation, _ []string) error {
			if ttl < minJoinTokenTTL || ttl > maxJoinTokenTTL {
				return usageError{fmt.Errorf("--ttl %s must be between 1m and 168h (7 days)", ttl)}
			}
			if uses < 1 || uses > maxJoinTokenUses {
				return usageError{fmt.Errorf("--uses %d must be between 1 and %d", uses, maxJoinTokenUses)}
			}
			var f *os.File
			if outFile != "" {
				// Made before the token: a token shown once must not be lost
				// to a file that cannot be written.
				var err error
				if f, err = os.OpenFile(outFile, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600); err != nil {
					return usageError{fmt.Errorf("--out: %w", err)}
				}
				defer f.Close()
			}
			jt, err := inv.client.CreateJoinToken(ctx, ttl, uses)
			if err != nil {
				if f != nil {
					os.Remove(outFile)
				}
				return err
			}
			if f != nil {
				if _, err := fmt.Fprintln(f, jt.Token); err != nil {
					return fmt.Errorf("write join token %s to %s: %w (revoke it and create another)", jt.ID, outFile, err)
				}
				if err := f.Close(); err != nil {
					return fmt.Errorf("write join token %s to %s: %w (revoke it and create another)", jt.ID, outFile, err)
				}
				jt.Token = ""
				if inv.json {
					return printJSON(inv.out, jt)
				}
				return printFields(inv.out, [][2]string{
					{"ID", jt.ID}, {"Expires", when(&jt.ExpiresAt)}, {"Uses", strconv.Itoa(jt.Uses)}, {"Join token file", outFile},
				})
			}
			if inv.json {
				return printJSON(inv.out, jt)
			}
			if err := printFields(inv.out, [][2]string{
				{"ID", jt.ID}, {"Expires", when(&jt.ExpiresAt)}, {"Uses", strconv.Itoa(jt.Uses)}, {"Join token", jt.Token},
			}); err != nil {
				return err
			}
			_, err = fmt.Fprintln(inv.errOut, "Store the join token now: it is not shown again.")
			return err
		}),
	}
	cmd.Flags().DurationVar(&ttl, "ttl", time.Hour, "how long the token is valid, 1m to 168h")
	cmd.Flags().IntVar(&uses, "uses", 1, "how many nodes may join with it, 1 to 100")
	cmd.Flags().StringVar(&outFile, "out", "", "write the token to this new file (0600) instead of printing it, for --join-token-file")
	return cmd
}

func newJoinTokenListCommand(o *cliOptions) *cobra.Command {
	var pages pageFlags
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List join tokens (without their secrets)",
		Args:  noArgs,
		RunE: o.run(func(ctx context.Context, inv *invocation, _ []string) error {
			if err := pages.validate(); err != nil {
				return err
			}
			l, err := inv.client.ListJoinTokens(ctx, client.ListOptions{Page: pages.page, PerPage: pages.perPage})
			if err != nil {
				return err
			}
			if inv.json {
				return printJSON(inv.out, l)
			}
			t := newTable(inv.out, "ID", "STATE", "USES LEFT", "EXPIRES", "CREATED", "CREATED BY")
			for _, jt := range l.Data {
				t.row(jt.ID, joinTokenState(jt, inv.now), strconv.Itoa(jt.UsesLeft)+"/"+strconv.Itoa(jt.Uses),
					when(&jt.ExpiresAt), when(&jt.CreatedAt), jt.CreatedBy)
			}
			if err := t.flush(); err != nil {
				return err
			}
			printPage(inv.errOut, len(l.Data), l.Total, l.Page, l.PerPage, "join tokens")
			return nil
		}),
	}
	pages.register(cmd)
	return cmd
}

// joinTokenState says whether a node can still join with jt.
func joinTokenState(jt wire.JoinToken, now time.Time) string {
	switch {
	case jt.RevokedAt != nil:
		return "revoked " + when(jt.RevokedAt)
	case !now.Before(jt.ExpiresAt):
		return "expired"
	case jt.UsesLeft <= 0:
		return "used up"
	}
	return "valid"
}

func newJoinTokenRevokeCommand(o *cliOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "revoke ID",
		Short: "Revoke a join token: no node joins with it from now on",
		Args:  oneID,
		RunE: o.run(func(ctx context.Context, inv *invocation, args []string) error {
			if err := inv.client.RevokeJoinToken(ctx, args[0]); err != nil {
				return err
			}
			return printAction(inv, args[0], "revoked", "revoked join token %s", args[0])
		}),
	}
}
