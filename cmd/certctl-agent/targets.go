package main

import (
	"path/filepath"

	"github.com/certctl/certctl/api/wire"
	"github.com/certctl/certctl/connectors/target"
	"github.com/certctl/certctl/connectors/target/f5"
	"github.com/certctl/certctl/connectors/target/iis"
	"github.com/certctl/certctl/connectors/target/webserver"
)

// newTargets registers every target type with the agent's local limits:
// only the command lines allowed_commands holds whole, files only under
// allowed_dirs and never into the key or state directory; with empty
// lists, no command and no file. F5 BIG-IP and IIS are reached over
// the network, so any agent can serve them as a proxy agent.
func newTargets(s settled) (*target.Registry, error) {
	host := target.HostOptions{
		Runner:        &target.Runner{Allowed: s.AllowedCommands},
		AllowedDirs:   s.AllowedDirs,
		ProtectedDirs: []string{filepath.Clean(s.KeyDir), filepath.Clean(s.StateDir)},
	}
	r := target.NewRegistry()
	for _, t := range []struct {
		typ wire.TargetType
		t   target.Target
	}{
		{wire.TargetNGINX, webserver.NewNGINX(host)},
		{wire.TargetApache, webserver.NewApache(host)},
		{wire.TargetHAProxy, webserver.NewHAProxy(host)},
		{wire.TargetFiles, webserver.NewFiles(host)},
		{wire.TargetF5, f5.New(f5.Options{})},
		{wire.TargetIIS, iis.New(iis.Options{})},
	} {
		if err := r.Register(string(t.typ), t.t); err != nil {
			return nil, err
		}
	}
	return r, nil
}
