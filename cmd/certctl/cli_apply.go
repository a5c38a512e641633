package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
)

// errDiffers is diff's answer when the cluster differs from the files:
// exit status 1, as diff(1) does, for CI.
var errDiffers = errors.New("the cluster differs from the inventory")

func newApplyCommand(o *cliOptions) *cobra.Command {
	var (
		files, secretDirs []string
		dryRun, prune     bool
	)
	cmd := &cobra.Command{
		Use:   "apply -f FILE|DIR",
		Short: "Make the cluster match an inventory of YAML files",
		Long: `Create or update each resource the files describe so that the cluster matches
them: YAML documents (separated by ---) each with a kind (` + inventoryKindList(resourceKinds()) + `),
the resource's id and its fields as the API names them. A field a document leaves out
keeps its value in the cluster. Every document is checked first (its kind, its
fields, the resources it names, which must be in the files or the cluster); one
problem and nothing is applied. Resources are written in dependency order: teams,
owners, issuers, renewal policies, targets, certificates, and policy rules last (a
rule judges certificates: written after them, a rule of severity Error records a
violation of a certificate of the same files instead of refusing it). A second
apply of the same files changes nothing and says so.

Secrets are never in the files: a secret config field is given as
NAME_file: PATH (a file holding it, relative to the YAML file), inside the
directories given with -f or with --secrets-dir. It is sent when
the resource is created or changed; the API never shows a stored secret, so a new
value in the same file is not noticed: set it with 'certctl issuer update ID
--NAME-file PATH' (or target).

--prune deletes what the files no longer name (archives certificates), only for
the kinds the files hold.`,
		Example: `  certctl export -o yaml > inventory.yaml
  certctl apply -f inventory.yaml --dry-run
  certctl apply -f inventory/ --prune`,
		Args: noArgs,
		RunE: o.run(func(ctx context.Context, inv *invocation, _ []string) error {
			steps, unchanged, err := inventoryPlan(ctx, inv, files, secretDirs, prune)
			if err != nil {
				return err
			}
			return applySteps(ctx, inv, steps, unchanged, dryRun)
		}),
	}
	cmd.Flags().StringArrayVarP(&files, "file", "f", nil, "inventory file or directory (its .yaml, .yml and .json files); repeatable")
	cmd.Flags().StringArrayVar(&secretDirs, "secrets-dir", nil, "a directory the inventory's secret files (NAME_file) may be in besides the inventory's own; repeatable")
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "say what would change, change nothing")
	cmd.Flags().BoolVar(&prune, "prune", false, "delete (archive, for certificates) the resources of the files' kinds that the files no longer name")
	return cmd
}

func newDiffCommand(o *cliOptions) *cobra.Command {
	var (
		files, secretDirs []string
		prune             bool
	)
	cmd := &cobra.Command{
		Use:   "diff -f FILE|DIR",
		Short: "Show what apply would change, field by field",
		Long: `Compare an inventory (see certctl apply) with the cluster and show what apply
would change: + a resource to create, ~ one to update with each field's value in
the cluster and in the files, - (with --prune) one to delete or archive. The exit
status is 0 when the cluster matches, 1 when it differs, 2 on an error.`,
		Example: "  certctl diff -f inventory/ || echo 'the cluster differs'",
		Args:    noArgs,
		RunE: o.run(func(ctx context.Context, inv *invocation, _ []string) error {
			steps, _, err := inventoryPlan(ctx, inv, files, secretDirs, prune)
			if err != nil {
				var ue usageError
				if !errors.As(err, &ue) {
					err = usageError{o.explain(err)}
				}
				return err
			}
			if err := printSteps(inv, steps, true); err != nil {
				return usageError{err}
			}
			if len(steps) > 0 {
				return fmt.Errorf("%w: %s to change", errDiffers, count(len(steps), "resource"))
			}
			return nil
		}),
	}
	cmd.Flags().StringArrayVarP(&files, "file", "f", nil, "inventory file or directory; repeatable")
	cmd.Flags().StringArrayVar(&secretDirs, "secrets-dir", nil, "a directory the inventory's secret files may be in besides the inventory's own; repeatable")
	cmd.Flags().BoolVar(&prune, "prune", false, "show too what apply --prune would delete or archive")
	return cmd
}

// inventoryPlan reads and checks the files, reads the cluster, checks the
// references and compares: nothing is written.
func inventoryPlan(ctx context.Context, inv *invocation, files, secretDirs []string, prune bool) ([]step, int, error) {
	if len(files) == 0 {
		return nil, 0, usageError{errors.New("give the inventory with -f FILE or -f DIR")}
	}
	kinds := resourceKinds()
	paths, dirs, err := inventoryFiles(files)
	if err != nil {
		return nil, 0, usageError{fmt.Errorf("-f: %w", err)}
	}
	docs, err := parseInventory(kinds, paths, append(dirs, secretDirs...))
	if err != nil {
		return nil, 0, usageError{err}
	}
	// The kinds the files hold and those they name.
	var need []*resourceKind
	for _, d := range docs {
		need = append(need, d.kind)
		for _, r := range d.kind.refs {
			need = append(need, kindNamed(kinds, r.kind))
		}
	}
	state, err := readCluster(ctx, inv.client, need)
	if err != nil {
		return nil, 0, err
	}
	if err := checkReferences(kinds, docs, state); err != nil {
		return nil, 0, usageError{err}
	}
	steps, unchanged := plan(kinds, docs, state, prune)
	return steps, unchanged, nil
}

