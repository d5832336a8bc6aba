package sqlite

import (
	"context"
	"fmt"
	"time"
)

// DeleteOperatorTokens deletes every token of the operator and returns how
// many there were (tokens_operator indexes the lookup).
func (db *DB) DeleteOperatorTokens(ctx context.Context, operatorID string) (int, error) {
	res, err := db.writer.ExecContext(ctx, `DELETE FROM tokens WHERE operator_id = ?`, operatorID)
	if err != nil {
		return 0, fmt.Errorf("sqlite: delete operator tokens: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("sqlite: delete operator tokens: %w", err)
	}
	return int(n), nil
}

// PurgeExpiredTokens deletes the tokens that expired at or before now, the
// same boundary GetToken uses (tokens_expires indexes the range).
func (db *DB) PurgeExpiredTokens(ctx context.Context, now time.Time) (int, error) {
	res, err := db.writer.ExecContext(ctx, `DELETE FROM tokens WHERE expires_at <= ?`, micros(now))
	if err != nil {
		return 0, fmt.Errorf("sqlite: purge expired tokens: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("sqlite: purge expired tokens: %w", err)
	}
	return int(n), nil
}
