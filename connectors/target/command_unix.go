//go:build unix

package target

import (
	"os/exec"
	"syscall"
)

// ownProcessGroup starts c in a process group of its own and makes
// cancellation kill the whole group, so a command that forked (a shell
// script, apachectl) leaves nothing running after a timeout.
func ownProcessGroup(c *exec.Cmd) {
	c.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	c.Cancel = func() error {
		return syscall.Kill(-c.Process.Pid, syscall.SIGKILL)
	}
}
