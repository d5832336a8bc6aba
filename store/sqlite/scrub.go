package sqlite

import (
	"context"
	"fmt"
)

// Scrub rewrites the database so that nothing deleted or overwritten
// survives in its files: VACUUM rebuilds the database file from the live
// rows only (free pages go), and a truncating checkpoint empties the WAL.
// It runs after provider secrets stored in clear were sealed, so that the
// old plaintext does not linger in free pages of a file someone may copy.
// It takes the write lock for as long as the rewrite takes.
func (db *DB) Scrub(ctx context.Context) error {
	if _, err := db.writer.ExecContext(ctx, `VACUUM`); err != nil {
		return fmt.Errorf("sqlite: vacuum: %w", err)
	}
	if _, err := db.writer.ExecContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
		return fmt.Errorf("sqlite: checkpoint: %w", err)
	}
	return nil
}
