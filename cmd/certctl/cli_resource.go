package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"gopkg.in/yaml.v3"

	"github.com/certctl/certctl/api/client"
	"github.com/certctl/certctl/api/wire"
)

// newResourceCommands returns a command group per resource kind of the
// table that has commands: list, get, create, update, delete or archive
// and the kind's actions, the same verbs and flags for every kind.
func newResourceCommands(o *cliOptions) []*cobra.Command {
	kinds := resourceKinds()
	var cmds []*cobra.Command
	for _, k := range kinds {
		if !k.command {
			continue
		}
		subs := []*cobra.Command{k.listCommand(o, kinds)}
		if k.path != "" {
			subs = append(subs, k.getCommand(o, kinds))
		}
		if !k.readOnly {
			subs = append(subs, k.writeCommand(o, kinds, false), k.writeCommand(o, kinds, true))
		}
		if k.remove != "" {
			subs = append(subs, k.removeCommand(o, kinds))
		}
		for _, a := range k.actions {
			subs = append(subs, k.actionCommand(o, kinds, a))
		}
		if k.name == "policy" {
			subs = append(subs, k.violationsCommand(o, kinds))
		}
		cmds = append(cmds, newGroup(k.name, "Manage "+k.plural, subs...))
	}
	return cmds
}

// listFlags are a list command's paging flags.
type listFlags struct {
	pages pageFlags
	all   bool
}

func (l *listFlags) register(cmd *cobra.Command) {
	l.pages.register(cmd)
	cmd.Flags().BoolVar(&l.all, "all", false, "every page, not one (fetched 500 at a time)")
}

func (k *resourceKind) listCommand(o *cliOptions, kinds []*resourceKind) *cobra.Command {
	var lf listFlags
	vals := make([]string, len(k.filters))
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List " + k.plural,
		Args:  noArgs,
		RunE: o.run(func(ctx context.Context, inv *invocation, _ []string) error {
			f := map[string]string{}
			for i, fl := range k.filters {
				if vals[i] != "" {
					f[fl.query] = vals[i]
				}
			}
			return k.runList(ctx, inv, f, lf)
		}),
	}
	for i, fl := range k.filters {
		cmd.Flags().StringVar(&vals[i], fl.flag, "", fl.usage)
		if fl.ref != "" {
			_ = cmd.RegisterFlagCompletionFunc(fl.flag, o.completeIDs(kinds, fl.ref))
		}
	}
	lf.register(cmd)
	return cmd
}

// violationsCommand lists a policy rule's violations.
func (k *resourceKind) violationsCommand(o *cliOptions, kinds []*resourceKind) *cobra.Command {
	var lf listFlags
	v := kindNamed(kinds, "violation")
	cmd := &cobra.Command{
		Use:               "violations ID",
		Short:             "List a policy rule's violations",
		Args:              oneID,
		ValidArgsFunction: o.completeArg(kinds, k.name),
		RunE: o.run(func(ctx context.Context, inv *invocation, args []string) error {
			return v.runList(ctx, inv, map[string]string{"rule_id": args[0]}, lf)
		}),
	}
	lf.register(cmd)
	return cmd
}

// runList lists k with the query filters f, one page or all, as a table or
// the list envelope (-o json, -o yaml).
func (k *resourceKind) runList(ctx context.Context, inv *invocation, f map[string]string, lf listFlags) error {
	if err := lf.pages.validate(); err != nil {
		return err
	}
	if lf.all && (lf.pages.page != 0 || lf.pages.perPage != 0) {
		return usageError{errors.New("--all fetches every page: leave out --page and --per-page")}
	}
	path := []string{k.path}
	if k.listPath != nil {
		var (
			consumed string
			err      error
		)
		if path, consumed, err = k.listPath(f); err != nil {
			return err
		}
		delete(f, consumed)
	}
	q := url.Values{}
	for key, v := range f {
		q.Set(key, v)
	}
	var (
		l   *wire.List[json.RawMessage]
		err error
	)
	if lf.all {
		l, err = listAll(ctx, inv.client, q, path...)
	} else {
		if lf.pages.page > 0 {
			q.Set("page", strconv.Itoa(lf.pages.page))
		}
		if lf.pages.perPage > 0 {
			q.Set("per_page", strconv.Itoa(lf.pages.perPage))
		}
		l, err = inv.client.ListJSON(ctx, q, path...)
	}
	if err != nil {
		return withField(err)
	}
	if inv.json {
		return printJSON(inv.out, l)
	}
	headers := make([]string, len(k.columns))
	for i, c := range k.columns {
		headers[i] = c.header
	}
	t := newTable(inv.out, headers...)
	for _, raw := range l.Data {
		obj, err := decodeObject(raw)
		if err != nil {
			return err
		}
		cells := make([]string, len(k.columns))
		for i, c := range k.columns {
			cells[i] = cellText(obj[c.field], c.format, inv.now)
		}
		t.row(cells...)
	}
	if err := t.flush(); err != nil {
		return err
	}
	if !lf.all {
		printPage(inv.errOut, len(l.Data), l.Total, l.Page, l.PerPage, k.plural)
	}
	return nil
}

