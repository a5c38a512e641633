package agent

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// writeFileAtomic replaces path with data: a temporary file in the same
// directory, synced, then renamed over path and the directory synced, so a
// crash leaves either the old file or the new one, never a part.
func writeFileAtomic(path string, data []byte, mode os.FileMode) error {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("agent: write %s: %w", path, err)
	}
	name := tmp.Name()
	ok := false
	defer func() {
		if !ok {
			tmp.Close()
			os.Remove(name)
		}
	}()
	if err := tmp.Chmod(mode); err != nil {
		return fmt.Errorf("agent: write %s: %w", path, err)
	}
	if _, err := tmp.Write(data); err != nil {
		return fmt.Errorf("agent: write %s: %w", path, err)
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("agent: write %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("agent: write %s: %w", path, err)
	}
	if err := os.Rename(name, path); err != nil {
		return fmt.Errorf("agent: write %s: %w", path, err)
	}
	ok = true
	return syncDir(dir)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// CheckID refuses an id from the server that could not safely name a file:
// empty, too long, '.'-leading, with "..", a separator or anything outside
// letters, digits, '-', '_' and '.'. Ids become key and journal file names,
// so a hostile one must not reach outside the agent's directories.
func CheckID(field, id string) error {
	switch {
	case id == "":
		return fmt.Errorf("agent: %s is empty", field)
	case len(id) > 128:
		return fmt.Errorf("agent: %s %.40q… is longer than 128 characters", field, id)
	case id[0] == '.' || strings.Contains(id, ".."):
		return fmt.Errorf("agent: %s %q must not start with '.' or contain '..'", field, id)
	}
	for _, r := range id {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.') {
			return fmt.Errorf("agent: %s %q may contain only letters, digits, '-', '_' and '.'", field, id)
		}
	}
	return nil
}
