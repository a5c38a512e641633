package main

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestPackageVersion(t *testing.T) {
	tests := []struct{ raw, want string }{
		{"1.2.3", "1.2.3"},
		{"v1.2.3", "1.2.3"},
		{"1.0", "1.0"},
		{"v1.2.3-rc1", "1.2.3~rc1"},
		{"v1.2.3-rc.1", "1.2.3~rc.1"},
		{"v1.2.3-4-gabc1234", "1.2.3+4.gabc1234"},
		{"v1.2.3-4-gabc1234-dirty", "1.2.3+4.gabc1234.dirty"},
		{"v1.2.3-dirty", "1.2.3+dirty"},
		{"v1.2.3-rc1-4-gabc1234", "1.2.3~rc1+4.gabc1234"},
		{"1.2.3+build7", "1.2.3+build7"},
		{"1.2.3+build7-dirty", "1.2.3+build7.dirty"},
	}
	for _, tt := range tests {
		got, err := packageVersion(tt.raw)
		require.NoError(t, err, tt.raw)
		assert.Equal(t, tt.want, got, tt.raw)
	}
}

func TestPackageVersion_Rejects(t *testing.T) {
	for _, raw := range []string{"", "dev", "abc1234", "release-1", "1.2.3_4", "1.2 3"} {
		_, err := packageVersion(raw)
		assert.Error(t, err, "%q", raw)
	}
}

func TestSnapshotVersion(t *testing.T) {
	assert.Equal(t, "0.0.0~git14.g2c90a3c", snapshotVersion(14, "2c90a3c", false))
	assert.Equal(t, "0.0.0~git14.g2c90a3c.dirty", snapshotVersion(14, "2c90a3c", true))
	assert.Equal(t, "0.0.0~git14.g1234567", snapshotVersion(14, "1234567", false), "an all-digit commit is still a snapshot")
}

// TestPackageVersion_OrderedByDpkgAndRPM checks with the real dpkg and rpm
// that versions of successive builds sort in the order they were made.
func TestPackageVersion_OrderedByDpkgAndRPM(t *testing.T) {
	for _, tool := range []string{"dpkg", "rpm"} {
		_, err := exec.LookPath(tool)
		require.NoError(t, err, "%s is needed to check the order of versions (make test-package installs it)", tool)
	}
	builds := []string{snapshotVersion(14, "2c90a3c", false), snapshotVersion(15, "0d1e2f3", false)}
	for _, raw := range []string{"v1.0.0-rc1", "v1.0.0-rc1-3-gabc1234", "v1.0.0", "v1.0.0-2-gdef5678", "v1.0.0-2-gdef5678-dirty", "v1.0.1-rc.2", "v1.0.1", "v1.10.0"} {
		v, err := packageVersion(raw)
		require.NoError(t, err, raw)
		builds = append(builds, v)
	}
	for i := 1; i < len(builds); i++ {
		older, newer := builds[i-1], builds[i]
		assert.NoError(t, exec.Command("dpkg", "--compare-versions", older, "lt", newer).Run(), "dpkg: %s < %s", older, newer)
		out, err := exec.Command("rpm", "--eval", `%{lua: print(rpm.vercmp("`+older+`", "`+newer+`"))}`).Output()
		require.NoError(t, err)
		assert.Equal(t, "-1", strings.TrimSpace(string(out)), "rpm: %s < %s", older, newer)
	}
}
