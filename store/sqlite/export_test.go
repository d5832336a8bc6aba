package sqlite

import (
	"io/fs"
)

// For the tests of package sqlite_test.
var Dialect = &dialect

// OwnMigrations returns the store's own migrations.
func OwnMigrations() fs.FS {
	own, err := fs.Sub(migrationFS, "migrations")
	if err != nil {
		panic(err)
	}
	return own
}
