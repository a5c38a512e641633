package e2e

import "syscall"

// procAttr makes the kernel kill a node when the test binary dies, so that no
// certctl process outlives an interrupted test run.
func procAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
