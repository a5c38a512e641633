package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"
	"unicode/utf8"
)

// printJSON writes v as indented JSON, the -o json output of every command,
// or as YAML (printYAML) when w is the *yamlOut of -o yaml.
// encoding/json escapes C0 controls, U+2028 and U+2029; the other characters
// printable escapes (DEL, C1 controls, bidi controls, the BOM) are escaped
// here as \uXXXX, which decodes to the same value.
func printJSON(w io.Writer, v any) error {
	if y, ok := w.(*yamlOut); ok {
		return printYAML(y.w, v)
	}
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "%s\n", escapeJSON(b))
	return err
}

// escapeJSON escapes, in b, what printable would and encoding/json did not.
// b is valid JSON from encoding/json, so valid UTF-8 whose only raw C0
// characters are its own line breaks, and in which the others can only be
// inside strings.
func escapeJSON(b []byte) []byte {
	unescaped := func(r rune) bool { return r >= 0x20 && unsafeRune(r) }
	if !bytes.ContainsFunc(b, unescaped) {
		return b
	}
	var out bytes.Buffer
	for _, r := range string(b) {
		if unescaped(r) {
			fmt.Fprintf(&out, "\\u%04x", r)
			continue
		}
		out.WriteRune(r)
	}
	return out.Bytes()
}

// unsafeRune reports whether r, printed raw to a terminal, could move the
// cursor, start an escape sequence, end a line or draw the text around it
// in another order: C0 and C1 controls, DEL, bidi controls (marks,
// embeddings, overrides, isolates), the BOM, and the line and paragraph
// separators. A name from the server (an agent's hostname, say) is its
// sender's text: one holding these could pass for another row.
func unsafeRune(r rune) bool {
	return unicode.IsControl(r) || unicode.Is(unicode.Bidi_Control, r) ||
		r == '\ufeff' || r == '\u2028' || r == '\u2029'
}

// printable escapes what unsafeRune refuses: \t, \n and \r by name, other
// ASCII controls as \xNN, the rest as \uNNNN, invalid UTF-8 bytes as \xNN.
// Everything else, any script included, is printed as it is.
func printable(s string) string {
	if utf8.ValidString(s) && !strings.ContainsFunc(s, unsafeRune) {
		return s
	}
	var out strings.Builder
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			fmt.Fprintf(&out, "\\x%02x", s[i])
		case r == '\t':
			out.WriteString("\\t")
		case r == '\n':
			out.WriteString("\\n")
		case r == '\r':
			out.WriteString("\\r")
		case unsafeRune(r) && r < 0x80:
			fmt.Fprintf(&out, "\\x%02x", r)
		case unsafeRune(r):
			fmt.Fprintf(&out, "\\u%04x", r)
		default:
			out.WriteRune(r)
		}
		i += size
	}
	return out.String()
}

// table writes aligned columns; call row per line, then flush.
type table struct{ tw *tabwriter.Writer }

func newTable(w io.Writer, header ...string) *table {
	t := &table{tw: tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)}
	t.row(header...)
	return t
}

// row writes one line; each cell is escaped (printable), so no value can
// break the columns or rewrite the screen.
func (t *table) row(cells ...string) {
	for i, c := range cells {
		cells[i] = printable(dash(c))
	}
	fmt.Fprintln(t.tw, strings.Join(cells, "\t"))
}

func (t *table) flush() error { return t.tw.Flush() }

// printFields writes one resource as "Label:  value" lines.
func printFields(w io.Writer, fields [][2]string) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, f := range fields {
		fmt.Fprintf(tw, "%s:\t%s\n", printable(f[0]), printable(dash(f[1])))
	}
	return tw.Flush()
}

// printPage notes on errOut that a list has more pages than the one shown.
func printPage(errOut io.Writer, shown, total, page, perPage int, noun string) {
	if perPage <= 0 || total <= shown && page <= 1 {
		return
	}
	pages := (total + perPage - 1) / perPage
	fmt.Fprintf(errOut, "page %d of %d (%d %s in all); use --page and --per-page for more\n", page, pages, total, noun)
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// when formats t as a UTC date and time; nil or zero is "".
func when(t *time.Time) string {
	if t == nil || t.IsZero() {
		return ""
	}
	return t.UTC().Format("2006-01-02 15:04")
}

// expires formats an expiry as its UTC date and the whole days left from now,
// or how long ago it expired.
func expires(t *time.Time, now time.Time) string {
	if t == nil || t.IsZero() {
		return ""
	}
	date := t.UTC().Format("2006-01-02")
	left := t.Sub(now)
	days := int(math.Floor(left.Hours() / 24))
	switch {
	case left < 0:
		return date + " (expired " + strconv.Itoa(int(math.Ceil(-left.Hours()/24))) + "d ago)"
	case days == 0:
		return date + " (today)"
	default:
		return date + " (" + strconv.Itoa(days) + "d left)"
	}
}

// ago formats how long before now t was: "40s ago", "5m ago", "3h ago", "2d ago".
func ago(t *time.Time, now time.Time) string {
	if t == nil || t.IsZero() {
		return ""
	}
	d := now.Sub(*t)
	switch {
	case d < 0:
		return when(t)
	case d < time.Minute:
		return strconv.Itoa(int(d.Seconds())) + "s ago"
	case d < time.Hour:
		return strconv.Itoa(int(d.Minutes())) + "m ago"
	case d < 48*time.Hour:
		return strconv.Itoa(int(d.Hours())) + "h ago"
	default:
		return strconv.Itoa(int(d.Hours()/24)) + "d ago"
	}
}

func join(list []string) string { return strings.Join(list, ", ") }

// tagList formats tags as sorted k=v pairs.
func tagList(tags map[string]string) string {
	keys := make([]string, 0, len(tags))
	for k := range tags {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for i, k := range keys {
		keys[i] = k + "=" + tags[k]
	}
	return join(keys)
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// parseWhen reads a time flag: RFC 3339, a date (midnight UTC), or an offset
// from now such as 30d, 12h or -7d.
func parseWhen(flag, v string, now time.Time) (*time.Time, error) {
	if v == "" {
		return nil, nil
	}
	if t, err := time.Parse(time.RFC3339, v); err == nil {
		return &t, nil
	}
	if t, err := time.Parse("2006-01-02", v); err == nil {
		return &t, nil
	}
	if d, ok := parseOffset(v); ok {
		t := now.Add(d)
		return &t, nil
	}
	return nil, usageError{fmt.Errorf("--%s %q is not a time: give RFC 3339 (2026-01-02T15:04:05Z), a date (2026-01-02) or an offset from now (30d, 12h, -7d)", flag, v)}
}

// parseOffset reads a Go duration or a whole number of days ("30d", "-7d").
func parseOffset(v string) (time.Duration, bool) {
	if n, ok := strings.CutSuffix(v, "d"); ok {
		days, err := strconv.Atoi(n)
		if err != nil {
			return 0, false
		}
		return time.Duration(days) * 24 * time.Hour, true
	}
	d, err := time.ParseDuration(v)
	return d, err == nil
}
