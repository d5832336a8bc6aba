package postgres

import (
	"context"
	"fmt"
	"time"
)

// DeleteOperatorTokens deletes every token of the operator and returns how
// many there were (tokens_operator indexes the lookup).
func (db *DB) DeleteOperatorTokens(ctx context.Context, operatorID string) (int, error) {
	res, err := rb(db.pool).Exec(ctx, `DELETE FROM tokens WHERE operator_id = ?`, operatorID)
	if err != nil {
		return 0, fmt.Errorf("postgres: delete operator tokens: %w", err)
	}
	return int(res.RowsAffected()), nil
}

// PurgeExpiredTokens deletes the tokens that expired at or before now, the
// same boundary GetToken uses (tokens_expires indexes the range).
func (db *DB) PurgeExpiredTokens(ctx context.Context, now time.Time) (int, error) {
	res, err := rb(db.pool).Exec(ctx, `DELETE FROM tokens WHERE expires_at <= ?`, now)
	if err != nil {
		return 0, fmt.Errorf("postgres: purge expired tokens: %w", err)
	}
	return int(res.RowsAffected()), nil
}

// DeleteOtherSessions deletes the operator's tokens outside session keep
// and returns how many there were.
func (db *DB) DeleteOtherSessions(ctx context.Context, operatorID, keep string) (int, error) {
	res, err := rb(db.pool).Exec(ctx, `DELETE FROM tokens WHERE operator_id = ? AND session <> ?`, operatorID, keep)
	if err != nil {
		return 0, fmt.Errorf("postgres: delete other sessions: %w", err)
	}
	return int(res.RowsAffected()), nil
}

// DeleteSession deletes the tokens of one of the operator's sessions and
// returns how many there were.
func (db *DB) DeleteSession(ctx context.Context, operatorID, session string) (int, error) {
	res, err := rb(db.pool).Exec(ctx, `DELETE FROM tokens WHERE operator_id = ? AND session = ?`, operatorID, session)
	if err != nil {
		return 0, fmt.Errorf("postgres: delete session: %w", err)
	}
	return int(res.RowsAffected()), nil
}
