package main

import (
	"fmt"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
)

var (
	// describeSuffix is what `git describe --tags` appends past a tag: the
	// commits since the tag and the abbreviated commit.
	describeSuffix = regexp.MustCompile(`-([0-9]+)-g([0-9a-f]{4,64})$`)
	// validVersion is what both dpkg and rpm accept as an upstream version
	// and order the same way: no '-', which separates the release.
	validVersion = regexp.MustCompile(`^[0-9][0-9A-Za-z.+~]*$`)
)

// packageVersion turns raw, a version given by hand or the output of
// `git describe --tags --dirty`, into a package version that dpkg and rpm
// order the way the builds were made:
//
//	1.2.3, v1.2.3          1.2.3
//	v1.2.3-rc1             1.2.3~rc1         (before 1.2.3)
//	v1.2.3-4-gabc1234      1.2.3+4.gabc1234  (after 1.2.3)
//	v1.2.3-dirty           1.2.3+dirty       (uncommitted changes)
func packageVersion(raw string) (string, error) {
	v := strings.TrimPrefix(strings.TrimSpace(raw), "v")
	v, dirty := strings.CutSuffix(v, "-dirty")
	var build []string
	if m := describeSuffix.FindStringSubmatch(v); m != nil {
		v = strings.TrimSuffix(v, m[0])
		build = append(build, m[1], "g"+m[2])
	}
	if v == "" || v[0] < '0' || v[0] > '9' {
		return "", fmt.Errorf("version %q does not start with a digit; give one such as VERSION=1.2.3", raw)
	}
	if base, pre, ok := strings.Cut(v, "-"); ok {
		v = base + "~" + strings.ReplaceAll(pre, "-", ".")
	}
	if dirty {
		build = append(build, "dirty")
	}
	if len(build) > 0 {
		sep := "+"
		if strings.Contains(v, "+") {
			sep = "."
		}
		v += sep + strings.Join(build, ".")
	}
	if !validVersion.MatchString(v) {
		return "", fmt.Errorf("version %q gives %q, which is not a package version: a digit first, then only letters, digits, '.', '+' and '~'", raw, v)
	}
	return v, nil
}

// snapshotVersion is the version of a build from a repository without tags:
// 0.0.0~git<commits>.g<commit>, which orders the builds by their number of
// commits and before any release.
func snapshotVersion(commits int, commit string, dirty bool) string {
	v := fmt.Sprintf("0.0.0~git%d.g%s", commits, commit)
	if dirty {
		v += ".dirty"
	}
	return v
}

// gitVersion is the package version of the commit checked out in repo:
// from `git describe --tags --dirty` past a tag, a snapshot version before
// the first tag.
func gitVersion(repo string) (string, error) {
	git := func(args ...string) (string, error) {
		cmd := exec.Command("git", args...)
		cmd.Dir = repo
		out, err := cmd.Output()
		if err != nil {
			return "", fmt.Errorf("git %s: %w", strings.Join(args, " "), err)
		}
		return strings.TrimSpace(string(out)), nil
	}
	if tags, err := git("tag", "--list"); err != nil {
		return "", err
	} else if tags != "" {
		if d, err := git("describe", "--tags", "--dirty"); err == nil {
			return packageVersion(d)
		}
	}
	count, err := git("rev-list", "--count", "HEAD")
	if err != nil {
		return "", err
	}
	n, err := strconv.Atoi(count)
	if err != nil {
		return "", fmt.Errorf("git rev-list --count HEAD printed %q", count)
	}
	commit, err := git("rev-parse", "--short=7", "HEAD")
	if err != nil {
		return "", err
	}
	status, err := git("status", "--porcelain", "--untracked-files=no")
	if err != nil {
		return "", err
	}
	return snapshotVersion(n, commit, status != ""), nil
}
