package packaging_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestDeb_Lintian runs lintian on every .deb: no error is allowed, warnings
// are listed in the test log.
func TestDeb_Lintian(t *testing.T) {
	m := setup(t)
	for _, pkg := range m.packages() {
		deb := m.debFile(m.oldDist, pkg, oldVersion)
		out, err := exec.Command("lintian", "--show-overrides", "--fail-on", "none", deb).CombinedOutput()
		require.NoError(t, err, "lintian %s:\n%s", deb, out)
		var errs, warnings []string
		for _, l := range splitLines(string(out)) {
			switch {
			case strings.HasPrefix(l, "E: "):
				errs = append(errs, l)
			case strings.HasPrefix(l, "W: "):
				warnings = append(warnings, l)
			}
		}
		t.Logf("lintian %s:\n%s", filepath.Base(deb), out)
		assert.Empty(t, errs, "lintian errors on %s", filepath.Base(deb))
		t.Logf("lintian warnings on %s (accepted): %d", filepath.Base(deb), len(warnings))
	}
}

// TestDeb_Control checks the control part of the .deb: the conffile, the
// dependency on adduser, and maintainer scripts that call systemd only when
// it runs.
func TestDeb_Control(t *testing.T) {
	m := setup(t)
	for _, pkg := range m.packages() {
		deb := m.debFile(m.oldDist, pkg, oldVersion)
		control := t.TempDir()
		out, err := exec.Command("dpkg-deb", "--control", deb, control).CombinedOutput()
		require.NoError(t, err, "dpkg-deb --control: %s", out)

		conffiles, err := os.ReadFile(filepath.Join(control, "conffiles"))
		require.NoError(t, err)
		assert.Equal(t, "/etc/certctl/"+configName(pkg)+"\n", string(conffiles))

		fields, err := exec.Command("dpkg-deb", "--field", deb, "Package", "Version", "Architecture", "Depends", "Section").Output()
		require.NoError(t, err)
		assert.Equal(t, "Package: "+pkg+"\nVersion: "+oldVersion+"-1\nArchitecture: "+m.debArch+"\nDepends: adduser\nSection: admin\n", string(fields))

		scripts := map[string]string{}
		for _, s := range []string{"postinst", "prerm", "postrm"} {
			b, err := os.ReadFile(filepath.Join(control, s))
			require.NoError(t, err, "%s has a %s", pkg, s)
			scripts[s] = string(b)
			fi, err := os.Stat(filepath.Join(control, s))
			require.NoError(t, err)
			assert.Equal(t, os.FileMode(0o755), fi.Mode().Perm(), "%s is executable", s)
			assertSystemdGuarded(t, pkg+" "+s, scripts[s])
		}
		assert.Contains(t, scripts["postinst"], "adduser --system --group")
		assert.Contains(t, scripts["postinst"], "-m 0700 /var/lib/"+pkg)
		assert.Contains(t, scripts["postinst"], "deb-systemd-invoke try-restart "+pkg+".service", "an upgrade restarts a running service")
		assert.Contains(t, scripts["prerm"], "deb-systemd-invoke stop "+pkg+".service", "a removal stops the service")
		assert.Contains(t, scripts["postrm"], "rm -rf /var/lib/"+pkg, "a purge deletes the data")
	}
}

// configName is the name of a package's file in /etc/certctl.
func configName(pkg string) string {
	if pkg == "certctl-agent" {
		return "agent.yaml"
	}
	return "certctl.yaml"
}

// systemdCall is a shell line that runs systemctl or deb-systemd-invoke.
var systemdCall = regexp.MustCompile(`(^|[;&|]\s*)(systemctl|deb-systemd-invoke)\b`)

// assertSystemdGuarded checks that a maintainer script calls systemctl or
// deb-systemd-invoke only inside `if [ -d /run/systemd/system ]`, so that it
// works in containers and chroots where systemd does not run.
func assertSystemdGuarded(t *testing.T, name, script string) {
	t.Helper()
	guarded := false
	depth := 0
	for _, l := range splitLines(script) {
		l = strings.TrimSpace(l)
		if strings.HasPrefix(l, "#") {
			continue
		}
		switch {
		case strings.HasPrefix(l, "if ") && strings.Contains(l, "[ -d /run/systemd/system ]"):
			guarded, depth = true, 1
			continue
		case guarded && strings.HasPrefix(l, "if "):
			depth++
		case guarded && l == "fi":
			if depth--; depth == 0 {
				guarded = false
			}
		}
		if systemdCall.MatchString(l) {
			assert.True(t, guarded, "%s calls systemd outside a [ -d /run/systemd/system ] check: %s", name, l)
		}
	}
}

func splitLines(s string) []string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.TrimSpace(l) != "" {
			out = append(out, l)
		}
	}
	return out
}