// maxListPages bounds listAll: 5,000,000 records at 500 a page.
const maxListPages = 10000

// listAll reads every page of the list at path, 500 at a time.
func listAll(ctx context.Context, c *client.Client, q url.Values, path ...string) (*wire.List[json.RawMessage], error) {
	all := &wire.List[json.RawMessage]{Data: []json.RawMessage{}, Page: 1}
	q = cloneValues(q)
	q.Set("per_page", "500")
	for page := 1; page <= maxListPages; page++ {
		q.Set("page", strconv.Itoa(page))
		l, err := c.ListJSON(ctx, q, path...)
		if err != nil {
			return nil, err
		}
		all.Data = append(all.Data, l.Data...)
		all.Total = l.Total
		if len(l.Data) == 0 || len(all.Data) >= l.Total {
			break
		}
	}
	all.PerPage = len(all.Data)
	return all, nil
}

func cloneValues(q url.Values) url.Values {
	out := url.Values{}
	for k, v := range q {
		out[k] = slices.Clone(v)
	}
	return out
}

func (k *resourceKind) getCommand(o *cliOptions, kinds []*resourceKind) *cobra.Command {
	return &cobra.Command{
		Use:               "get ID",
		Short:             "Show " + k.article(),
		Args:              oneID,
		ValidArgsFunction: o.completeArg(kinds, k.name),
		RunE: o.run(func(ctx context.Context, inv *invocation, args []string) error {
			raw, err := inv.client.GetJSON(ctx, k.path, args[0])
			if err != nil {
				return withField(err)
			}
			return k.printOne(inv, raw)
		}),
	}
}

// printOne prints one record: its fields, or the record (-o json, -o yaml).
func (k *resourceKind) printOne(inv *invocation, raw json.RawMessage) error {
	if inv.json {
		return printJSON(inv.out, raw)
	}
	obj, err := decodeObject(raw)
	if err != nil {
		return err
	}
	var fields [][2]string
	for _, name := range k.fieldNames() {
		v, ok := obj[name]
		if !ok {
			continue
		}
		format := ""
		if strings.HasSuffix(name, "_at") {
			format = "time"
		}
		fields = append(fields, [2]string{fieldLabel(name), cellText(v, format, inv.now)})
	}
	return printFields(inv.out, fields)
}

// fieldNames are the JSON names of k's wire type, in its order.
func (k *resourceKind) fieldNames() []string {
	t := reflect.TypeOf(k.wire)
	names := make([]string, 0, t.NumField())
	for i := range t.NumField() {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
		if name != "" && name != "-" {
			names = append(names, name)
		}
	}
	return names
}

// fieldLabel turns a JSON field name into a label: "team_id" → "Team ID".
func fieldLabel(name string) string {
	words := strings.Split(name, "_")
	for i, w := range words {
		switch w {
		case "id", "ids":
			words[i] = strings.ToUpper(w[:2]) + w[2:]
		default:
			if i == 0 {
				words[i] = strings.ToUpper(w[:1]) + w[1:]
			}
		}
	}
	return strings.Join(words, " ")
}

