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

// DeleteOtherSessions deletes the operator's tokens outside session keep
// and returns how many there were.
func (db *DB) DeleteOtherSessions(ctx context.Context, operatorID, keep string) (int, error) {
	res, err := db.writer.ExecContext(ctx, `DELETE FROM tokens WHERE operator_id = ? AND session <> ?`, operatorID, keep)
	if err != nil {
		return 0, fmt.Errorf("sqlite: delete other sessions: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("sqlite: delete other sessions: %w", err)
	}
	return int(n), nil
}

// DeleteSession deletes the tokens of one of the operator's sessions and
// returns how many there were.
func (db *DB) DeleteSession(ctx context.Context, operatorID, session string) (int, error) {
	res, err := db.writer.ExecContext(ctx, `DELETE FROM tokens WHERE operator_id = ? AND session = ?`, operatorID, session)
	if err != nil {
		return 0, fmt.Errorf("sqlite: delete session: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("sqlite: delete session: %w", err)
	}
	return int(n), nil
}
