package sqlcore

import (
	"context"
	"time"
)

// deleteTokens deletes the tokens where selects and returns how many there
// were.
func (db *DB) deleteTokens(ctx context.Context, op, where string, args ...any) (int, error) {
	n, err := db.exec(ctx, `DELETE FROM tokens WHERE `+where, args...)
	if err != nil {
		return 0, db.d.Errorf("%s: %w", op, err)
	}
	return int(n), nil
}

// DeleteOperatorTokens deletes every token of the operator and returns how
// many there were (tokens_operator indexes the lookup).
func (db *DB) DeleteOperatorTokens(ctx context.Context, operatorID string) (int, error) {
	return db.deleteTokens(ctx, "delete operator tokens", `operator_id = ?`, operatorID)
}

// PurgeExpiredTokens deletes the tokens that expired at or before now, the
// same boundary GetToken uses (tokens_expires indexes the range).
func (db *DB) PurgeExpiredTokens(ctx context.Context, now time.Time) (int, error) {
	return db.deleteTokens(ctx, "purge expired tokens", `expires_at <= ?`, db.d.Time(now))
}

// DeleteOtherSessions deletes the operator's tokens outside session keep
// and returns how many there were.
func (db *DB) DeleteOtherSessions(ctx context.Context, operatorID, keep string) (int, error) {
	return db.deleteTokens(ctx, "delete other sessions", `operator_id = ? AND session <> ?`, operatorID, keep)
}

// DeleteSession deletes the tokens of one of the operator's sessions and
// returns how many there were.
func (db *DB) DeleteSession(ctx context.Context, operatorID, session string) (int, error) {
	return db.deleteTokens(ctx, "delete session", `operator_id = ? AND session = ?`, operatorID, session)
}
