package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"switchboard/store"
)

// GetEvent returns one event of a conversation (Bonsai's event detail
// route); an ID of another conversation's event is not found.
func (db *DB) GetEvent(ctx context.Context, conversationID string, id int64) (*store.Event, error) {
	e, err := scanEvent(rb(db.pool).QueryRow(ctx, `SELECT `+eventCols+` FROM events WHERE conversation_id = ? AND id = ?`, conversationID, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, store.Errorf(store.ENOTFOUND, "event not found")
	}
	if err != nil {
		return nil, fmt.Errorf("postgres: get event: %w", err)
	}
	return e, nil
}
