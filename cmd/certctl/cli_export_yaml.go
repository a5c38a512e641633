package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"
	"gopkg.in/yaml.v3"
)

// newExportYAMLCommand is 'certctl export': alone (with -o yaml, the
// default) it writes the cluster's resources as an inventory that 'certctl
// apply' reads; subs, the other exports, are its subcommands.
func newExportYAMLCommand(o *cliOptions, subs ...*cobra.Command) *cobra.Command {
	var only []string
	cmd := &cobra.Command{
		Use:   "export -o yaml [--kind K]",
		Short: "Write the cluster's resources as an inventory (YAML) for certctl apply",
		Long: `Write the cluster's teams, owners, issuers, renewal policies, policy rules,
targets and certificates as YAML documents in the format 'certctl apply' reads,
in dependency order, so that a site can keep its configuration in version control
starting from what it has. The fields the server manages (created_at, status,
expires_at, ...) are left out, as are archived certificates. A stored secret is
never shown by the API: each is named in a comment, to be given as
config.NAME_file: PATH. Other exports are the subcommands below.`,
		Example: `  certctl export -o yaml > inventory.yaml
  certctl export -o yaml --kind Team --kind Owner`,
		Args: noArgs,
		RunE: o.run(func(ctx context.Context, inv *invocation, _ []string) error {
			if inv.flags.Changed("output") && o.output != "yaml" {
				return usageError{fmt.Errorf("export writes YAML: give -o yaml, not -o %s", o.output)}
			}
			kinds, err := exportKinds(only)
			if err != nil {
				return err
			}
			return exportYAML(ctx, inv, kinds)
		}),
	}
	cmd.AddCommand(subs...)
	cmd.Flags().StringArrayVar(&only, "kind", nil, "only this kind ("+inventoryKindList(resourceKinds())+"); repeatable")
	return cmd
}

// exportKinds are the inventory's kinds, or those named.
func exportKinds(only []string) ([]*resourceKind, error) {
	all := resourceKinds()
	var kinds []*resourceKind
	for _, k := range all {
		if !k.inventory {
			continue
		}
		if len(only) == 0 {
			kinds = append(kinds, k)
			continue
		}
		for _, name := range only {
			if kindNamed(all, name) == k {
				kinds = append(kinds, k)
				break
			}
		}
	}
	for _, name := range only {
		if k := kindNamed(all, name); k == nil || !k.inventory {
			return nil, usageError{fmt.Errorf("--kind %q is not one of %s", name, inventoryKindList(all))}
		}
	}
	return kinds, nil
}

// exportYAML writes every record of kinds, in order, each kind's by id.
func exportYAML(ctx context.Context, inv *invocation, kinds []*resourceKind) error {
	state, err := readCluster(ctx, inv.client, kinds)
	if err != nil {
		return err
	}
	w := inv.out
	if y, ok := w.(*yamlOut); ok {
		w = y.w
	}
	if _, err := io.WriteString(w, "# certctl inventory: certctl apply -f FILE makes a cluster match it.\n"); err != nil {
		return err
	}
	for _, k := range kinds {
		for _, id := range sortedKeys(state[k.name]) {
			rec := state[k.name][id]
			if k.skipExport != nil && k.skipExport(rec) {
				continue
			}
			n, err := k.exportNode(rec)
			if err != nil {
				return err
			}
			if _, err := io.WriteString(w, "---\n"); err != nil {
				return err
			}
			if err := writeYAML(w, n); err != nil {
				return err
			}
		}
	}
	return nil
}

// exportNode is one record as an inventory document: kind first, then the
// settable fields in the wire type's order; stored secrets (shown as
// ********) are left out and named in a comment.
func (k *resourceKind) exportNode(rec map[string]any) (*yaml.Node, error) {
	doc := &yaml.Node{Kind: yaml.MappingNode}
	add := func(key string, v any) error {
		val, err := valueNode(v)
		if err != nil {
			return err
		}
		doc.Content = append(doc.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: key}, val)
		return nil
	}
	if err := add("kind", k.kind); err != nil {
		return nil, err
	}
	var kept []string
	for _, f := range k.settableFields() {
		v, ok := rec[f]
		if !ok {
			continue
		}
		if f == "config" && k.secrets != "" {
			if config, isMap := v.(map[string]any); isMap {
				clean := map[string]any{}
				for key, cv := range config {
					if cv == redacted {
						kept = append(kept, key)
						continue
					}
					clean[key] = cv
				}
				v = clean
			}
		}
		if err := add(f, v); err != nil {
			return nil, err
		}
	}
	if len(kept) > 0 {
		var lines []string
		for _, s := range sortedKeys(map[string]bool(setOf(kept))) {
			lines = append(lines, fmt.Sprintf("config.%s is stored in the cluster and kept; to set it, give config.%s_file: PATH", s, s))
		}
		doc.HeadComment = strings.Join(lines, "\n")
	}
	if len(doc.Content) == 0 {
		return nil, errors.New("export: an empty record")
	}
	return doc, nil
}

func setOf(list []string) map[string]bool {
	m := map[string]bool{}
	for _, s := range list {
		m[s] = true
	}
	return m
}
