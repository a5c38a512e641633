// Package packaging holds the .deb and .rpm packages of certctl and
// certctl-agent: nfpm definitions, hardened systemd units, the commented
// default configuration and the maintainer scripts, with their builder in
// build/ and the tests that install, upgrade and remove the packages for real.
// It is a module of its own so that nfpm never becomes a dependency of the
// appliance, and so that `go test ./...` at the root never runs dpkg.
package packaging
