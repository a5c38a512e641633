package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"
	"github.com/spf13/cobra/doc"
)

// newManCommand returns `certctl man DIR`, which writes a section 1 man page
// for certctl and for each of its visible subcommands into DIR, made from the
// commands' own help, so the pages never drift from the binary. The packages
// run it at build time; it is hidden from the help and from the pages. The
// pages are dated by SOURCE_DATE_EPOCH when it is set, so that two builds of
// one commit give identical pages. Bash completion needs no command of its
// own: cobra's `certctl completion bash` prints it.
func newManCommand() *cobra.Command {
	return &cobra.Command{
		Use:    "man DIR",
		Short:  "Write the man pages of certctl into DIR",
		Hidden: true,
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) != 1 {
				return usageError{errors.New("man takes one argument: the directory to write the pages into")}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := os.MkdirAll(args[0], 0o755); err != nil {
				return fmt.Errorf("man: %w", err)
			}
			root := cmd.Root()
			disableAutoGenTag(root)
			header := &doc.GenManHeader{Section: "1", Source: "certctl " + version, Manual: "certctl manual"}
			if err := doc.GenManTree(root, header, args[0]); err != nil {
				return fmt.Errorf("man: %w", err)
			}
			return nil
		},
	}
}

// disableAutoGenTag drops the generator's note and date from the pages of c
// and every command below it.
func disableAutoGenTag(c *cobra.Command) {
	c.DisableAutoGenTag = true
	for _, sub := range c.Commands() {
		disableAutoGenTag(sub)
	}
}
