package target

import "time"

// HostOptions are the agent's local settings that host connectors (files,
// NGINX, Apache, HAProxy) obey. The zero value writes nothing and runs
// nothing: the agent's operator says what its host permits.
type HostOptions struct {
	// Runner runs validate and reload commands that its allow-list
	// permits; nil runs none.
	Runner *Runner
	// AllowedDirs are the directories certificate and key files may be
	// written into (the agent's allowed_dirs); empty permits none.
	AllowedDirs []string
	// ProtectedDirs are never written (the agent's key and state
	// directories), even inside AllowedDirs.
	ProtectedDirs []string
	// ProbeWait bounds a TLS validation (Probe.Wait); 0 is Probe's default.
	ProbeWait time.Duration
}
