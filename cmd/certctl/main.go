// Command certctl is the certctl appliance: `certctl server` runs a node of
// the replicated control plane; the other subcommands are the operator's CLI.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"

	"github.com/spf13/cobra"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	// The server holds little live heap and replays many short-lived
	// requests: collecting less often trades spare memory for CPU.
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(400)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := newRootCommand().ExecuteContext(ctx)
	stop()
	if err != nil {
		var ue usageError
		if errors.As(err, &ue) {
			fmt.Fprintln(os.Stderr, "certctl:", err)
			os.Exit(2)
		}
		fmt.Fprintln(os.Stderr, "certctl:", err)
		os.Exit(1)
	}
}

// usageError is a mistake in the command line or the config: exit status 2.
type usageError struct{ error }

func (e usageError) Unwrap() error { return e.error }

func newRootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:           "certctl",
		Short:         "Certificate lifecycle appliance: server and operator CLI",
		Long:          "certctl keeps an inventory of TLS certificates, renews them before they expire, deploys them through agents and records every step in a tamper-evident audit trail. Three or more nodes replicate their state with Raft.",
		Version:       version,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(newServerCommand())
	cli := addCLIFlags(root)
	root.AddCommand(newCertCommand(cli))
	root.AddCommand(newAgentCommand(cli))
	root.AddCommand(newJobCommand(cli))
	root.AddCommand(newAuditCommand(cli))
	root.AddCommand(newKeyCommand(cli))
	root.AddCommand(newOperatorCommand(cli))
	root.AddCommand(newCACommand(cli))
	root.AddCommand(newStatusCommand(cli))
	root.AddCommand(newSnapshotCommand(cli))
	root.AddCommand(newManCommand())
	return root
}
