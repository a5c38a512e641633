package main

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/goreleaser/nfpm/v2"
	"github.com/goreleaser/nfpm/v2/deb"
	"github.com/goreleaser/nfpm/v2/files"
	"github.com/goreleaser/nfpm/v2/rpm"
)

// packagers are the formats built, by nfpm's name.
var packagers = map[string]nfpm.Packager{"deb": deb.Default, "rpm": rpm.DefaultRPM}

// pack builds one package from the nfpm definition def, with ${NAME} in it
// replaced from vars, and writes it into dist under its conventional name.
// For a .deb it first writes the Debian changelog the definition names,
// gen/<name>/changelog.Debian.gz.
func pack(def string, vars map[string]string, format string, mtime time.Time, gen, dist string) (string, error) {
	var unknown []string
	cfg, err := nfpm.ParseFileWithEnvMapping(def, func(name string) string {
		v, ok := vars[name]
		if !ok && !strings.HasPrefix(name, "NFPM_") {
			unknown = append(unknown, name)
		}
		return v
	})
	if err != nil {
		return "", fmt.Errorf("%s: %w", def, err)
	}
	if len(unknown) > 0 {
		return "", fmt.Errorf("%s uses ${%s}, which the builder does not set", def, strings.Join(unknown, "}, ${"))
	}
	info, err := cfg.Get(format)
	if err != nil {
		return "", err
	}
	info.MTime = mtime
	resolvePaths(info, filepath.Dir(def))
	if format == "deb" {
		if err := writeChangelog(filepath.Join(gen, info.Name, "changelog.Debian.gz"), info, mtime); err != nil {
			return "", err
		}
	}
	packager := packagers[format]
	if packager == nil {
		return "", fmt.Errorf("no packager for %q", format)
	}
	path := filepath.Join(dist, packager.ConventionalFileName(info))
	f, err := os.Create(path)
	if err != nil {
		return "", err
	}
	if err := packager.Package(info, f); err != nil {
		f.Close()
		os.Remove(path)
		return "", err
	}
	return path, f.Close()
}

// resolvePaths makes the relative sources and scripts of info relative to
// dir, the folder of the definition, whatever the working directory.
func resolvePaths(info *nfpm.Info, dir string) {
	abs := func(p *string) {
		if *p != "" && !filepath.IsAbs(*p) {
			*p = filepath.Join(dir, *p)
		}
	}
	for _, c := range info.Contents {
		if c.Type != files.TypeSymlink && c.Type != files.TypeDir {
			abs(&c.Source)
		}
	}
	for _, p := range []*string{&info.Scripts.PreInstall, &info.Scripts.PostInstall, &info.Scripts.PreRemove, &info.Scripts.PostRemove} {
		abs(p)
	}
}

// writeChangelog writes the Debian changelog of one build: a single entry
// for the package's version, dated by the build's commit.
func writeChangelog(path string, info *nfpm.Info, mtime time.Time) error {
	version := info.Version
	if info.Release != "" {
		version += "-" + info.Release
	}
	entry := fmt.Sprintf("%s (%s) unstable; urgency=medium\n\n  * Release %s of %s.\n\n -- %s  %s\n",
		info.Name, version, info.Version, info.Name, info.Maintainer, mtime.Format("Mon, 02 Jan 2006 15:04:05 -0700"))
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return os.WriteFile(path, gzipBytes([]byte(entry)), 0o644)
}

// gzipBytes compresses b the way Debian wants documentation compressed:
// maximum compression, no file name, no time stamp.
func gzipBytes(b []byte) []byte {
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	zw.Write(b)
	zw.Close()
	return buf.Bytes()
}

// gzipPages compresses every page in from into to as PAGE.gz.
func gzipPages(from, to string) error {
	pages, err := filepath.Glob(filepath.Join(from, "*.[1-9]"))
	if err != nil {
		return err
	}
	if len(pages) == 0 {
		return fmt.Errorf("certctl man wrote no page into %s", from)
	}
	if err := os.MkdirAll(to, 0o755); err != nil {
		return err
	}
	for _, p := range pages {
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(to, filepath.Base(p)+".gz"), gzipBytes(b), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// writeSums writes dist/SHA256SUMS for paths, in the format of sha256sum, so
// that `sha256sum -c SHA256SUMS` checks them.
func writeSums(dist string, paths []string) error {
	var lines []string
	for _, p := range paths {
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		h := sha256.New()
		_, err = io.Copy(h, f)
		f.Close()
		if err != nil {
			return err
		}
		lines = append(lines, hex.EncodeToString(h.Sum(nil))+"  "+filepath.Base(p)+"\n")
	}
	sort.Slice(lines, func(i, j int) bool { return lines[i][66:] < lines[j][66:] })
	return os.WriteFile(filepath.Join(dist, "SHA256SUMS"), []byte(strings.Join(lines, "")), 0o644)
}

// command is a command run in dir with env added to this process's.
func command(dir string, env []string, name string, args ...string) *exec.Cmd {
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	return cmd
}
