package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// yamlOut is the standard output of a command run with -o yaml: printJSON
// writes YAML to it instead of JSON; anything else written passes through.
type yamlOut struct{ w io.Writer }

func (y *yamlOut) Write(p []byte) (int, error) { return y.w.Write(p) }

// printYAML writes v, encoded as JSON first (so the field names and order
// are the API's), as a YAML document.
func printYAML(w io.Writer, v any) error {
	n, err := valueNode(v)
	if err != nil {
		return err
	}
	return writeYAML(w, n)
}

// valueNode is v, encoded as JSON, as a block-style yaml.Node.
func valueNode(v any) (*yaml.Node, error) {
	raw, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return jsonNode(raw)
}

// jsonNode parses JSON (which is YAML) into a yaml.Node keeping the field
// order, in block style: the shape printYAML and export write. raw is
// valid JSON from encoding/json.
func jsonNode(raw []byte) (*yaml.Node, error) {
	var doc yaml.Node
	// Escaped first: YAML reads a raw U+0085 in a quoted scalar as a line
	// break and folds it into a space, where it reads \u0085 as itself.
	if err := yaml.Unmarshal(escapeJSON(raw), &doc); err != nil {
		return nil, fmt.Errorf("converting to YAML: %w", err)
	}
	n := &doc
	if n.Kind == yaml.DocumentNode && len(n.Content) == 1 {
		n = n.Content[0]
	}
	blockStyle(n)
	return n, nil
}

// blockStyle drops the flow and quoting styles JSON gave n, so the encoder
// writes block YAML and quotes only the strings that need it.
func blockStyle(n *yaml.Node) {
	n.Style = 0
	for _, c := range n.Content {
		blockStyle(c)
	}
}

// writeYAML encodes n as one YAML document, indented by two spaces. A
// string holding a character unsafeRune refuses (a terminal control, a
// bidi override, a YAML line break such as U+0085) is written as a
// double-quoted scalar with JSON's escapes, \u for those characters, which
// YAML decodes to the same text: the encoder gets a placeholder for it, so
// it neither writes the character raw nor folds it.
func writeYAML(w io.Writer, n *yaml.Node) error {
	n, escaped, mark := withPlaceholders(n)
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(n); err != nil {
		return err
	}
	if err := enc.Close(); err != nil {
		return err
	}
	out := buf.String()
	for i := len(escaped) - 1; i >= 0; i-- { // the longest placeholders first
		out = strings.ReplaceAll(out, mark+strconv.Itoa(i), escaped[i])
	}
	_, err := io.WriteString(w, out)
	return err
}

// withPlaceholders returns a copy of n whose strings holding a character
// unsafeRune refuses are placeholders (mark and a number), the
// JSON-escaped strings they stand for, by number, and mark: text found in
// no value of n.
func withPlaceholders(n *yaml.Node) (out *yaml.Node, escaped []string, mark string) {
	mark = "certctl-escaped-"
	var holds func(*yaml.Node) bool
	holds = func(n *yaml.Node) bool {
		return strings.Contains(n.Value, mark) || slices.ContainsFunc(n.Content, holds)
	}
	for holds(n) {
		mark += "x"
	}
	var walk func(*yaml.Node) *yaml.Node
	walk = func(n *yaml.Node) *yaml.Node {
		c := *n
		if c.Kind == yaml.ScalarNode && c.Tag == "!!str" && strings.ContainsFunc(c.Value, unsafeRune) {
			raw, _ := json.Marshal(c.Value) // a string always encodes
			escaped = append(escaped, string(escapeJSON(raw)))
			c.Value, c.Style = mark+strconv.Itoa(len(escaped)-1), 0
			return &c
		}
		if len(n.Content) > 0 {
			c.Content = make([]*yaml.Node, len(n.Content))
			for i, child := range n.Content {
				c.Content[i] = walk(child)
			}
		}
		return &c
	}
	return walk(n), escaped, mark
}