// cellText formats a JSON value for a table: text as it is, yes/no, a
// number, a list joined, an object as compact JSON; format "time" shows an
// RFC 3339 text as a UTC date and time.
func cellText(v any, format string, now time.Time) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		if format == "time" || format == "expires" {
			if t, err := time.Parse(time.RFC3339Nano, x); err == nil {
				if format == "expires" {
					return expires(&t, now)
				}
				return when(&t)
			}
		}
		return x
	case bool:
		return yesNo(x)
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case []any:
		parts := make([]string, len(x))
		for i, e := range x {
			parts[i] = cellText(e, "", now)
		}
		return join(parts)
	default:
		b, _ := json.Marshal(x) // decoded from JSON: it encodes
		return string(b)
	}
}

func decodeObject(raw json.RawMessage) (map[string]any, error) {
	var obj map[string]any
	if err := json.Unmarshal(raw, &obj); err != nil {
		return nil, fmt.Errorf("the server's answer is not an object: %w", err)
	}
	return obj, nil
}

// writeCommand is create, or update when update is set.
func (k *resourceKind) writeCommand(o *cliOptions, kinds []*resourceKind, update bool) *cobra.Command {
	var file string
	fv := &fieldValues{}
	secretsNote := ""
	if k.secrets != "" {
		secretsNote = " Secrets are read from files (--NAME-file, or config.NAME_file: PATH in the body), never given as values; a secret shown as ******** and sent back is kept."
	}
	cmd := &cobra.Command{
		Use:   "create",
		Short: "Create " + k.article(),
		Long: "Create " + k.article() + ". Give its fields as flags, or the whole body (the API's shape, in YAML or JSON) with -f FILE (- for standard input); " +
			"flags given as well override the file's fields." + secretsNote,
		Args: noArgs,
		RunE: o.run(func(ctx context.Context, inv *invocation, args []string) error {
			body := map[string]any{}
			if update {
				raw, err := inv.client.GetJSON(ctx, k.path, args[0])
				if err != nil {
					return withField(err)
				}
				if body, err = decodeObject(raw); err != nil {
					return err
				}
			}
			given := false
			baseDir := "."
			if file != "" {
				fb, err := readBody(file, inv.in)
				if err != nil {
					return err
				}
				body, given = fb, true
				if file != "-" {
					baseDir = filepath.Dir(file)
				}
			}
			changed, err := fv.apply(k, inv.flags, body)
			if err != nil {
				return err
			}
			if !given && !changed {
				return usageError{fmt.Errorf("give the fields to set as flags (%s) or the whole body with -f FILE", k.flagList())}
			}
			if update {
				if id, ok := body["id"].(string); !ok || id == "" {
					body["id"] = args[0]
				}
			}
			if err := k.resolveSecrets(body, baseDir, nil); err != nil {
				return usageError{err}
			}
			k.dropServerFields(body)
			raw, err := json.Marshal(body)
			if err != nil {
				return err
			}
			var out json.RawMessage
			if update {
				out, err = inv.client.UpdateJSON(ctx, raw, k.path, args[0])
			} else {
				out, err = inv.client.CreateJSON(ctx, raw, k.path)
			}
			if err != nil {
				return withField(err)
			}
			return k.printOne(inv, out)
		}),
	}
	if update {
		cmd.Use, cmd.Args, cmd.Short = "update ID", oneID, "Change "+k.article()
		cmd.Long = "Change " + k.article() + ": the flags given change their fields and leave the others as they are; -f FILE gives the whole body instead " +
			"(fields it leaves out are cleared)." + secretsNote
		cmd.ValidArgsFunction = o.completeArg(kinds, k.name)
	}
	cmd.Flags().StringVarP(&file, "file", "f", "", "YAML or JSON file of the whole body (- for standard input)")
	fv.register(o, kinds, k, cmd)
	return cmd
}

// flagList names k's field flags for a usage message.
func (k *resourceKind) flagList() string {
	names := make([]string, 0, len(k.fields))
	for _, f := range k.fields {
		names = append(names, "--"+f.flag)
	}
	return strings.Join(names, ", ")
}

// dropServerFields removes what the server manages from a body to send.
func (k *resourceKind) dropServerFields(body map[string]any) {
	for f := range body {
		if k.isServerField(f) {
			delete(body, f)
		}
	}
}

