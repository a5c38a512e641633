package target

import "time"

// HostOptions are the agent's local settings that host connectors (files,
// NGINX, Apache, HAProxy) obey. The zero value permits any command and path
// and uses the defaults of Runner and Probe.
type HostOptions struct {
	// Runner runs validate and reload commands; nil is the zero Runner.
	Runner *Runner
	// AllowedDirs limit where certificate and key files may be written
	// (the agent's allowed_dirs); empty permits any directory.
	AllowedDirs []string
	// ProtectedDirs are never written (the agent's key and state
	// directories).
	ProtectedDirs []string
	// ProbeWait bounds a TLS validation (Probe.Wait); 0 is Probe's default.
	ProbeWait time.Duration
}
