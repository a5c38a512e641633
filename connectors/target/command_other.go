//go:build !unix

package target

import "os/exec"

// ownProcessGroup leaves c as it is: without Unix process groups,
// cancellation kills the command alone.
func ownProcessGroup(*exec.Cmd) {}