// fieldValues holds the values of a create/update command's field flags
// and secret-file flags.
type fieldValues struct {
	strs    map[string]*string
	bools   map[string]*bool
	ints    map[string]*int
	lists   map[string]*[]string
	secrets map[string]*string // by secret field
}

func (fv *fieldValues) register(o *cliOptions, kinds []*resourceKind, k *resourceKind, cmd *cobra.Command) {
	fv.strs, fv.bools, fv.ints, fv.lists, fv.secrets = map[string]*string{}, map[string]*bool{}, map[string]*int{}, map[string]*[]string{}, map[string]*string{}
	fs := cmd.Flags()
	for _, f := range k.fields {
		switch f.typ {
		case flagString:
			fv.strs[f.flag] = fs.String(f.flag, "", f.usage)
		case flagBool:
			fv.bools[f.flag] = fs.Bool(f.flag, false, f.usage)
		case flagInt:
			fv.ints[f.flag] = fs.Int(f.flag, 0, f.usage)
		default:
			fv.lists[f.flag] = fs.StringArray(f.flag, nil, f.usage)
		}
		if f.ref != "" {
			_ = cmd.RegisterFlagCompletionFunc(f.flag, o.completeIDs(kinds, f.ref))
		}
	}
	for _, s := range allSecretFields(k) {
		flag := strings.ReplaceAll(s, "_", "-") + "-file"
		fv.secrets[s] = fs.String(flag, "", "file holding the config's "+s+" secret (for the types that declare it)")
	}
}

// apply sets, in body, the fields whose flags were given, and reports
// whether any was.
func (fv *fieldValues) apply(k *resourceKind, fs *pflag.FlagSet, body map[string]any) (bool, error) {
	changed := false
	for _, f := range k.fields {
		if !fs.Changed(f.flag) {
			continue
		}
		changed = true
		switch f.typ {
		case flagString:
			body[f.field] = *fv.strs[f.flag]
		case flagBool:
			body[f.field] = *fv.bools[f.flag]
		case flagInt:
			body[f.field] = *fv.ints[f.flag]
		case flagStrings:
			body[f.field] = *fv.lists[f.flag]
		case flagInts:
			var ns []int
			for _, s := range *fv.lists[f.flag] {
				n, err := strconv.Atoi(s)
				if err != nil {
					return false, usageError{fmt.Errorf("--%s %q must be a whole number", f.flag, s)}
				}
				ns = append(ns, n)
			}
			body[f.field] = ns
		case flagMap, flagConfig:
			m, _ := body[f.field].(map[string]any)
			if m == nil {
				m = map[string]any{}
			}
			for _, kv := range *fv.lists[f.flag] {
				key, val, ok := strings.Cut(kv, "=")
				if !ok || key == "" {
					return false, usageError{fmt.Errorf("--%s %q must be key=value", f.flag, kv)}
				}
				if f.typ == flagMap {
					m[key] = val
					continue
				}
				v, err := yamlValue(val)
				if err != nil {
					return false, usageError{fmt.Errorf("--%s %s: %w", f.flag, key, err)}
				}
				m[key] = v
			}
			body[f.field] = m
		}
	}
	for field, path := range fv.secrets {
		flag := strings.ReplaceAll(field, "_", "-") + "-file"
		if !fs.Changed(flag) {
			continue
		}
		changed = true
		typ, _ := body["type"].(string)
		if !slices.Contains(secretFields(k, typ), field) {
			return false, usageError{fmt.Errorf("--%s: %s type %q has no secret %s (its secrets: %s)", flag, k.name, typ, field, dash(join(secretFields(k, typ))))}
		}
		abs, err := filepath.Abs(*path)
		if err != nil {
			return false, usageError{fmt.Errorf("--%s: %w", flag, err)}
		}
		m, _ := body["config"].(map[string]any)
		if m == nil {
			m = map[string]any{}
		}
		delete(m, field)       // the stored secret (********) gives way to the file's
		m[field+"_file"] = abs // read by resolveSecrets
		body["config"] = m
	}
	return changed, nil
}

// yamlValue reads a flag's value as a YAML scalar or flow value.
func yamlValue(s string) (any, error) {
	var n yaml.Node
	if err := yaml.Unmarshal([]byte(s), &n); err != nil {
		return nil, errors.New(strings.TrimPrefix(err.Error(), "yaml: "))
	}
	if n.Kind == 0 {
		return "", nil
	}
	return nodeValue(&n, 0)
}

