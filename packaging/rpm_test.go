package packaging_test

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestRPM_Query reads each .rpm with Debian's rpm: rpm -qip for the
// metadata, rpm -qlp and the file modes for the contents, the config marked
// %config(noreplace), and the scriptlets.
func TestRPM_Query(t *testing.T) {
	m := setup(t)
	for _, pkg := range m.packages() {
		rpmFile := m.rpmFile(m.oldDist, pkg, oldVersion)
		query := func(args ...string) string {
			t.Helper()
			out, err := exec.Command("rpm", append(append([]string{}, args...), rpmFile)...).CombinedOutput()
			require.NoError(t, err, "rpm %s: %s", strings.Join(args, " "), out)
			return string(out)
		}

		info := query("-qip")
		t.Logf("rpm -qip %s:\n%s", pkg, info)
		fields := map[string]string{}
		for _, l := range splitLines(info) {
			if k, v, ok := strings.Cut(l, ":"); ok && !strings.HasPrefix(l, " ") {
				if _, seen := fields[strings.TrimSpace(k)]; !seen {
					fields[strings.TrimSpace(k)] = strings.TrimSpace(v)
				}
			}
		}
		assert.Equal(t, pkg, fields["Name"])
		assert.Equal(t, oldVersion, fields["Version"])
		assert.Equal(t, "1", fields["Release"])
		assert.Equal(t, m.rpmArch, fields["Architecture"])
		assert.Equal(t, "https://github.com/certctl/certctl", fields["URL"])
		assert.NotEmpty(t, fields["License"])
		assert.NotEmpty(t, fields["Summary"])

		list := query("-qlp")
		t.Logf("rpm -qlp %s:\n%s", pkg, list)
		assert.Contains(t, splitLines(list), "/usr/bin/"+pkg)
		assert.Contains(t, splitLines(list), "/etc/certctl/"+configName(pkg))

		modes := query("-qp", "--qf", "[%{FILEMODES:perms} %{FILEUSERNAME} %{FILEGROUPNAME} %{FILENAMES}\n]")
		t.Logf("modes, owners and groups of %s:\n%s", pkg, modes)
		got := map[string]file{}
		for _, l := range splitLines(modes) {
			f := strings.Fields(l)
			require.Len(t, f, 4, l)
			if f[0][0] == '-' {
				got[f[3]] = file{f[0], f[1], f[2]}
			}
		}
		assertFiles(t, pkg, "rpm", got)

		assert.Equal(t, "/etc/certctl/"+configName(pkg)+"\n", query("-qcp"), "the only config file")
		flags := query("-qp", "--qf", "[%{FILEFLAGS:fflags} %{FILENAMES}\n]")
		assert.Contains(t, splitLines(flags), "cn /etc/certctl/"+configName(pkg), "the config is %%config(noreplace)")

		scripts := query("-qp", "--scripts")
		t.Logf("rpm --scripts %s:\n%s", pkg, scripts)
		parts := map[string]string{}
		current := ""
		for _, l := range strings.Split(scripts, "\n") {
			if name, _, ok := strings.Cut(l, " scriptlet (using /bin/sh):"); ok {
				current = name
				continue
			}
			parts[current] += l + "\n"
		}
		for _, name := range []string{"preinstall", "postinstall", "preuninstall", "postuninstall"} {
			require.Contains(t, parts, name, "%s has a %s scriptlet", pkg, name)
			assertSystemdGuarded(t, pkg+" "+name, parts[name])
		}
		assert.Contains(t, parts["preinstall"], "groupadd -r "+pkg)
		assert.Contains(t, parts["preinstall"], "useradd -r -g "+pkg+" -d /var/lib/"+pkg)
		assert.Contains(t, parts["postinstall"], "install -d -o "+pkg+" -g "+pkg+" -m 0700 /var/lib/"+pkg)
		assert.Contains(t, parts["preuninstall"], "disable --now "+pkg+".service", "an erase stops the service")
		assert.Contains(t, parts["postuninstall"], "try-restart "+pkg+".service", "an upgrade restarts a running service")
		assert.NotContains(t, parts["postuninstall"], "rm -rf", "an erase keeps the data")
	}
}
