package target

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// ReadState decodes the JSON file name in stateDir, the state a device
// connector kept there for Rollback (what a profile or binding used
// before the deployment). It returns nil, and no error, when there is no
// such file: the deployment changed nothing yet.
func ReadState[T any](stateDir, name string) (*T, error) {
	path := filepath.Join(stateDir, name)
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("target: read rollback state: %w", err)
	}
	var s T
	if err := json.Unmarshal(data, &s); err != nil {
		return nil, fmt.Errorf("target: rollback state %s is corrupt: %w", path, err)
	}
	return &s, nil
}

// KeptState is ReadState for a Rollback: when there is nothing to roll
// back (no stateDir, or no state kept in it) st is nil and nothing is the
// result that says so, for Rollback to return as it is.
func KeptState[T any](stateDir, name string) (st *T, nothing *RollbackResult, err error) {
	if stateDir == "" {
		return nil, &RollbackResult{Message: "nothing to roll back: no StateDir"}, nil
	}
	st, err = ReadState[T](stateDir, name)
	if err != nil {
		return nil, nil, err
	}
	if st == nil {
		return nil, &RollbackResult{Message: "nothing to roll back: the deployment changed nothing"}, nil
	}
	return st, nil, nil
}

// WriteState writes s as JSON to the file name in stateDir, 0600 and
// atomically (WriteFileAtomic): Rollback depends on it, so a crash must
// leave no half of it. It returns the file's path.
func WriteState(stateDir, name string, s any) (string, error) {
	data, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return "", fmt.Errorf("target: keep rollback state: %w", err)
	}
	path := filepath.Join(stateDir, name)
	if err := WriteFileAtomic(File{Path: path, Data: data, Mode: 0o600, UID: -1, GID: -1}); err != nil {
		return "", fmt.Errorf("target: keep rollback state: %w", err)
	}
	return path, nil
}
