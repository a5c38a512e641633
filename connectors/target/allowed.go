package target

import (
	"errors"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
)

// PathPlaceholders are the placeholders a line of allowed_commands may hold
// in an argument, one for each config field that names a file a host
// connector writes. "{cert_path}" stands for the target's cert_path, and so
// on.
func PathPlaceholders() []string {
	return []string{"{cert_path}", "{key_path}", "{chain_path}", "{fullchain_path}", "{pem_path}"}
}

// Paths are the files a deployment writes, by config field ("cert_path":
// "/etc/nginx/certs/www.crt", ...): what the placeholders of an
// allowed_commands line stand for when a command is checked. Only paths
// that passed CheckPath belong in it; an absent or empty field makes every
// line that names it match nothing.
type Paths map[string]string

// allowedCommand is one line of allowed_commands, parsed: its words, with
// placeholders kept as written.
type allowedCommand []string

// parseAllowed parses line as ParseCommand parses a command, but with "{"
// and "}" reserved for placeholders: every "{" must open one of
// PathPlaceholders, and the program may not be one.
func parseAllowed(line string) (allowedCommand, error) {
	const field = "allowed_commands"
	words, err := parseCommand(field, line, strings.NewReplacer("{", "", "}", "").Replace(shellMeta))
	if err != nil {
		var cerr *ConfigError
		if errors.As(err, &cerr) {
			return nil, Configf(field, "%q: %s", line, cerr.Reason)
		}
		return nil, err
	}
	if strings.ContainsAny(words[0], "{}") {
		return nil, Configf(field, "%q: the program %q cannot be a placeholder or hold braces: give an absolute path or a bare name", line, words[0])
	}
	for _, w := range words[1:] {
		rest := w
		for rest != "" {
			open, close := strings.IndexByte(rest, '{'), strings.IndexByte(rest, '}')
			if open < 0 && close < 0 {
				break
			}
			if close < 0 {
				return nil, Configf(field, "%q: the argument %q opens a placeholder it does not close", line, w)
			}
			if open < 0 || close < open {
				return nil, Configf(field, "%q: the argument %q has a \"}\" that closes no placeholder", line, w)
			}
			if p := rest[open : close+1]; !slices.Contains(PathPlaceholders(), p) {
				return nil, Configf(field, "%q: %s is not a placeholder: use %s (braces mean nothing else here)",
					line, p, strings.Join(PathPlaceholders(), ", "))
			}
			rest = rest[close+1:]
		}
	}
	return allowedCommand(words), nil
}

// matches reports whether a permits the command args, whose placeholders
// stand for paths.
func (a allowedCommand) matches(args []string, paths Paths) bool {
	if len(a) != len(args) || !sameProgram(a[0], args[0]) {
		return false
	}
	for i, w := range a[1:] {
		if expanded, ok := expand(w, paths); !ok || expanded != args[i+1] {
			return false
		}
	}
	return true
}

// expand replaces the placeholders of w with their paths, in one pass (a
// path is never read for placeholders); false when one has no path. w
// passed parseAllowed.
func expand(w string, paths Paths) (string, bool) {
	var b strings.Builder
	for {
		open := strings.IndexByte(w, '{')
		if open < 0 {
			b.WriteString(w)
			return b.String(), true
		}
		end := strings.IndexByte(w[open:], '}') + open
		v := paths[w[open+1:end]]
		if v == "" {
			return "", false
		}
		b.WriteString(w[:open])
		b.WriteString(v)
		w = w[end+1:]
	}
}

// sameProgram reports whether allowed, the program of an allow-list line,
// names exe, the program of a command: the same string, or the one a bare
// name of either resolves to through PATH.
func sameProgram(allowed, exe string) bool {
	if allowed == exe {
		return true
	}
	switch {
	case !filepath.IsAbs(exe) && filepath.IsAbs(allowed):
		p, err := exec.LookPath(exe)
		return err == nil && p == allowed
	case filepath.IsAbs(exe) && !filepath.IsAbs(allowed):
		p, err := exec.LookPath(allowed)
		return err == nil && p == exe
	}
	return false
}

// withPlaceholders writes args as an allowed_commands line with each
// argument that is one of paths written as its placeholder; "" when no
// argument is a path, or when args cannot be written back as one line.
func withPlaceholders(args []string, paths Paths) string {
	words := make([]string, len(args))
	replaced := false
	for i, a := range args {
		words[i] = a
		if i == 0 {
			continue
		}
		for _, p := range PathPlaceholders() {
			if v := paths[strings.Trim(p, "{}")]; v != "" && v == a {
				words[i], replaced = p, true
				break
			}
		}
	}
	if !replaced {
		return ""
	}
	for i, w := range words {
		q, ok := quoteWord(w)
		if !ok {
			return ""
		}
		words[i] = q
	}
	return strings.Join(words, " ")
}

// quoteWord writes w so that ParseCommand reads it back as one word.
func quoteWord(w string) (string, bool) {
	switch {
	case w != "" && !strings.ContainsAny(w, " \t'\""):
		return w, true
	case !strings.Contains(w, `"`):
		return `"` + w + `"`, true
	case !strings.Contains(w, "'"):
		return "'" + w + "'", true
	}
	return "", false
}
