// Package pgtemp starts a private, throwaway PostgreSQL server: initdb in a
// new temporary directory, postgres on a free loopback port, removed again
// by Stop. The tests use one (internal/testutil.PostgresURL) when no server
// is given, and so does the load tester (cmd/loadgen --spawn --nodes N),
// whose nodes share a database.
//
// It runs the server binaries already installed: initdb on PATH, else
// Debian's /usr/lib/postgresql/VERSION/bin (the newest). As root the
// server runs as the postgres user, since initdb refuses root.
package pgtemp

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// DebianBinGlob matches the folders of Debian's PostgreSQL packages.
const DebianBinGlob = "/usr/lib/postgresql/*/bin"

// Prefix starts the name of every private server's temporary directory;
// RemoveStale looks for it.
const Prefix = "switchboard-pgtest-"

// Options say how the private server runs.
type Options struct {
	// Parent is where the temporary directory is made ("" = the system
	// temp dir); /dev/shm keeps the disk out of the figures.
	Parent string
	// Durable keeps PostgreSQL's default durability (fsync, synchronous
	// commit, full page writes), for measurements. Off, the server trades
	// it for speed, which is what tests want.
	Durable bool
}

// UnusableError says why installed PostgreSQL binaries cannot run here
// (e.g. as root with no postgres user to run them as).
type UnusableError struct{ Why string }

func (e *UnusableError) Error() string { return e.Why }

// FindBin returns the folder holding initdb and postgres ("" when none):
// see FindBinIn, with exec.LookPath and DebianBinGlob.
func FindBin() string { return FindBinIn(exec.LookPath, DebianBinGlob) }

// FindBinIn returns the folder holding initdb and postgres: that of
// initdb as lookPath finds it (links resolved), else the newest of the
// folders matching pattern (Debian's /usr/lib/postgresql/VERSION/bin);
// "" when none has both.
func FindBinIn(lookPath func(string) (string, error), pattern string) string {
	if p, err := lookPath("initdb"); err == nil {
		if real, err := filepath.EvalSymlinks(p); err == nil {
			p = real
		}
		if dir := filepath.Dir(p); executable(filepath.Join(dir, "postgres")) {
			return dir
		}
	}
	dirs, _ := filepath.Glob(pattern)
	// Newest version first: 16 before 15 before 9.6.
	slices.SortFunc(dirs, func(a, b string) int { return slices.Compare(versionOf(b), versionOf(a)) })
	for _, dir := range dirs {
		if executable(filepath.Join(dir, "initdb")) && executable(filepath.Join(dir, "postgres")) {
			return dir
		}
	}
	return ""
}

// versionOf returns the version folder of .../VERSION/bin as numbers.
func versionOf(bin string) []int {
	var v []int
	for _, f := range strings.Split(filepath.Base(filepath.Dir(bin)), ".") {
		n, _ := strconv.Atoi(f)
		v = append(v, n)
	}
	return v
}

func executable(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o111 != 0
}
