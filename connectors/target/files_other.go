//go:build !unix

package target

import (
	"io/fs"
	"os"
)

func chownFile(f *os.File, uid, gid int) error {
	if uid < 0 && gid < 0 {
		return nil
	}
	return f.Chown(uid, gid)
}

func fileOwner(fs.FileInfo) (uid, gid int) { return -1, -1 }

// syncDir does nothing: directories cannot be synced here.
func syncDir(string) error { return nil }
