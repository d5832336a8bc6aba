package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"switchboard/store"
)

// GetEvent returns one event of a conversation (Bonsai's event detail
// route); an ID of another conversation's event is not found.
func (db *DB) GetEvent(ctx context.Context, conversationID string, id int64) (*store.Event, error) {
	e, err := scanEvent(db.reader.QueryRowContext(ctx, `SELECT `+eventCols+` FROM events WHERE conversation_id = ? AND id = ?`, conversationID, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, store.Errorf(store.ENOTFOUND, "event not found")
	}
	if err != nil {
		return nil, fmt.Errorf("sqlite: get event: %w", err)
	}
	return e, nil
}
