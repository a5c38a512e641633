package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/certctl/certctl/api/client"
)

// An inventory is a set of YAML files of documents, each a resource of the
// API: its kind, its id and its fields as the API names them. apply makes
// the cluster match it, diff shows how they differ, export writes one.

// document is one resource of an inventory file.
type document struct {
	file  string
	index int // from 1, in its file
	kind  *resourceKind
	id    string
	body  map[string]any // the fields given, secrets read from their files
	root  *yaml.Node     // the document's mapping, for the lines of its fields
	// fromFiles are the config fields whose values were read from files:
	// sent, never compared (the API never shows a stored secret).
	fromFiles []string
}

func (d *document) where(path ...string) string {
	return fmt.Sprintf("%s: document %d: line %d", d.file, d.index, lineOf(d.root, path))
}

// inventoryError is every problem found in an inventory, each naming the
// file, the document and the line.
type inventoryError struct{ problems []string }

// Error lists the problems one a line, each escaped (printable): they quote
// the files, whose text could otherwise rewrite the terminal.
func (e *inventoryError) Error() string {
	lines := make([]string, len(e.problems))
	for i, p := range e.problems {
		lines[i] = printable(p)
	}
	msg := strings.Join(lines, "\n")
	if len(e.problems) > 1 {
		msg = strconv.Itoa(len(e.problems)) + " problems, nothing applied:\n" + msg
	} else {
		msg += " (nothing applied)"
	}
	return msg
}

// lineOf is the line of the field at path in a mapping, or of the deepest
// part found, or of the mapping.
func lineOf(n *yaml.Node, path []string) int {
	line := n.Line
	for _, p := range path {
		if n.Kind != yaml.MappingNode {
			break
		}
		found := false
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == p {
				line, n, found = n.Content[i].Line, n.Content[i+1], true
				break
			}
		}
		if !found {
			break
		}
	}
	return line
}

// inventoryFiles expands the -f arguments: a file as it is, a directory's
// .yaml, .yml and .json files (recursively), in name order; dirs are the
// directories given and those of the files given.
func inventoryFiles(args []string) (files, dirs []string, err error) {
	for _, a := range args {
		info, err := os.Stat(a)
		if err != nil {
			return nil, nil, err
		}
		if !info.IsDir() {
			files, dirs = append(files, a), append(dirs, filepath.Dir(a))
			continue
		}
		dirs = append(dirs, a)
		var found []string
		err = filepath.WalkDir(a, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			switch strings.ToLower(filepath.Ext(p)) {
			case ".yaml", ".yml", ".json":
				if !d.IsDir() {
					found = append(found, p)
				}
			}
			return nil
		})
		if err != nil {
			return nil, nil, err
		}
		if len(found) == 0 {
			return nil, nil, fmt.Errorf("%s holds no .yaml, .yml or .json file", a)
		}
		sort.Strings(found)
		files = append(files, found...)
	}
	return files, dirs, nil
}

var yamlLine = regexp.MustCompile(`line (\d+)`)

// yamlParserProblems are the messages of yaml.v3's parser (not its
// scanner), whose line it reports counted from 0 where the scanner's are
// counted from 1.
var yamlParserProblems = []string{
	"did not find expected ',' or ']'", "did not find expected ',' or '}'", "did not find expected '-' indicator",
	"did not find expected <document start>", "did not find expected key", "did not find expected node content",
	"found duplicate %TAG directive", "found duplicate %YAML directive", "found incompatible YAML document", "found undefined tag handle",
}

