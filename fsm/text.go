package fsm

import (
	"fmt"
	"sort"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Names, hostnames and tags are shown in tables, terminals and the
// dashboard, next to other records' names. The characters below let one pass
// for another there: a C0 or C1 control (CR rewrites the line, ESC starts a
// terminal sequence), DEL, a bidi embedding, override or isolate (the text
// after it is drawn reversed) and the BOM (invisible). Names refuse every one
// of them; prose (a team's description) keeps tab and line feed.
//
// These rules are the proposer's: NewCommand applies them through CheckText,
// Apply does not (see DESIGN.md), so an entry an older version proposed
// replays the same on every node and records stored before are kept as they
// are; a write that carries such a name again must remove the character.

// ValidNameChars checks that s, a name, hostname or tag, holds none of the
// characters above and is valid UTF-8. The error names field, the character
// and its byte offset.
func ValidNameChars(field, s string) error { return textChars(field, field, s, false) }

// ValidProseChars is ValidNameChars for free text: tab and line feed are
// allowed, carriage return is not.
func ValidProseChars(field, s string) error { return textChars(field, field, s, true) }

// textChars checks s for the characters above; what is how the error names
// it ("name", `tags key "env"`), field the *Error's Field.
func textChars(field, what, s string, prose bool) error {
	for i, r := range s {
		if r == utf8.RuneError {
			if _, size := utf8.DecodeRuneInString(s[i:]); size == 1 {
				return invalidf(field, "%s is not valid UTF-8 (byte %d)", what, i)
			}
		}
		if prose && (r == '\t' || r == '\n') {
			continue
		}
		if name, refused := refusedRune(r); refused {
			return invalidf(field, "%s contains U+%04X (%s) at byte %d; remove it", what, r, name, i)
		}
	}
	return nil
}

// refusedRune reports whether names refuse r, with its Unicode name (or
// alias) for the error.
func refusedRune(r rune) (string, bool) {
	switch r {
	case 0x00:
		return "NULL", true
	case 0x07:
		return "BELL", true
	case 0x08:
		return "BACKSPACE", true
	case 0x09:
		return "CHARACTER TABULATION", true
	case 0x0a:
		return "LINE FEED", true
	case 0x0b:
		return "LINE TABULATION", true
	case 0x0c:
		return "FORM FEED", true
	case 0x0d:
		return "CARRIAGE RETURN", true
	case 0x1b:
		return "ESCAPE", true
	case 0x7f:
		return "DELETE", true
	case 0x85:
		return "NEXT LINE", true
	case 0x9b:
		return "CONTROL SEQUENCE INTRODUCER", true
	case 0x202a:
		return "LEFT-TO-RIGHT EMBEDDING", true
	case 0x202b:
		return "RIGHT-TO-LEFT EMBEDDING", true
	case 0x202c:
		return "POP DIRECTIONAL FORMATTING", true
	case 0x202d:
		return "LEFT-TO-RIGHT OVERRIDE", true
	case 0x202e:
		return "RIGHT-TO-LEFT OVERRIDE", true
	case 0x2066:
		return "LEFT-TO-RIGHT ISOLATE", true
	case 0x2067:
		return "RIGHT-TO-LEFT ISOLATE", true
	case 0x2068:
		return "FIRST STRONG ISOLATE", true
	case 0x2069:
		return "POP DIRECTIONAL ISOLATE", true
	case 0xfeff:
		return "BYTE ORDER MARK", true
	}
	switch {
	case r < 0x20:
		return "C0 CONTROL", true
	case r >= 0x80 && r <= 0x9f:
		return "C1 CONTROL", true
	}
	return "", false
}

// textChecker is a payload that carries names, hostnames, tags or prose.
type textChecker interface {
	checkText() error
}

// CheckText applies the character rules of names, hostnames, tags and prose
// to the fields of p that hold them (nil for a payload with none).
// NewCommand calls it after Validate; Apply never does. A node that accepts
// a command built elsewhere (a forwarded write) may call it too.
func CheckText(p Payload) error {
	if c, ok := p.(textChecker); ok {
		return c.checkText()
	}
	return nil
}

// nameFields checks pairs of field and value with ValidNameChars, in order.
func nameFields(pairs ...string) error {
	for i := 0; i+1 < len(pairs); i += 2 {
		if err := ValidNameChars(pairs[i], pairs[i+1]); err != nil {
			return err
		}
	}
	return nil
}

// tagChars checks a certificate's tags, keys in order so the first error is
// always the same.
func tagChars(tags map[string]string) error {
	keys := make([]string, 0, len(tags))
	for k := range tags {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if err := textChars("tags", fmt.Sprintf("tags key %q", k), k, false); err != nil {
			return err
		}
		if err := textChars("tags", fmt.Sprintf("tags[%q]", k), tags[k], false); err != nil {
			return err
		}
	}
	return nil
}

// CleanText makes s a valid text of at most limit bytes for a free-text
// field such as a job's error or a certificate's status reason: control
// characters but tab and line feed become spaces, invalid UTF-8 too, and a
// long text is cut at a rune boundary with an ellipsis. Proposers use it on
// what outside systems say (an issuer's or an agent's error).
func CleanText(s string, limit int) string {
	s = strings.Map(func(r rune) rune {
		if r != '\n' && r != '\t' && (unicode.IsControl(r) || r == unicode.ReplacementChar) {
			return ' '
		}
		return r
	}, strings.ToValidUTF8(s, " "))
	if len(s) <= limit {
		return s
	}
	cut := limit - len("…")
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}
