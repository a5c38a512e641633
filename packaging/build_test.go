package packaging_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestBuild_Outputs checks what the builder leaves in dist: one .deb and one
// .rpm per package, SHA256SUMS that sha256sum accepts, and, while
// cmd/certctl-agent does not exist, a loud note instead of an agent package.
func TestBuild_Outputs(t *testing.T) {
	m := setup(t)
	var want []string
	for _, pkg := range m.packages() {
		want = append(want, filepath.Base(m.debFile(m.oldDist, pkg, oldVersion)), filepath.Base(m.rpmFile(m.oldDist, pkg, oldVersion)))
	}
	want = append(want, "SHA256SUMS")
	entries, err := os.ReadDir(m.oldDist)
	require.NoError(t, err)
	var got []string
	for _, e := range entries {
		got = append(got, e.Name())
	}
	sort.Strings(want)
	assert.Equal(t, want, got, "dist holds the packages and SHA256SUMS, nothing else")

	cmd := exec.Command("sha256sum", "--check", "--strict", "SHA256SUMS")
	cmd.Dir = m.oldDist
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "sha256sum --check: %s", out)
	assert.Len(t, splitLines(string(out)), len(want)-1, "SHA256SUMS lists every package: %s", out)

	if m.agent {
		assert.NotContains(t, m.buildLog, "NOT PACKAGED")
	} else {
		assert.Contains(t, m.buildLog, "certctl-agent: NOT PACKAGED", "the builder says loudly that the agent is skipped")
		assert.Contains(t, m.buildLog, "cmd/certctl-agent")
	}
}