// applySteps writes each step in order, or with dryRun says what it would.
func applySteps(ctx context.Context, inv *invocation, steps []step, unchanged int, dryRun bool) error {
	if len(steps) == 0 {
		if inv.json {
			return printJSON(inv.out, applyReport{Unchanged: unchanged, Steps: []stepReport{}})
		}
		_, err := fmt.Fprintf(inv.out, "no change: the cluster matches the inventory (%s)\n", count(unchanged, "resource"))
		return err
	}
	if dryRun {
		if err := printSteps(inv, steps, false); err != nil {
			return err
		}
		if !inv.json {
			_, err := fmt.Fprintln(inv.out, "dry run: nothing was changed")
			return err
		}
		return nil
	}
	done := 0
	for _, s := range steps {
		if err := s.run(ctx, inv); err != nil {
			return fmt.Errorf("%s %s %s (after %d of %d changes): %w", s.op, s.kind.name, s.id, done, len(steps), withField(err))
		}
		done++
		if !inv.json {
			if _, err := fmt.Fprintln(inv.out, s.summary(false)); err != nil {
				return err
			}
		}
	}
	if inv.json {
		return printJSON(inv.out, report(steps, unchanged))
	}
	_, err := fmt.Fprintf(inv.out, "%d changed, %d unchanged\n", done, unchanged)
	return err
}

// count is "1 resource", "2 resources".
func count(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return strconv.Itoa(n) + " " + noun + "s"
}

// run writes the step.
func (s step) run(ctx context.Context, inv *invocation) error {
	k := s.kind
	switch s.op {
	case "create", "update":
		body := map[string]any{}
		for f, v := range s.body {
			if !k.isServerField(f) {
				body[f] = v
			}
		}
		raw, err := json.Marshal(body)
		if err != nil {
			return err
		}
		var answer json.RawMessage
		if s.op == "create" {
			answer, err = inv.client.CreateJSON(ctx, raw, k.path)
		} else {
			answer, err = inv.client.UpdateJSON(ctx, raw, k.path, s.id)
		}
		if err != nil {
			return err
		}
		// An update that moved a record (another agent, type or
		// destination) without its secrets cleared them: say which.
		var cleared struct {
			SecretsCleared []string `json:"secrets_cleared"`
		}
		if json.Unmarshal(answer, &cleared) == nil && len(cleared.SecretsCleared) > 0 {
			fmt.Fprintf(inv.errOut, "warning: %s %s moved and its secrets %s were cleared: give them again (config.NAME_file)\n",
				k.name, printable(s.id), printable(join(cleared.SecretsCleared)))
		}
		return nil
	default:
		return inv.client.DeleteJSON(ctx, k.path, s.id)
	}
}

// summary is the step's line: "created team t-web", "would update owner
// o-alice (email)".
func (s step) summary(would bool) string {
	past := map[string]string{"create": "created", "update": "updated", "delete": "deleted", "archive": "archived"}[s.op]
	if would {
		past = "would " + s.op
	}
	line := past + " " + s.kind.name + " " + printable(s.id)
	if s.op == "update" {
		paths := make([]string, len(s.changes))
		for i, c := range s.changes {
			paths[i] = c.path
		}
		line += " (" + printable(strings.Join(paths, ", ")) + ")"
	}
	return line
}

// printSteps shows the steps: with fields as diff does, or as apply
// --dry-run's lines.
func printSteps(inv *invocation, steps []step, fields bool) error {
	if inv.json {
		return printJSON(inv.out, report(steps, 0))
	}
	for _, s := range steps {
		if !fields {
			if _, err := fmt.Fprintln(inv.out, s.summary(true)); err != nil {
				return err
			}
			continue
		}
		mark := map[string]string{"create": "+", "update": "~", "delete": "-", "archive": "-"}[s.op]
		line := fmt.Sprintf("%s %s %s", mark, s.kind.name, printable(s.id))
		if s.op == "delete" || s.op == "archive" {
			line += " (" + s.op + ")"
		}
		if _, err := fmt.Fprintln(inv.out, line); err != nil {
			return err
		}
		for _, c := range s.changes {
			var err error
			if s.op == "create" {
				_, err = fmt.Fprintf(inv.out, "    %s: %s\n", printable(c.path), valueText(c.to, c.toSet))
			} else {
				_, err = fmt.Fprintf(inv.out, "    %s: %s -> %s\n", printable(c.path), valueText(c.from, c.fromSet), valueText(c.to, c.toSet))
			}
			if err != nil {
				return err
			}
		}
	}
	return nil
}

// applyReport is apply's and diff's -o json answer.
type applyReport struct {
	Steps     []stepReport `json:"changes"`
	Unchanged int          `json:"unchanged"`
}

type stepReport struct {
	Op     string        `json:"op"`
	Kind   string        `json:"kind"`
	ID     string        `json:"id"`
	Fields []fieldReport `json:"fields,omitempty"`
}

type fieldReport struct {
	Field string `json:"field"`
	From  any    `json:"from,omitempty"`
	To    any    `json:"to,omitempty"`
}

func report(steps []step, unchanged int) applyReport {
	r := applyReport{Steps: []stepReport{}, Unchanged: unchanged}
	for _, s := range steps {
		sr := stepReport{Op: s.op, Kind: s.kind.kind, ID: s.id}
		for _, c := range s.changes {
			sr.Fields = append(sr.Fields, fieldReport{Field: c.path, From: c.from, To: c.to})
		}
		r.Steps = append(r.Steps, sr)
	}
	return r
}
