package fsm

import (
	"encoding/json"
	"strings"
	"unicode/utf8"
)

// Limits on stored strings; the API enforces the same before proposing.
const (
	MaxIDLength   = 128
	MaxNameLength = 255
	MaxTextLength = 64 << 10
)

// ValidID checks an id: 1..128 characters of letters, digits, '.', '_' and
// '-', not starting with '.' and without "..", so an id is always safe as a
// path segment and a key.
func ValidID(field, id string) error {
	if id == "" {
		return invalidf(field, "%s is required", field)
	}
	if len(id) > MaxIDLength {
		return invalidf(field, "%s is %d characters long; at most %d are allowed", field, len(id), MaxIDLength)
	}
	if id[0] == '.' || strings.Contains(id, "..") {
		return invalidf(field, "%s %q must not start with '.' or contain '..'", field, id)
	}
	for _, r := range id {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.') {
			return invalidf(field, "%s %q may contain only letters, digits, '-', '_' and '.'", field, id)
		}
	}
	return nil
}

// optionalID is ValidID for a reference that may be empty.
func optionalID(field, id string) error {
	if id == "" {
		return nil
	}
	return ValidID(field, id)
}

// ValidText checks a free-text field: valid UTF-8, no NUL or other control
// characters but tab and newline, at most max bytes; required if req.
func ValidText(field, s string, max int, req bool) error {
	if s == "" {
		if req {
			return invalidf(field, "%s is required", field)
		}
		return nil
	}
	if len(s) > max {
		return invalidf(field, "%s is %d bytes long; at most %d are allowed", field, len(s), max)
	}
	if !utf8.ValidString(s) {
		return invalidf(field, "%s is not valid UTF-8", field)
	}
	for i, r := range s {
		if r < 0x20 && r != '\t' && r != '\n' && r != '\r' || r == 0x7f {
			name, _ := refusedRune(r)
			return invalidf(field, "%s contains U+%04X (%s) at byte %d; remove it", field, r, name, i)
		}
	}
	return nil
}

func validName(field, s string) error { return ValidText(field, s, MaxNameLength, true) }

// validEnum checks s against e and returns its canonical spelling.
func validEnum[T ~string](field string, s T, e Enum[T], req bool) (T, error) {
	if s == "" && !req {
		return "", nil
	}
	c, ok := e.Canonical(string(s))
	if !ok {
		return "", invalidf(field, "%s %q is not one of %s", field, s, strings.Join(e.Strings(), ", "))
	}
	return c, nil
}

// validObject checks that raw is empty or a JSON object.
// validClearedSecrets checks the fields an update says it cleared: names,
// each holding nothing (absent, null or "") in config, so that the audit
// never says a secret was cleared when it was kept.
func validClearedSecrets(fields []string, config json.RawMessage) error {
	if len(fields) == 0 {
		return nil
	}
	var m map[string]any
	if len(config) > 0 {
		if err := json.Unmarshal(config, &m); err != nil {
			return invalidf("config", "config must be a JSON object")
		}
	}
	for _, f := range fields {
		if err := ValidText("cleared_secrets", f, 128, true); err != nil {
			return err
		}
		for k, v := range m {
			if strings.EqualFold(k, f) && v != nil && v != "" {
				return invalidf("cleared_secrets", "cleared_secrets names %s, which the config still holds", f)
			}
		}
	}
	return nil
}

func validObject(field string, raw json.RawMessage) error {
	if len(raw) == 0 {
		return nil
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		return invalidf(field, "%s must be a JSON object", field)
	}
	return nil
}
