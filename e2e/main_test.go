package e2e

import (
	"flag"
	"fmt"
	"os"
	"testing"
)

// certctlBin is the binary under test, set once by TestMain before any test
// runs and only read afterwards.
var certctlBin string

// agentBin is the certctl-agent binary under test, set like certctlBin.
var agentBin string

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	flag.Parse()
	if testing.Short() {
		return m.Run() // every test skips; no need for a binary
	}
	dir, err := os.MkdirTemp("", "certctl-e2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	certctlBin, err = BuildBinary("..", dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	agentBin, err = BuildAgentBinary("..", dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	code := m.Run()
	if err := closeInventory(); err != nil {
		fmt.Fprintln(os.Stderr, err)
	}
	if err := closeBrowser(); err != nil {
		fmt.Fprintln(os.Stderr, err)
	}
	return code
}

// skipShort skips the multi-process tests under -short.
func skipShort(tb testing.TB) {
	tb.Helper()
	if testing.Short() {
		tb.Skip("e2e: multi-process test skipped with -short")
	}
}
