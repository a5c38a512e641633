package target

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
)

// BackupManifest is the file in a deployment's StateDir that lists what the
// deployment is about to replace. Its presence is the promise that every
// file it lists was saved: it is written, and synced, last.
const BackupManifest = "backup.json"

type manifest struct {
	Files []savedFile `json:"files"`
}

// savedFile is one path as it was before the deployment.
type savedFile struct {
	Path string `json:"path"`
	// Existed false means the deployment created the file: restoring
	// removes it.
	Existed bool `json:"existed"`
	// Link is the target of a symbolic link that stood at Path.
	Link string `json:"link,omitempty"`
	// Copy is the name, in the state directory, of the saved content.
	Copy string      `json:"copy,omitempty"`
	Mode fs.FileMode `json:"mode,omitempty"`
	UID  int         `json:"uid"`
	GID  int         `json:"gid"`
}

// Backup saves the current state of paths (content, mode, owner, or that a
// path does not exist) into stateDir, creating it 0700 if needed, before a
// connector replaces them. It is idempotent: when stateDir already holds a
// backup (a deployment retried after a crash), the paths it lists are kept
// as they were saved, because they may by now hold the new files; only paths
// it does not list are added. Copies are 0600 whatever the original mode:
// one of them is a private key.
func Backup(stateDir string, paths []string) error {
	if stateDir == "" {
		return errors.New("target: backup: the deployment has no state directory")
	}
	if err := os.MkdirAll(stateDir, 0o700); err != nil {
		return fmt.Errorf("target: backup: %w", err)
	}
	m, _, err := readManifest(stateDir)
	if err != nil {
		return err
	}
	saved := make(map[string]bool, len(m.Files))
	for _, f := range m.Files {
		saved[f.Path] = true
	}
	added := false
	for _, p := range paths {
		if saved[p] {
			continue
		}
		f, err := save(stateDir, p, "backup-"+strconv.Itoa(len(m.Files)))
		if err != nil {
			return fmt.Errorf("target: backup %s: %w", p, err)
		}
		m.Files = append(m.Files, f)
		saved[p], added = true, true
	}
	if !added {
		return nil
	}
	data, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return fmt.Errorf("target: backup: %w", err)
	}
	return WriteFileAtomic(File{Path: filepath.Join(stateDir, BackupManifest), Data: data, Mode: 0o600, UID: -1, GID: -1})
}

func save(stateDir, p, copyName string) (savedFile, error) {
	f := savedFile{Path: p, UID: -1, GID: -1}
	fi, err := os.Lstat(p)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return f, nil
	case err != nil:
		return f, err
	}
	f.Existed, f.Mode = true, fi.Mode().Perm()
	f.UID, f.GID = fileOwner(fi)
	switch {
	case fi.Mode()&fs.ModeSymlink != 0:
		f.Link, err = os.Readlink(p)
		return f, err
	case !fi.Mode().IsRegular():
		return f, fmt.Errorf("not a regular file (%s): give the path of a file", fi.Mode().Type())
	}
	data, err := os.ReadFile(p)
	if err != nil {
		return f, err
	}
	f.Copy = copyName
	return f, WriteFileAtomic(File{Path: filepath.Join(stateDir, copyName), Data: data, Mode: 0o600, UID: -1, GID: -1})
}

func readManifest(stateDir string) (manifest, bool, error) {
	var m manifest
	data, err := os.ReadFile(filepath.Join(stateDir, BackupManifest))
	if errors.Is(err, fs.ErrNotExist) {
		return m, false, nil
	}
	if err == nil {
		err = json.Unmarshal(data, &m)
	}
	if err != nil {
		return m, false, fmt.Errorf("target: backup manifest in %s: %w", stateDir, err)
	}
	return m, true, nil
}

// Restore puts back every path the backup in stateDir lists, each
// atomically: the saved content with its mode and owner, the saved symbolic
// link, or no file for a path that did not exist. It returns the paths it
// restored; found is false when stateDir holds no backup, and then nothing
// changed. Restoring twice is the same as once. An owner that the agent may
// not give away (it runs unprivileged) is left as the agent's rather than
// leaving the new file in place.
func Restore(stateDir string) (restored []string, found bool, err error) {
	m, found, err := readManifest(stateDir)
	if err != nil || !found {
		return nil, found, err
	}
	var errs []error
	for _, f := range m.Files {
		if err := restore(stateDir, f); err != nil {
			errs = append(errs, fmt.Errorf("target: restore %s: %w", f.Path, err))
			continue
		}
		restored = append(restored, f.Path)
	}
	return restored, true, errors.Join(errs...)
}

func restore(stateDir string, f savedFile) error {
	switch {
	case !f.Existed:
		if err := os.Remove(f.Path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		return syncDir(filepath.Dir(f.Path))
	case f.Link != "":
		tmp := f.Path + ".certctl-link"
		_ = os.Remove(tmp)
		if err := os.Symlink(f.Link, tmp); err != nil {
			return err
		}
		if err := os.Rename(tmp, f.Path); err != nil {
			_ = os.Remove(tmp)
			return err
		}
		return syncDir(filepath.Dir(f.Path))
	}
	data, err := os.ReadFile(filepath.Join(stateDir, f.Copy))
	if err != nil {
		return fmt.Errorf("the saved copy is gone: %w", err)
	}
	file := File{Path: f.Path, Data: data, Mode: f.Mode, UID: f.UID, GID: f.GID}
	err = WriteFileAtomic(file)
	if errors.Is(err, fs.ErrPermission) && (f.UID >= 0 || f.GID >= 0) {
		file.UID, file.GID = -1, -1
		err = WriteFileAtomic(file)
	}
	return err
}
