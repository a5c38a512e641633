package target

import (
	"path/filepath"
	"slices"
	"strings"
)

// CheckPath checks p, the value of config field field, as a file a host
// connector may write: non-empty, absolute, in clean form (no "..", no "//",
// no trailing slash), without NUL; inside one of allowed (the agent's
// allowed_dirs; empty permits nowhere); never inside one of protected (the
// agent's key and state directories). It only looks at the string; see
// CheckPathOnDisk for symbolic links. A path outside allowed is a
// *NotAllowedError naming the directory to add; the other errors are
// *ConfigError saying what to change.
func CheckPath(field, p string, allowed, protected []string) error {
	switch {
	case p == "":
		return Configf(field, "a path is required")
	case strings.ContainsRune(p, 0):
		return Configf(field, "the path contains a NUL byte")
	case !filepath.IsAbs(p):
		return Configf(field, "%q is relative: give an absolute path", p)
	case strings.HasSuffix(p, "/") || strings.HasSuffix(p, "/."):
		return Configf(field, "%q names a directory: give the path of the file", p)
	case slices.Contains(strings.Split(p, "/"), ".."):
		return Configf(field, "%q contains \"..\": give the path without it", p)
	case filepath.Clean(p) != p:
		return Configf(field, "%q is not in clean form: write it as %q", p, filepath.Clean(p))
	}
	return checkPlace(field, p, p, allowed, allowed, protected)
}

// checkPlace checks where real, the path p once resolved, lies. allowed
// are the directories as checked (links resolved too, for real); listed as
// the operator wrote them, for the message.
func checkPlace(field, p, real string, allowed, listed, protected []string) error {
	for _, d := range protected {
		if d != "" && within(real, d) {
			return Configf(field, "%q is inside %s, where the agent keeps its own keys and state: choose a path outside it", p, d)
		}
	}
	for _, d := range allowed {
		if d != "" && within(real, d) && real != filepath.Clean(d) {
			return nil
		}
	}
	e := &NotAllowedError{Field: field, Value: p, Setting: "allowed_dirs", Allowed: listed, Add: filepath.Dir(real)}
	if real != p {
		e.Resolved = real
	}
	return e
}

// within reports whether p is dir or inside it. Both are absolute.
func within(p, dir string) bool {
	dir = filepath.Clean(dir)
	if dir == "/" {
		return true
	}
	return p == dir || strings.HasPrefix(p, dir+"/")
}

// CheckPathOnDisk repeats CheckPath's placement checks on p with symbolic
// links resolved, just before a connector writes it: a directory on the way
// that is a link must not lead out of allowed or into protected. The file
// itself may be a link; connectors replace it, never write through it. p must
// already have passed CheckPath. Missing directories are left to the write
// to report.
func CheckPathOnDisk(field, p string, allowed, protected []string) error {
	real := filepath.Join(resolve(filepath.Dir(p)), filepath.Base(p))
	return checkPlace(field, p, real, resolveAll(allowed), allowed, resolveAll(protected))
}

func resolve(p string) string {
	if r, err := filepath.EvalSymlinks(p); err == nil {
		return r
	}
	return p
}

func resolveAll(dirs []string) []string {
	if len(dirs) == 0 {
		return nil
	}
	out := make([]string, 0, 2*len(dirs))
	for _, d := range dirs {
		// Both spellings: a link to a directory still names it.
		out = append(out, filepath.Clean(d), resolve(d))
	}
	return out
}
