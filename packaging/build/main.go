// Command build makes the .deb and .rpm packages of certctl and certctl-agent
// with nfpm, for each architecture asked: it cross-compiles the binaries,
// makes the man pages and the bash completion from certctl's own help, packs
// them with the definitions in packaging/ (*.nfpm.yaml) and writes
// SHA256SUMS. `make package` runs it. certctl-agent is skipped, loudly, while
// cmd/certctl-agent holds no Go code.
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"
)

// options is one run of the builder.
type options struct {
	repo    string    // root of the certctl repository
	dist    string    // where the packages and SHA256SUMS go
	version string    // package version (already normalised)
	arches  []string  // Go architectures
	goTool  string    // the go command
	mtime   time.Time // time stamped on every file, from the last commit
	stdout  io.Writer
	stderr  io.Writer
}

func main() {
	version := flag.String("version", "", "package version: 1.2.3, v1.2.3-rc1 or git describe output (default: from git)")
	arch := flag.String("arch", "amd64,arm64", "comma-separated Go architectures to build for")
	dist := flag.String("dist", "dist", "directory that receives the packages and SHA256SUMS")
	repo := flag.String("repo", "..", "root of the certctl repository")
	goTool := flag.String("go", "go", "the go command")
	flag.Parse()
	if flag.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "package: unexpected argument %q\n", flag.Arg(0))
		os.Exit(2)
	}
	opts, err := newOptions(*repo, *dist, *version, *arch, *goTool)
	if err == nil {
		err = run(opts)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "package:", err)
		os.Exit(1)
	}
}

func newOptions(repo, dist, version, arch, goTool string) (options, error) {
	o := options{goTool: goTool, stdout: os.Stdout, stderr: os.Stderr}
	var err error
	if o.repo, err = filepath.Abs(repo); err != nil {
		return o, err
	}
	if _, err := os.Stat(filepath.Join(o.repo, "cmd", "certctl")); err != nil {
		return o, fmt.Errorf("-repo %s is not the certctl repository: %w", repo, err)
	}
	if o.dist, err = filepath.Abs(dist); err != nil {
		return o, err
	}
	if version == "" {
		o.version, err = gitVersion(o.repo)
	} else {
		o.version, err = packageVersion(version)
	}
	if err != nil {
		return o, err
	}
	for _, a := range strings.Split(arch, ",") {
		if a = strings.TrimSpace(a); a == "" {
			continue
		}
		if a != "amd64" && a != "arm64" {
			return o, fmt.Errorf("-arch %q: only amd64 and arm64 are packaged", a)
		}
		o.arches = append(o.arches, a)
	}
	if len(o.arches) == 0 {
		return o, fmt.Errorf("-arch names no architecture")
	}
	o.mtime, err = sourceDate(o.repo)
	return o, err
}

// sourceDate is SOURCE_DATE_EPOCH when set, else the time of the last commit,
// so that two builds of one commit stamp the same times.
func sourceDate(repo string) (time.Time, error) {
	epoch := os.Getenv("SOURCE_DATE_EPOCH")
	if epoch == "" {
		out, err := command(repo, nil, "git", "log", "-1", "--format=%ct").Output()
		if err != nil {
			return time.Time{}, fmt.Errorf("time of the last commit: %w", err)
		}
		epoch = strings.TrimSpace(string(out))
	}
	secs, err := strconv.ParseInt(epoch, 10, 64)
	if err != nil {
		return time.Time{}, fmt.Errorf("SOURCE_DATE_EPOCH %q is not a number of seconds", epoch)
	}
	return time.Unix(secs, 0).UTC(), nil
}

// hasAgent reports whether cmd/certctl-agent holds Go code to build.
func hasAgent(repo string) bool {
	names, _ := filepath.Glob(filepath.Join(repo, "cmd", "certctl-agent", "*.go"))
	return slices.ContainsFunc(names, func(n string) bool { return !strings.HasSuffix(n, "_test.go") })
}

const agentSkipped = `
#########################################################################
#  certctl-agent: NOT PACKAGED                                          #
#  cmd/certctl-agent holds no Go code yet: there is no agent binary to  #
#  package. Its definition is ready (packaging/certctl-agent.nfpm.yaml  #
#  with its unit, config and scripts): the package is built as soon as  #
#  cmd/certctl-agent exists.                                            #
#########################################################################

`

