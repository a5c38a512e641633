package f5

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/certctl/certctl/connectors/target"
)

// stateFile, in the deployment's StateDir, is what Rollback restores.
const stateFile = "f5-previous-profile.json"

// state is the profile's certKeyChain before the first attempt of a
// deployment switched it.
type state struct {
	Profile      string       `json:"profile"` // REST path, to refuse restoring onto another profile
	CertKeyChain []chainEntry `json:"cert_key_chain"`
}

// chainEntry is one entry of a client-ssl profile's certKeyChain, as
// iControl REST names its fields.
type chainEntry struct {
	Name  string `json:"name"`
	Cert  string `json:"cert,omitempty"`
	Key   string `json:"key,omitempty"`
	Chain string `json:"chain,omitempty"`
}

// readState returns the kept state, or nil when there is none.
func readState(dir string) (*state, error) {
	data, err := os.ReadFile(filepath.Join(dir, stateFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("f5: read rollback state: %w", err)
	}
	var s state
	if err := json.Unmarshal(data, &s); err != nil {
		return nil, fmt.Errorf("f5: rollback state %s is corrupt: %w", filepath.Join(dir, stateFile), err)
	}
	return &s, nil
}

// writeState writes s atomically: Rollback depends on it, so a crash must
// leave no half of it.
func writeState(dir string, s *state) (string, error) {
	data, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return "", err
	}
	path := filepath.Join(dir, stateFile)
	if err := target.WriteFileAtomic(target.File{Path: path, Data: data, Mode: 0o600, UID: -1, GID: -1}); err != nil {
		return "", fmt.Errorf("f5: keep rollback state: %w", err)
	}
	return path, nil
}
