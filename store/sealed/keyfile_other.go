//go:build !unix

package sealed

import (
	"fmt"
	"io/fs"
	"os"
)

// oNoFollow is 0 where the platform has no O_NOFOLLOW; O_EXCL already
// refuses to create through an existing link.
const oNoFollow = 0

// openKeyFile opens a key file for reading, refusing a symbolic link. The
// platform has no O_NOFOLLOW, so the link is looked for before opening.
func openKeyFile(path string) (*os.File, error) {
	if fi, err := os.Lstat(path); err == nil && fi.Mode()&fs.ModeSymlink != 0 {
		return nil, fmt.Errorf("sealed: key file %s is a symbolic link", path)
	}
	return os.Open(path)
}

// checkKeyFileOwner is a no-op where file ownership is not a Unix uid.
func checkKeyFileOwner(string, fs.FileInfo) error { return nil }