// parseInventory reads every document of files and checks each on its own:
// a known kind, an id, known fields of the right types, no secret given as
// a value. Every problem is collected; any is an *inventoryError.
// Secret files must be inside one of the directories secretDirs.
func parseInventory(kinds []*resourceKind, files, secretDirs []string) ([]*document, error) {
	var (
		docs     []*document
		problems []string
		seen     = map[string]*document{}
	)
	for _, file := range files {
		raw, err := readLimited(file)
		if err != nil {
			problems = append(problems, err.Error())
			continue
		}
		dec := yaml.NewDecoder(bytes.NewReader(raw))
		for index := 1; ; index++ {
			var n yaml.Node
			err := dec.Decode(&n)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				line := "?"
				msg := yamlLine.ReplaceAllString(strings.TrimPrefix(err.Error(), "yaml: "), "")
				msg = strings.TrimLeft(msg, ": ")
				if m := yamlLine.FindStringSubmatch(err.Error()); m != nil {
					n, _ := strconv.Atoi(m[1])
					if slices.Contains(yamlParserProblems, msg) {
						n++ // yaml.v3 counts a parser error's line from 0
					}
					line = strconv.Itoa(n)
				}
				problems = append(problems, fmt.Sprintf("%s: document %d: line %s: YAML syntax: %s", file, index, line, msg))
				break // the rest of the file cannot be read
			}
			if len(n.Content) == 0 || n.Content[0].ShortTag() == "!!null" {
				continue // an empty document
			}
			d, errs := parseDocument(kinds, file, index, n.Content[0], secretDirs)
			problems = append(problems, errs...)
			if d == nil {
				continue
			}
			key := d.kind.name + "/" + d.id
			if first, dup := seen[key]; dup {
				problems = append(problems, fmt.Sprintf("%s: %s %s is given twice: first at %s", d.where("id"), d.kind.kind, d.id, first.where("id")))
				continue
			}
			seen[key] = d
			docs = append(docs, d)
		}
	}
	if len(problems) > 0 {
		return nil, &inventoryError{problems}
	}
	return docs, nil
}

// parseDocument checks one document; it returns nil and the problems when
// it cannot be used.
func parseDocument(kinds []*resourceKind, file string, index int, root *yaml.Node, secretDirs []string) (*document, []string) {
	d := &document{file: file, index: index, root: root}
	if root.Kind != yaml.MappingNode {
		return nil, []string{d.where() + ": a document must be a resource's fields (kind: Team, id: t-web, name: ...)"}
	}
	v, err := nodeValue(root, 0)
	if err != nil {
		var le lineError
		if errors.As(err, &le) {
			return nil, []string{fmt.Sprintf("%s: document %d: %s", file, index, le.Error())}
		}
		return nil, []string{d.where() + ": " + err.Error()}
	}
	body := v.(map[string]any)
	kindName, _ := body["kind"].(string)
	if kindName == "" {
		return nil, []string{d.where() + ": no kind: give kind: " + inventoryKindList(kinds)}
	}
	k := kindNamed(kinds, kindName)
	if k == nil || !k.inventory {
		return nil, []string{fmt.Sprintf("%s: unknown kind %q: one of %s", d.where("kind"), kindName, inventoryKindList(kinds))}
	}
	d.kind = k
	delete(body, "kind")
	var problems []string
	known := k.fieldNames()
	for _, key := range sortedKeys(body) {
		switch {
		case !slices.Contains(known, key):
			problems = append(problems, fmt.Sprintf("%s: unknown field %q for %s (its fields: %s)", d.where(key), key, k.kind, strings.Join(k.settableFields(), ", ")))
		case k.isServerField(key):
			problems = append(problems, fmt.Sprintf("%s: field %q of %s is set by the server: leave it out", d.where(key), key, k.kind))
		}
	}
	if len(problems) > 0 {
		return nil, problems
	}
	d.id, _ = body["id"].(string)
	if d.id == "" {
		return nil, []string{fmt.Sprintf("%s: no id: give the id %s has, or will have, in the cluster (such as %sweb)", d.where(), k.kind, k.idPrefix)}
	}
	// The fields' types, as the API's decoder would see them.
	raw, err := json.Marshal(body)
	if err != nil {
		return nil, []string{d.where() + ": " + err.Error()}
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	if err := dec.Decode(reflect.New(reflect.TypeOf(k.wire)).Interface()); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			path := strings.Split(te.Field, ".")
			return nil, []string{fmt.Sprintf("%s: field %s must be %s, not %s", d.where(path...), te.Field, jsonTypeName(te.Type), te.Value)}
		}
		return nil, []string{d.where() + ": " + err.Error()}
	}
	before := configKeys(body)
	if err := k.resolveSecrets(body, filepath.Dir(file), secretDirs); err != nil {
		var fe *fieldError
		if errors.As(err, &fe) {
			return nil, []string{d.where(fe.path...) + ": field " + fe.Error()}
		}
		return nil, []string{d.where() + ": " + err.Error()}
	}
	for _, key := range before {
		if base, ok := strings.CutSuffix(key, "_file"); ok && !slices.Contains(configKeys(body), key) {
			d.fromFiles = append(d.fromFiles, base)
		}
	}
	d.body = normalize(body)
	return d, nil
}

