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
	ctx, stop := notifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
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

// stoppedBy is the cause of the context notifyContext cancels: the signal
// that arrived, so that the server can tell a SIGTERM (a stop, which may
// mean for good: leave_on_terminate) from an interrupt.
type stoppedBy struct{ sig os.Signal }

func (s stoppedBy) Error() string { return "stopped by " + s.sig.String() }

// notifyContext is signal.NotifyContext with the signal as the context's
// cause (stoppedBy).
func notifyContext(parent context.Context, sigs ...os.Signal) (context.Context, func()) {
	ctx, cancel := context.WithCancelCause(parent)
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, sigs...)
	done := make(chan struct{})
	go func() {
		select {
		case sig := <-ch:
			cancel(stoppedBy{sig})
		case <-done:
		}
	}()
	return ctx, func() {
		signal.Stop(ch)
		close(done)
		cancel(context.Canceled)
	}
}

// terminated reports whether ctx was cancelled by a SIGTERM.
func terminated(ctx context.Context) bool {
	var s stoppedBy
	return errors.As(context.Cause(ctx), &s) && s.sig == syscall.SIGTERM
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
	root.AddCommand(newResourceCommands(cli)...)
	root.AddCommand(newApplyCommand(cli), newDiffCommand(cli), newExportYAMLCommand(cli, newExportSubcommands(cli)...))
	root.AddCommand(newImportCommand(cli))
	root.AddCommand(newManCommand())
	return root
}
