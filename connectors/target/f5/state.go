package f5

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
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

// writeState writes s atomically: a crash leaves the old file or the new
// one, never half of one, since Rollback depends on it.
func writeState(dir string, s *state) (string, error) {
	data, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return "", err
	}
	path := filepath.Join(dir, stateFile)
	tmp, err := os.CreateTemp(dir, stateFile+".*")
	if err != nil {
		return "", fmt.Errorf("f5: keep rollback state: %w", err)
	}
	defer os.Remove(tmp.Name()) // a no-op once renamed
	if _, err = tmp.Write(data); err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err == nil {
		err = syncDir(dir)
	}
	if err != nil {
		return "", fmt.Errorf("f5: keep rollback state: %w", err)
	}
	return path, nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
