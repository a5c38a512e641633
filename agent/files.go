package agent

import (
	"fmt"
	"os"
	"strings"

	"github.com/certctl/certctl/connectors/target"
)

// writeFileAtomic replaces path with data so that a crash leaves the old
// file or the new one, never a part (target.WriteFileAtomic).
func writeFileAtomic(path string, data []byte, mode os.FileMode) error {
	if err := target.WriteFileAtomic(target.File{Path: path, Data: data, Mode: mode, UID: -1, GID: -1}); err != nil {
		return fmt.Errorf("agent: %w", err)
	}
	return nil
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
