package target

import (
	"fmt"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"regexp"
	"strconv"
)

// File is a file a host connector writes.
type File struct {
	Path string
	Data []byte
	// Mode is the permission bits the file gets, whatever the umask.
	Mode fs.FileMode
	// UID and GID own the file; -1 leaves that id as the agent's. Use
	// Ownership.File to set them from a config.
	UID, GID int
}

// WriteFileAtomic replaces f.Path with f.Data so that a reader, or a crash,
// sees the old file or the new one and never a part: it writes a temporary
// file in the same directory, syncs it, sets its mode and owner, renames it
// over f.Path and syncs the directory. A symbolic link at f.Path is replaced,
// not written through. The directory must exist.
func WriteFileAtomic(f File) (err error) {
	dir := filepath.Dir(f.Path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(f.Path)+".certctl-*")
	if err != nil {
		return fmt.Errorf("target: write %s: %w", f.Path, err)
	}
	defer func() {
		if err != nil {
			_ = tmp.Close()
			_ = os.Remove(tmp.Name())
			err = fmt.Errorf("target: write %s: %w", f.Path, err)
		}
	}()
	// Mode and owner first: the data of a key must never sit in a file
	// that others can read, not even for a moment.
	if err = tmp.Chmod(f.Mode.Perm()); err != nil {
		return err
	}
	if err = chownFile(tmp, f.UID, f.GID); err != nil {
		return err
	}
	if _, err = tmp.Write(f.Data); err != nil {
		return err
	}
	if err = tmp.Sync(); err != nil {
		return err
	}
	if err = tmp.Close(); err != nil {
		return err
	}
	if err = os.Rename(tmp.Name(), f.Path); err != nil {
		return err
	}
	return syncDir(dir)
}

// Ownership is the owner and group a config asks for, by name or numeric
// id; empty leaves the agent's.
type Ownership struct {
	Owner, Group string
}

// namePattern is what useradd and groupadd accept, plus digits for ids.
var namePattern = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]*\$?$`)

// Check checks the spelling of o's names (fields "owner" and "group")
// without looking them up: the config may be checked away from the host.
func (o Ownership) Check() error {
	if o.Owner != "" && (len(o.Owner) > 64 || !namePattern.MatchString(o.Owner)) {
		return Configf("owner", "%q is not a user name or numeric id", o.Owner)
	}
	if o.Group != "" && (len(o.Group) > 64 || !namePattern.MatchString(o.Group)) {
		return Configf("group", "%q is not a group name or numeric id", o.Group)
	}
	return nil
}

// IDs looks o up on this host and returns the uid and gid, -1 for an empty
// name.
func (o Ownership) IDs() (uid, gid int, err error) {
	uid, gid = -1, -1
	if o.Owner != "" {
		if uid, err = lookupID(o.Owner, func(n string) (string, error) {
			u, err := user.Lookup(n)
			if err != nil {
				return "", err
			}
			return u.Uid, nil
		}); err != nil {
			return -1, -1, Configf("owner", "%q: %v: create the user on this host or give a numeric id", o.Owner, err)
		}
	}
	if o.Group != "" {
		if gid, err = lookupID(o.Group, func(n string) (string, error) {
			g, err := user.LookupGroup(n)
			if err != nil {
				return "", err
			}
			return g.Gid, nil
		}); err != nil {
			return -1, -1, Configf("group", "%q: %v: create the group on this host or give a numeric id", o.Group, err)
		}
	}
	return uid, gid, nil
}

func lookupID(name string, lookup func(string) (string, error)) (int, error) {
	if id, err := strconv.Atoi(name); err == nil && id >= 0 {
		return id, nil
	}
	s, err := lookup(name)
	if err != nil {
		return -1, err
	}
	return strconv.Atoi(s)
}

// ParseMode reads s, the value of config field field, as octal permission
// bits ("0640" or "640"); empty is def. Only the permission bits are
// accepted: no setuid, setgid or sticky bit on a certificate.
func ParseMode(field, s string, def fs.FileMode) (fs.FileMode, error) {
	if s == "" {
		return def, nil
	}
	m, err := strconv.ParseUint(s, 8, 32)
	if err != nil || m > 0o777 {
		return 0, Configf(field, "%q is not a file mode: give octal permission bits such as \"0640\"", s)
	}
	return fs.FileMode(m), nil
}