func run(o options) error {
	work, err := os.MkdirTemp("", "certctl-package-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)

	binaries := []string{"certctl"}
	if hasAgent(o.repo) {
		binaries = append(binaries, "certctl-agent")
	} else {
		fmt.Fprint(o.stderr, agentSkipped)
	}
	fmt.Fprintf(o.stdout, "packaging %s %s for %s\n", strings.Join(binaries, " and "), o.version, strings.Join(o.arches, ", "))
	for _, arch := range o.arches {
		for _, b := range binaries {
			if err := goBuild(o, arch, b, filepath.Join(work, arch, b)); err != nil {
				return err
			}
		}
	}
	gen := filepath.Join(work, "gen")
	if err := generateDocs(o, work, gen); err != nil {
		return err
	}

	if err := os.MkdirAll(o.dist, 0o755); err != nil {
		return err
	}
	if err := cleanDist(o.dist); err != nil {
		return err
	}
	var written []string
	for _, b := range binaries {
		def := filepath.Join(o.repo, "packaging", b+".nfpm.yaml")
		for _, arch := range o.arches {
			for _, format := range []string{"deb", "rpm"} {
				vars := map[string]string{"VERSION": o.version, "ARCH": arch, "BUILD": filepath.Join(work, arch), "GEN": gen}
				path, err := pack(def, vars, format, o.mtime, gen, o.dist)
				if err != nil {
					return fmt.Errorf("%s %s %s: %w", b, arch, format, err)
				}
				fmt.Fprintln(o.stdout, "  wrote", path)
				written = append(written, path)
			}
		}
	}
	if err := writeSums(o.dist, written); err != nil {
		return err
	}
	fmt.Fprintf(o.stdout, "  wrote %s\n", filepath.Join(o.dist, "SHA256SUMS"))
	return nil
}

// goBuild cross-compiles ./cmd/<binary> for linux/arch into out, stamped
// with the package version.
func goBuild(o options, arch, binary, out string) error {
	env := []string{"GOOS=linux", "GOARCH=" + arch, "CGO_ENABLED=0"}
	cmd := command(o.repo, env, o.goTool, "build", "-trimpath",
		"-ldflags", "-s -w -X main.version="+o.version, "-o", out, "./cmd/"+binary)
	cmd.Stdout, cmd.Stderr = o.stdout, o.stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go build %s for %s: %w", binary, arch, err)
	}
	return nil
}

// generateDocs writes into gen what certctl's own help makes: gen/man/*.1.gz
// and gen/certctl.bash. It runs a certctl built for this machine.
func generateDocs(o options, work, gen string) error {
	host := filepath.Join(work, runtime.GOARCH, "certctl")
	if !slices.Contains(o.arches, runtime.GOARCH) {
		host = filepath.Join(work, "host", "certctl")
		if err := goBuildHost(o, host); err != nil {
			return err
		}
	}
	env := []string{"SOURCE_DATE_EPOCH=" + strconv.FormatInt(o.mtime.Unix(), 10)}
	raw := filepath.Join(work, "man")
	if out, err := command(work, env, host, "man", raw).CombinedOutput(); err != nil {
		return fmt.Errorf("certctl man: %w: %s", err, out)
	}
	if err := gzipPages(raw, filepath.Join(gen, "man")); err != nil {
		return err
	}
	completion, err := command(work, env, host, "completion", "bash").Output()
	if err != nil {
		return fmt.Errorf("certctl completion bash: %w", err)
	}
	return os.WriteFile(filepath.Join(gen, "certctl.bash"), completion, 0o644)
}

func goBuildHost(o options, out string) error {
	cmd := command(o.repo, []string{"CGO_ENABLED=0"}, o.goTool, "build", "-trimpath",
		"-ldflags", "-X main.version="+o.version, "-o", out, "./cmd/certctl")
	cmd.Stdout, cmd.Stderr = o.stdout, o.stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go build certctl for this machine: %w", err)
	}
	return nil
}

// cleanDist removes the packages and SHA256SUMS of an earlier build, so
// that dist holds one build and SHA256SUMS lists all of it.
func cleanDist(dist string) error {
	for _, pattern := range []string{"*.deb", "*.rpm", "SHA256SUMS"} {
		old, _ := filepath.Glob(filepath.Join(dist, pattern))
		for _, f := range old {
			if err := os.Remove(f); err != nil {
				return err
			}
		}
	}
	return nil
}
