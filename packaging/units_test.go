package packaging_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestUnits_SystemdAnalyzeVerify installs the packages and runs
// systemd-analyze verify on the installed units (systemd need not run for
// it: it loads the unit, checks every directive and that the commands exist),
// then systemd-analyze security, which must rate the sandbox 2.0 or better.
// While certctl-agent is not built, its unit is verified as shipped in
// packaging/systemd, with ExecStart pointed at the installed certctl so that
// the check of the command's existence has a binary to find.
func TestUnits_SystemdAnalyzeVerify(t *testing.T) {
	m := setup(t)
	for _, pkg := range m.packages() {
		m.purge(t, pkg)
		t.Cleanup(func() { m.purge(t, pkg) })
		m.root(t, "dpkg", "-i", m.debFile(m.oldDist, pkg, oldVersion))
	}
	units := map[string]string{}
	for _, pkg := range m.packages() {
		units[pkg] = "/usr/lib/systemd/system/" + pkg + ".service"
	}
	units["certctl-export"] = "/usr/lib/systemd/system/certctl-export.service"
	if !m.agent {
		shipped, err := os.ReadFile("systemd/certctl-agent.service")
		require.NoError(t, err)
		stand := strings.Replace(string(shipped), "ExecStart=/usr/bin/certctl-agent ", "ExecStart=/usr/bin/certctl ", 1)
		require.NotEqual(t, string(shipped), stand, "certctl-agent.service runs /usr/bin/certctl-agent")
		path := filepath.Join(t.TempDir(), "certctl-agent.service")
		require.NoError(t, os.WriteFile(path, []byte(stand), 0o644))
		units["certctl-agent"] = path
		t.Log("certctl-agent is not built yet: its unit is verified with ExecStart=/usr/bin/certctl")
	}

	verify := []string{"systemd-analyze", "verify"}
	if _, err := exec.LookPath("man"); err != nil {
		verify = append(verify, "--man=no")
		t.Log("man is not installed: systemd-analyze verify --man=no (the Documentation= man pages are not looked up)")
	}
	for pkg, unit := range units {
		out, err := exec.Command(verify[0], append(verify[1:], unit)...).CombinedOutput()
		assert.NoError(t, err, "%s %s:\n%s", strings.Join(verify, " "), unit, out)
		assert.Empty(t, strings.TrimSpace(string(out)), "systemd-analyze verify has nothing to say about %s", pkg)

		out, err = exec.Command("systemd-analyze", "security", "--offline=yes", "--threshold=20", unit).CombinedOutput()
		assert.NoError(t, err, "systemd-analyze security rates %s above 2.0:\n%s", pkg, out)
		lines := splitLines(string(out))
		if len(lines) > 0 {
			t.Logf("%s: %s", pkg, lines[len(lines)-1])
		}
	}
}