func configKeys(body map[string]any) []string {
	c, _ := body["config"].(map[string]any)
	return sortedKeys(c)
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// jsonTypeName says what a Go type is in JSON terms.
func jsonTypeName(t reflect.Type) string {
	switch t.Kind() {
	case reflect.String:
		return "text"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int64, reflect.Int32, reflect.Uint, reflect.Uint64, reflect.Float64:
		return "a number"
	case reflect.Slice:
		return "a list"
	case reflect.Map, reflect.Struct:
		return "a mapping"
	}
	return t.String()
}

// settableFields are the fields of k an inventory may give.
func (k *resourceKind) settableFields() []string {
	var out []string
	for _, f := range k.fieldNames() {
		if !k.isServerField(f) {
			out = append(out, f)
		}
	}
	return out
}

func inventoryKindList(kinds []*resourceKind) string {
	var names []string
	for _, k := range kinds {
		if k.inventory {
			names = append(names, k.kind)
		}
	}
	return strings.Join(names, ", ")
}

// normalize returns v as encoding/json decodes it (numbers as float64).
func normalize(v map[string]any) map[string]any {
	raw, _ := json.Marshal(v) // made of JSON values: it encodes
	var out map[string]any
	_ = json.Unmarshal(raw, &out)
	return out
}

// cluster is the cluster's records of the kinds an inventory touches or
// names, by kind name and id, as the API serves them.
type cluster map[string]map[string]map[string]any

// readCluster lists every record of kinds.
func readCluster(ctx context.Context, c *client.Client, kinds []*resourceKind) (cluster, error) {
	state := cluster{}
	for _, k := range kinds {
		if _, done := state[k.name]; done || k.path == "" {
			continue
		}
		l, err := listAll(ctx, c, nil, k.path)
		if err != nil {
			return nil, fmt.Errorf("listing %s: %w", k.plural, err)
		}
		recs := map[string]map[string]any{}
		for _, raw := range l.Data {
			obj, err := decodeObject(raw)
			if err != nil {
				return nil, err
			}
			id, _ := obj["id"].(string)
			recs[id] = obj
		}
		state[k.name] = recs
	}
	return state, nil
}

// checkReferences reports each field naming a resource that neither the
// inventory nor the cluster holds.
func checkReferences(kinds []*resourceKind, docs []*document, state cluster) error {
	given := map[string]bool{}
	for _, d := range docs {
		given[d.kind.name+"/"+d.id] = true
	}
	var problems []string
	for _, d := range docs {
		if cur := state[d.kind.name][d.id]; cur != nil && d.kind.skipExport != nil && d.kind.skipExport(cur) {
			problems = append(problems, fmt.Sprintf("%s: %s %s is archived in the cluster and cannot change: give the resource another id", d.where("id"), d.kind.kind, d.id))
		}
		for _, r := range d.kind.refs {
			var ids []string
			switch v := d.body[r.field].(type) {
			case string:
				ids = []string{v}
			case []any:
				for _, e := range v {
					if s, ok := e.(string); ok {
						ids = append(ids, s)
					}
				}
			}
			target := kindNamed(kinds, r.kind)
			if target == nil {
				continue
			}
			for _, id := range ids {
				if id == "" || given[target.name+"/"+id] || state[target.name][id] != nil {
					continue
				}
				where := "the files or the cluster"
				if !target.inventory {
					where = "the cluster"
				}
				problems = append(problems, fmt.Sprintf("%s: %s %q: no %s %s in %s", d.where(r.field), r.field, id, target.kind, id, where))
			}
		}
	}
	if len(problems) > 0 {
		return &inventoryError{problems}
	}
	return nil
}

// change is one field that differs: its path and both values (absent: nil
// and the flag).
type change struct {
	path           string
	from, to       any
	fromSet, toSet bool
}

// step is what apply does to one resource.
type step struct {
	op      string // "create", "update", "delete", "archive"
	kind    *resourceKind
	id      string
	body    map[string]any // to send (create, update)
	changes []change
}

// plan compares the inventory with the cluster: the creates and updates, in
// dependency order, then with prune the removals of what the files no
// longer name, of the kinds they hold, in the reverse order. unchanged
// counts the resources that already match.
func plan(kinds []*resourceKind, docs []*document, state cluster, prune bool) (steps []step, unchanged int) {
	order := func(k *resourceKind) int { return slices.Index(kinds, k) }
	sorted := slices.Clone(docs)
	slices.SortStableFunc(sorted, func(a, b *document) int { return order(a.kind) - order(b.kind) })
	for _, d := range sorted {
		cur := state[d.kind.name][d.id]
		if cur == nil {
			steps = append(steps, step{op: "create", kind: d.kind, id: d.id, body: d.body, changes: fieldChanges("", nil, d.body, d.fromFiles)})
			continue
		}
		desired, current := d.kind.desired(d, cur)
		ch := fieldChanges("", current, desired, d.fromFiles)
		if len(ch) == 0 {
			unchanged++
			continue
		}
		steps = append(steps, step{op: "update", kind: d.kind, id: d.id, body: desired, changes: ch})
	}
	if !prune {
		return steps, unchanged
	}
	named := map[string]bool{}
	inFiles := map[*resourceKind]bool{}
	for _, d := range docs {
		named[d.kind.name+"/"+d.id] = true
		inFiles[d.kind] = true
	}
	for i := len(kinds) - 1; i >= 0; i-- {
		k := kinds[i]
		if !inFiles[k] {
			continue
		}
		for _, id := range sortedKeys(state[k.name]) {
			if named[k.name+"/"+id] || (k.skipExport != nil && k.skipExport(state[k.name][id])) {
				continue
			}
			steps = append(steps, step{op: k.remove, kind: k, id: id})
		}
	}
	return steps, unchanged
}

// desired is the record apply sends for d over the cluster's cur, and cur
// as it compares: the cluster's settable fields with the file's over them
// (a field the file leaves out keeps its value), a stored secret the file
// does not give kept (sent back as the redaction marker).
func (k *resourceKind) desired(d *document, cur map[string]any) (desired, current map[string]any) {
	current = map[string]any{}
	for f, v := range cur {
		if !k.isServerField(f) {
			current[f] = v
		}
	}
	desired = map[string]any{}
	for f, v := range current {
		desired[f] = v
	}
	for f, v := range d.body {
		desired[f] = v
	}
	if k.secrets == "" {
		return desired, current
	}
	curConfig, _ := current["config"].(map[string]any)
	newConfig, _ := desired["config"].(map[string]any)
	if newConfig == nil || curConfig == nil {
		return desired, current
	}
	typ, _ := desired["type"].(string)
	for _, s := range secretFields(k, typ) {
		for key, v := range curConfig {
			if strings.EqualFold(key, s) && v == redacted {
				if _, given := newConfig[key]; !given {
					newConfig[key] = redacted
				}
			}
		}
	}
	return desired, current
}

// enumFields are compared without regard to case, as the API reads them.
var enumFields = []string{"type", "severity", "key_type", "key_generation", "channel"}

// fieldChanges lists the fields where to differs from from, objects
// compared field by field (config.max_days), lists and values whole. The
// config fields in secret are compared only as set or not.
func fieldChanges(prefix string, from, to map[string]any, secret []string) []change {
	var out []change
	keys := sortedKeys(to)
	for _, k := range sortedKeys(from) {
		if _, ok := to[k]; !ok {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	for _, key := range keys {
		path := prefix + key
		f, fromSet := from[key]
		t, toSet := to[key]
		fm, fIsMap := f.(map[string]any)
		tm, tIsMap := t.(map[string]any)
		if fIsMap && tIsMap || (from == nil && tIsMap) {
			var sec []string
			if path == "config" {
				sec = secret
			}
			out = append(out, fieldChanges(path+".", fm, tm, sec)...)
			continue
		}
		if prefix == "config." && slices.Contains(secret, key) {
			if fs, _ := f.(string); fs != "" {
				continue // stored: the file's value is sent, never compared
			}
			out = append(out, change{path: path, fromSet: fromSet, from: f, toSet: true, to: "(from file)"})
			continue
		}
		if sameValue(key, f, t) && fromSet == toSet {
			continue
		}
		if !toSet && f == nil {
			continue
		}
		out = append(out, change{path: path, from: f, to: t, fromSet: fromSet, toSet: toSet})
	}
	return out
}

// sameValue compares two JSON values; an enum field's text without regard
// to case; an absent or null list as an empty one.
func sameValue(field string, a, b any) bool {
	if as, ok := a.(string); ok && slices.Contains(enumFields, field) {
		bs, _ := b.(string)
		return strings.EqualFold(as, bs)
	}
	if isEmptyList(a) && isEmptyList(b) {
		return true
	}
	return reflect.DeepEqual(a, b)
}

func isEmptyList(v any) bool {
	if v == nil {
		return true
	}
	l, ok := v.([]any)
	return ok && len(l) == 0
}

// valueText is a value as diff shows it: compact JSON, (absent) when unset.
func valueText(v any, set bool) string {
	if !set {
		return "(absent)"
	}
	if s, ok := v.(string); ok && s == "(from file)" {
		return s
	}
	raw, _ := json.Marshal(v)
	return printable(string(raw))
}
