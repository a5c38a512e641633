package packaging_test

import (
	"os/exec"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// file is a packaged file's mode (as ls shows it), owner and group.
type file struct{ mode, owner, group string }

// expectedFiles are the regular files a package holds, man pages aside,
// in the given format.
func expectedFiles(pkg, format string) map[string]file {
	doc, exe := file{"-rw-r--r--", "root", "root"}, file{"-rwxr-xr-x", "root", "root"}
	config := file{"-rw-r-----", "root", "root"} // Debian: postinst gives it the group
	if format == "rpm" {
		config.group = pkg // RPM: %pre makes the group first
	}
	files := map[string]file{
		"/usr/bin/" + pkg:                             exe,
		"/etc/certctl/" + configName(pkg):             config,
		"/usr/lib/systemd/system/" + pkg + ".service": doc,
		"/usr/share/doc/" + pkg + "/copyright":        doc,
	}
	if pkg == "certctl" {
		files["/usr/share/bash-completion/completions/certctl"] = doc
		files["/usr/share/doc/certctl/install.md"] = doc
		files["/usr/share/doc/certctl/export.md"] = doc
		files["/usr/lib/systemd/system/certctl-export.service"] = doc
	}
	if format == "deb" {
		files["/usr/share/doc/"+pkg+"/changelog.Debian.gz"] = doc
		files["/usr/share/lintian/overrides/"+pkg] = doc
	}
	return files
}

// manPage is a packaged man page of certctl.
var manPage = regexp.MustCompile(`^/usr/share/man/man1/certctl(-[a-z-]+)?\.1\.gz$`)

// assertFiles compares the regular files listed in a package with
// expectedFiles, and checks the man pages: one per command of certctl.
func assertFiles(t *testing.T, pkg, format string, got map[string]file) {
	t.Helper()
	man := 0
	for path, f := range got {
		if manPage.MatchString(path) {
			man++
			assert.Equal(t, file{"-rw-r--r--", "root", "root"}, f, path)
			delete(got, path)
		}
	}
	assert.Equal(t, expectedFiles(pkg, format), got, "files of the %s %s", pkg, format)
	if pkg == "certctl" {
		assert.GreaterOrEqual(t, man, 20, "a man page per certctl command")
	}
}

// TestDeb_Contents checks the files of each .deb, with their modes.
func TestDeb_Contents(t *testing.T) {
	m := setup(t)
	for _, pkg := range m.packages() {
		out, err := exec.Command("dpkg-deb", "--contents", m.debFile(m.oldDist, pkg, oldVersion)).Output()
		require.NoError(t, err)
		got := map[string]file{}
		for _, l := range splitLines(string(out)) {
			// -rw-r--r-- root/root      1513 2026-01-01 00:00 ./usr/lib/systemd/system/certctl.service
			f := strings.Fields(l)
			require.Len(t, f, 6, l)
			if f[0][0] != '-' {
				continue
			}
			owner, group, _ := strings.Cut(f[1], "/")
			got[strings.TrimPrefix(f[5], ".")] = file{f[0], owner, group}
		}
		assert.True(t, manPage.MatchString("/usr/share/man/man1/certctl-server.1.gz"))
		if pkg == "certctl" {
			assert.Contains(t, got, "/usr/share/man/man1/certctl.1.gz")
			assert.Contains(t, got, "/usr/share/man/man1/certctl-server.1.gz")
		}
		assertFiles(t, pkg, "deb", got)
	}
}
