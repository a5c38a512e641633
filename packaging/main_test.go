// Package packaging_test builds the packages with packaging/build and checks
// them the way an operator meets them: dpkg installs, runs, upgrades, removes
// and purges the .deb for real, lintian judges it, rpm queries the .rpm, and
// systemd-analyze verifies the units. It needs a Debian machine and root (or
// password-less sudo): it installs certctl on the machine it runs on, and the
// Debian packages it needs (lintian, rpm, systemd) when they are missing.
package packaging_test

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
)

// The two builds: the install is of oldVersion, the upgrade to newVersion.
const (
	oldVersion = "1.0.0"
	newVersion = "1.0.1"
)

// machine is what the tests share: how to act as root, and the packages of
// the two builds.
type machine struct {
	sudo     []string // prefix that runs a command as root: nil when root already
	debArch  string   // Debian's name of this machine's architecture
	goArch   string   // Go's name of it
	rpmArch  string   // RPM's name of it
	work     string   // scratch directory, readable by the service users
	oldDist  string   // the packages of oldVersion
	newDist  string   // the packages of newVersion
	buildLog string   // what the builder printed for oldVersion
	agent    bool     // cmd/certctl-agent exists, so its packages were built
}

var (
	workDir   string
	setupOnce sync.Once
	shared    *machine
	setupErr  error
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "certctl-package-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	workDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// setup returns the machine, preparing it on first use: root, tools, both
// builds. Every test fails, loudly, when that cannot be done.
func setup(t *testing.T) *machine {
	t.Helper()
	setupOnce.Do(func() { shared, setupErr = prepare() })
	require.NoError(t, setupErr, "preparing the package tests")
	return shared
}

func prepare() (*machine, error) {
	m := &machine{work: workDir}
	if os.Geteuid() != 0 {
		if _, err := exec.LookPath("sudo"); err != nil {
			return nil, errors.New("the package tests install packages with dpkg: run them as root (sudo make test-package); this user is not root and there is no sudo")
		}
		if out, err := exec.Command("sudo", "-n", "true").CombinedOutput(); err != nil {
			return nil, fmt.Errorf("the package tests install packages with dpkg: run them as root (sudo make test-package); sudo -n true failed: %v: %s", err, out)
		}
		m.sudo = []string{"sudo", "-n"}
	}
	if _, err := exec.LookPath("dpkg"); err != nil {
		return nil, errors.New("the package tests need a Debian machine: dpkg not found")
	}
	if err := m.installTools(); err != nil {
		return nil, err
	}
	arch, err := exec.Command("dpkg", "--print-architecture").Output()
	if err != nil {
		return nil, fmt.Errorf("dpkg --print-architecture: %w", err)
	}
	m.debArch = strings.TrimSpace(string(arch))
	switch m.debArch {
	case "amd64":
		m.goArch, m.rpmArch = "amd64", "x86_64"
	case "arm64":
		m.goArch, m.rpmArch = "arm64", "aarch64"
	default:
		return nil, fmt.Errorf("certctl is packaged for amd64 and arm64, and this machine is %s", m.debArch)
	}
	// The service users read the node's config copy under work.
	if err := os.Chmod(m.work, 0o755); err != nil {
		return nil, err
	}
	builder := filepath.Join(m.work, "builder")
	if out, err := exec.Command(goTool(), "build", "-o", builder, "./build").CombinedOutput(); err != nil {
		return nil, fmt.Errorf("go build ./build: %w\n%s", err, out)
	}
	m.oldDist, m.newDist = filepath.Join(m.work, "old"), filepath.Join(m.work, "new")
	for _, b := range []struct{ version, dist string }{{oldVersion, m.oldDist}, {newVersion, m.newDist}} {
		out, err := exec.Command(builder, "-repo", "..", "-arch", m.goArch, "-version", b.version, "-dist", b.dist).CombinedOutput()
		if err != nil {
			return nil, fmt.Errorf("building the packages of %s: %w\n%s", b.version, err, out)
		}
		if b.version == oldVersion {
			m.buildLog = string(out)
		}
	}
	agentSources, _ := filepath.Glob("../cmd/certctl-agent/*.go")
	m.agent = len(agentSources) > 0
	return m, nil
}

// goTool is the go command that runs these tests.
func goTool() string {
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	return filepath.Join(runtime.GOROOT(), "bin", "go")
}

// tools maps each command the tests run to the Debian package providing it.
var tools = []struct{ command, pkg string }{
	{"lintian", "lintian"},
	{"rpm", "rpm"},
	{"systemd-analyze", "systemd"},
	{"adduser", "adduser"},
	{"setpriv", "util-linux"},
	{"sha256sum", "coreutils"},
}

// installTools installs with apt-get the packages of the missing tools.
func (m *machine) installTools() error {
	var missing []string
	for _, tool := range tools {
		if _, err := exec.LookPath(tool.command); err != nil {
			missing = append(missing, tool.pkg)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	log := filepath.Join(m.work, "apt.log")
	for _, args := range [][]string{
		{"apt-get", "update"},
		append([]string{"apt-get", "install", "-y", "--no-install-recommends"}, missing...),
	} {
		cmd := m.rootCmd(args...)
		cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
		out, err := cmd.CombinedOutput()
		_ = os.WriteFile(log, out, 0o644)
		if err != nil {
			return fmt.Errorf("installing %s: %s: %w\n%s", strings.Join(missing, " "), strings.Join(args, " "), err, tail(string(out), 30))
		}
	}
	return nil
}

// rootCmd is a command run as root.
func (m *machine) rootCmd(args ...string) *exec.Cmd {
	all := append(append([]string{}, m.sudo...), args...)
	return exec.Command(all[0], all[1:]...)
}

// root runs a command as root and returns its output; it fails the test
// if the command fails.
func (m *machine) root(t *testing.T, args ...string) string {
	t.Helper()
	out, err := m.rootCmd(args...).CombinedOutput()
	require.NoError(t, err, "%s:\n%s", strings.Join(args, " "), out)
	return string(out)
}

// rootErr runs a command as root and returns its output and error.
func (m *machine) rootErr(args ...string) (string, error) {
	out, err := m.rootCmd(args...).CombinedOutput()
	return string(out), err
}

// readRoot reads a file only root may read.
func (m *machine) readRoot(t *testing.T, path string) string {
	t.Helper()
	out, err := m.rootCmd("cat", path).Output()
	require.NoError(t, err, "cat %s", path)
	return string(out)
}

// writeRoot replaces the content of a file only root may write, keeping its
// owner and mode.
func (m *machine) writeRoot(t *testing.T, path, content string) {
	t.Helper()
	cmd := m.rootCmd("tee", path)
	cmd.Stdin = strings.NewReader(content)
	cmd.Stdout = nil
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	require.NoError(t, cmd.Run(), "tee %s: %s", path, stderr.String())
}

// purge removes certctl and its data from the machine, whatever state a
// failed run left it in.
func (m *machine) purge(t *testing.T, pkg string) {
	t.Helper()
	if status, _ := exec.Command("dpkg-query", "-W", "-f=${db:Status-Abbrev}", pkg).Output(); len(status) > 0 && status[1] != 'n' {
		m.root(t, "dpkg", "--purge", pkg)
	}
}

// debFile and rpmFile name the package files of one build.
func (m *machine) debFile(dist, pkg, version string) string {
	return filepath.Join(dist, fmt.Sprintf("%s_%s-1_%s.deb", pkg, version, m.debArch))
}

func (m *machine) rpmFile(dist, pkg, version string) string {
	return filepath.Join(dist, fmt.Sprintf("%s-%s-1.%s.rpm", pkg, version, m.rpmArch))
}

// packages are the packages built: certctl, and certctl-agent once its
// command exists.
func (m *machine) packages() []string {
	if m.agent {
		return []string{"certctl", "certctl-agent"}
	}
	return []string{"certctl"}
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