// maxSecretFile bounds a secret file.
const maxSecretFile = 64 << 10

// readSecretFile reads a secret from path, without its last line break.
func readSecretFile(path string) (string, error) {
	if path == "" {
		return "", errors.New("the file name is empty")
	}
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	buf := make([]byte, maxSecretFile+1)
	n, err := readFull(f, buf)
	if err != nil {
		return "", err
	}
	if n > maxSecretFile {
		return "", fmt.Errorf("%s is larger than %d bytes: not a secret", path, maxSecretFile)
	}
	s := strings.TrimSuffix(strings.TrimSuffix(string(buf[:n]), "\n"), "\r")
	if s == "" {
		return "", fmt.Errorf("%s is empty", path)
	}
	return s, nil
}

func (k *resourceKind) removeCommand(o *cliOptions, kinds []*resourceKind) *cobra.Command {
	short, done := "Delete "+k.article(), "deleted"
	if k.remove == "archive" {
		short, done = "Archive "+k.article(), "archived"
	}
	return &cobra.Command{
		Use:               k.remove + " ID",
		Short:             short,
		Args:              oneID,
		ValidArgsFunction: o.completeArg(kinds, k.name),
		RunE: o.run(func(ctx context.Context, inv *invocation, args []string) error {
			if err := inv.client.DeleteJSON(ctx, k.path, args[0]); err != nil {
				return withField(err)
			}
			return printAction(inv, args[0], done, "%s %s %s", done, k.name, args[0])
		}),
	}
}

func (k *resourceKind) actionCommand(o *cliOptions, kinds []*resourceKind, a action) *cobra.Command {
	return &cobra.Command{
		Use:               a.name + " ID",
		Short:             a.short,
		Args:              oneID,
		ValidArgsFunction: o.completeArg(kinds, k.name),
		RunE: o.run(func(ctx context.Context, inv *invocation, args []string) error {
			st, err := inv.client.ActionJSON(ctx, k.path, args[0], a.path)
			if err != nil {
				return withField(err)
			}
			return printAction(inv, args[0], st.Status, "%s %s: %s", k.name, args[0], st.Status)
		}),
	}
}

// completeIDs completes an argument or flag with the ids of kind name, from
// the API's list (the first 500), each described by its name.
func (o *cliOptions) completeIDs(kinds []*resourceKind, name string) cobra.CompletionFunc {
	return func(cmd *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
		k := kindNamed(kinds, name)
		if k == nil || k.path == "" {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		inv, err := o.invocation(cmd)
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		ctx := cmd.Context()
		if ctx == nil {
			ctx = context.Background()
		}
		ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		l, err := inv.client.ListJSON(ctx, url.Values{"per_page": {"500"}}, k.path)
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		var out []cobra.Completion
		for _, raw := range l.Data {
			var rec struct{ ID, Name string }
			if json.Unmarshal(raw, &rec) != nil || !strings.HasPrefix(rec.ID, toComplete) {
				continue
			}
			out = append(out, cobra.CompletionWithDesc(rec.ID, printable(rec.Name)))
		}
		sort.Strings(out)
		return out, cobra.ShellCompDirectiveNoFileComp
	}
}

// completeArg completes a command's one ID argument (completeIDs), and
// nothing after it.
func (o *cliOptions) completeArg(kinds []*resourceKind, name string) cobra.CompletionFunc {
	ids := o.completeIDs(kinds, name)
	return func(cmd *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
		if len(args) > 0 {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		return ids(cmd, args, toComplete)
	}
}

// withField names, in the error of an API call, the field the server named
// as wrong, as "<status>: field <name>: <message>".
func withField(err error) error {
	var ae *client.APIError
	if !errors.As(err, &ae) || ae.Body.Field == "" {
		return err
	}
	msg := ae.Body.Error + ": field " + ae.Body.Field + ": " + ae.Body.Message
	if ae.Body.RequestID != "" {
		msg += " (request " + ae.Body.RequestID + ")"
	}
	return &cliError{msg: msg, err: err}
}