// nodeValue converts a parsed YAML node to the value encoding/json writes
// for it: maps with string keys, slices, strings, numbers, booleans and nil.
// A key that is not a string, an alias cycle or a value JSON cannot hold is
// an error naming the node's line.
func nodeValue(n *yaml.Node, depth int) (any, error) {
	budget := maxYAMLValues
	return nodeValueWithin(n, depth, &budget)
}

// maxYAMLValues bounds the values one document expands to: aliases may
// repeat a mapping many times over ("billion laughs").
const maxYAMLValues = 1 << 20

func nodeValueWithin(n *yaml.Node, depth int, budget *int) (any, error) {
	if depth > 64 {
		return nil, lineError{n.Line, "nested too deeply"}
	}
	if *budget--; *budget < 0 {
		return nil, lineError{n.Line, "the document expands to more than " + strconv.Itoa(maxYAMLValues) + " values (through aliases?)"}
	}
	switch n.Kind {
	case yaml.DocumentNode:
		if len(n.Content) == 0 {
			return nil, nil
		}
		return nodeValueWithin(n.Content[0], depth+1, budget)
	case yaml.AliasNode:
		return nodeValueWithin(n.Alias, depth+1, budget)
	case yaml.MappingNode:
		m := make(map[string]any, len(n.Content)/2)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if k.Kind != yaml.ScalarNode || k.Tag == "!!merge" {
				return nil, lineError{k.Line, "a key must be a plain name"}
			}
			if _, dup := m[k.Value]; dup {
				return nil, lineError{k.Line, strconv.Quote(k.Value) + " is given twice"}
			}
			val, err := nodeValueWithin(v, depth+1, budget)
			if err != nil {
				return nil, err
			}
			m[k.Value] = val
		}
		return m, nil
	case yaml.SequenceNode:
		l := make([]any, 0, len(n.Content))
		for _, c := range n.Content {
			val, err := nodeValueWithin(c, depth+1, budget)
			if err != nil {
				return nil, err
			}
			l = append(l, val)
		}
		return l, nil
	case yaml.ScalarNode:
		switch n.ShortTag() {
		case "!!str", "!!timestamp", "!!binary":
			return n.Value, nil
		case "!!null":
			return nil, nil
		case "!!bool":
			var b bool
			if err := n.Decode(&b); err != nil {
				return nil, lineError{n.Line, err.Error()}
			}
			return b, nil
		case "!!int", "!!float":
			var v any
			if err := n.Decode(&v); err != nil {
				return nil, lineError{n.Line, err.Error()}
			}
			switch x := v.(type) {
			case int:
				return json.Number(strconv.Itoa(x)), nil
			case float64:
				if math.IsNaN(x) || math.IsInf(x, 0) {
					return nil, lineError{n.Line, strconv.Quote(n.Value) + " is not a number JSON can hold"}
				}
				return json.Number(strconv.FormatFloat(x, 'g', -1, 64)), nil
			}
			return nil, lineError{n.Line, strconv.Quote(n.Value) + " is not a number JSON can hold"}
		}
		return n.Value, nil
	}
	return nil, lineError{n.Line, "unexpected YAML node"}
}

// lineError is a problem at a line of a YAML document.
type lineError struct {
	line int
	msg  string
}

func (e lineError) Error() string { return "line " + strconv.Itoa(e.line) + ": " + e.msg }

// readBody reads a resource's body from path ("-": stdin), YAML or JSON, as
// a JSON object; errors name the file and the line.
func readBody(path string, stdin io.Reader) (map[string]any, error) {
	var (
		raw []byte
		err error
	)
	if path == "-" {
		raw, err = io.ReadAll(io.LimitReader(stdin, maxInventoryFile))
	} else {
		raw, err = readLimited(path)
	}
	if err != nil {
		return nil, usageError{fmt.Errorf("-f: %w", err)}
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		return nil, usageError{fmt.Errorf("-f %s: %s", path, strings.TrimPrefix(err.Error(), "yaml: "))}
	}
	v, err := nodeValue(&doc, 0)
	if err != nil {
		return nil, usageError{fmt.Errorf("-f %s: %w", path, err)}
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, usageError{fmt.Errorf("-f %s: the file must hold one object (field: value lines, or JSON {...})", path)}
	}
	return m, nil
}
