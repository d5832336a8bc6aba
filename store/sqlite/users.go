package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"switchboard/store"
)

// userSelect sums up a project's conversations per sender (the users of
// store.UserStore); the caller appends the WHERE of the inner query, its
// GROUP BY and paging. Opt-outs are looked up for the rows of the page
// only, through the channel providers each user texted, and so is the
// metadata of each user's latest conversation (its WhatsApp profile name).
const (
	userSelect = `SELECT u.user_id, u.n, u.first_at, u.last_at, EXISTS (
		SELECT 1 FROM conversations c2 JOIN opt_outs o ON o.provider_id = c2.channel_provider_id AND o.address = c2.user_id
		WHERE c2.project_id = u.project_id AND c2.user_id = u.user_id AND o.opted_out = 1),
		(SELECT c3.metadata FROM conversations c3 WHERE c3.project_id = u.project_id AND c3.user_id = u.user_id
			ORDER BY c3.created_at DESC, c3.id DESC LIMIT 1)
	FROM (SELECT project_id, user_id, COUNT(*) AS n, MIN(created_at) AS first_at, MAX(updated_at) AS last_at
		FROM conversations WHERE project_id = ?`
	userGroup = ` GROUP BY project_id, user_id ORDER BY last_at DESC, user_id`
	userOrder = `) u ORDER BY u.last_at DESC, u.user_id`
)

func scanUser(projectID string) func(scanner) (*store.User, error) {
	return func(s scanner) (*store.User, error) {
		u := store.User{ProjectID: projectID}
		var first, last int64
		var meta sql.NullString
		if err := s.Scan(&u.Address, &u.ConversationCount, &first, &last, &u.OptedOut, &meta); err != nil {
			return nil, err
		}
		u.ProfileName = store.ProfileNameOf(jsonBytes(meta))
		u.Channel, u.FirstContactAt, u.LastContactAt = store.ChannelOf(u.Address), fromMicros(first), fromMicros(last)
		return &u, nil
	}
}

// ListUsers returns a page of the project's users, latest contact first.
func (db *DB) ListUsers(ctx context.Context, projectID, search string, opts store.ListOptions) ([]*store.User, int, error) {
	opts = opts.Normalize()
	where, args := "", []any{projectID}
	if search != "" {
		where, args = ` AND instr(user_id, ?) > 0`, append(args, search)
	}
	var total int
	if err := db.reader.QueryRowContext(ctx, `SELECT COUNT(DISTINCT user_id) FROM conversations WHERE project_id = ?`+where, args...).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("sqlite: list users: %w", err)
	}
	if total == 0 || opts.Offset >= total {
		return []*store.User{}, total, nil
	}
	users, err := queryAll(ctx, db.reader, "list users", userSelect+where+userGroup+` LIMIT ? OFFSET ?`+userOrder,
		append(args, opts.Limit, opts.Offset), scanUser(projectID))
	if err != nil {
		return nil, 0, err
	}
	if users == nil {
		users = []*store.User{}
	}
	return users, total, nil
}

// GetUser returns the project's user with the address.
func (db *DB) GetUser(ctx context.Context, projectID, address string) (*store.User, error) {
	u, err := scanUser(projectID)(db.reader.QueryRowContext(ctx, userSelect+` AND user_id = ?`+userGroup+userOrder, projectID, address))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("user", address)
	}
	if err != nil {
		return nil, fmt.Errorf("sqlite: get user: %w", err)
	}
	return u, nil
}
