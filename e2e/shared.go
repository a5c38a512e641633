package e2e

import (
	"errors"
	"fmt"
	"os"
	"testing"
)

// NewSharedCluster returns an empty cluster that outlives tb, for a state
// too costly to build per test (an inventory of 100,000 certificates, say):
// its directory is not tb's, and nothing is registered with tb.Cleanup. It is
// bound to tb (see Bind). Whoever makes it must Close it, typically from
// TestMain once every test has run.
func NewSharedCluster(tb testing.TB, bin string, opts ...Option) *Cluster {
	tb.Helper()
	dir, err := os.MkdirTemp("", "certctl-e2e-shared-")
	if err != nil {
		tb.Fatal(err)
	}
	c := newCluster(tb, bin, dir, opts)
	c.Bind(tb)
	return c
}

// Bind makes tb the test that the cluster's methods fail and log to, until
// the next Bind. When tb fails, the tail of every node's log is printed as it
// ends. Call it from tb's goroutine, before using the cluster there.
func (c *Cluster) Bind(tb testing.TB) {
	c.tb = tb
	tb.Cleanup(func() {
		if tb.Failed() {
			for _, n := range c.Nodes() {
				tb.Logf("---- log tail of %s (%s) ----\n%s", n.ID, n.LogPath, n.LogTail(logTailLines))
			}
		}
	})
}

// Close kills every node of a cluster made by NewSharedCluster and removes
// its directory. It does not log: the test it is bound to may have ended.
func (c *Cluster) Close() error {
	var errs []error
	for _, n := range c.Nodes() {
		if err := n.Kill(); err != nil {
			errs = append(errs, err)
		}
	}
	c.client.CloseIdle()
	if err := os.RemoveAll(c.dir); err != nil {
		errs = append(errs, fmt.Errorf("e2e: remove %s: %w", c.dir, err))
	}
	return errors.Join(errs...)
}
