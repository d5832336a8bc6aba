package sqlcore

import (
	"context"
	"database/sql"
	"strings"

	"switchboard/store"
)

// userSelect sums up a project's conversations per sender (the users of
// store.UserStore); the caller appends the conditions of the inner query
// (after its project's), its GROUP BY, HAVING, order and paging. Opt-outs
// are looked up for the rows of the page only, through the channel
// providers each user texted, and so is the metadata of each user's
// latest conversation (its WhatsApp profile name). %s is the dialect's
// test of a true boolean.
const (
	userSelect = `SELECT u.user_id, u.n, u.first_at, u.last_at, EXISTS (
		SELECT 1 FROM conversations c2 JOIN opt_outs o ON o.provider_id = c2.channel_provider_id AND o.address = c2.user_id
		WHERE c2.project_id = u.project_id AND c2.user_id = u.user_id AND o.opted_out%s),
		(SELECT c3.metadata FROM conversations c3 WHERE c3.project_id = u.project_id AND c3.user_id = u.user_id
			ORDER BY c3.created_at DESC, c3.id DESC LIMIT 1)
	FROM (SELECT project_id, user_id, COUNT(*) AS n, MIN(created_at) AS first_at, MAX(updated_at) AS last_at
		FROM conversation_state WHERE project_id = ?`
	userGroup = ` GROUP BY project_id, user_id`
)

// userOuter names the inner query's aggregates in the outer query, which
// orders the page's rows again.
var userOuter = strings.NewReplacer("user_id", "u.user_id", "MIN(created_at)", "u.first_at",
	"MAX(updated_at)", "u.last_at", "COUNT(*)", "u.n")

// usersQuery returns the users query with the inner conditions where
// (after the project's), having and the order of opts, paged or not.
func (d *Dialect) usersQuery(where, having string, opts store.ListOptions, paged bool) string {
	sel := strings.Replace(userSelect, "%s", "", 1)
	if d.True != "" {
		sel = strings.Replace(userSelect, "%s", " "+d.True, 1)
	}
	inner := sel + where + userGroup + having + d.orderSQL(userList, opts, nil)
	if paged {
		inner += ` LIMIT ? OFFSET ?`
	}
	return inner + `) u` + d.orderSQL(userList, opts, userOuter.Replace)
}

// UsersQueries returns the SQL (with ? placeholders) of a ListUsers page
// with a search and of GetUser, whose query plans a store may test.
func (d *Dialect) UsersQueries() (search, one string) {
	q, _ := d.conds(userList, store.ListOptions{Search: "x"}, "")
	return d.usersQuery("", q.havingSQL(), store.ListOptions{}, true),
		d.usersQuery(` AND user_id = ?`, "", store.ListOptions{}, false)
}

func scanUser(projectID string) func(Scanner) (*store.User, error) {
	return func(s Scanner) (*store.User, error) {
		u := store.User{ProjectID: projectID}
		var first, last Time
		var meta sql.NullString
		if err := s.Scan(&u.Address, &u.ConversationCount, &first, &last, &u.OptedOut, &meta); err != nil {
			return nil, err
		}
		u.ProfileName = store.ProfileNameOf(JSONBytes(meta))
		u.Channel, u.FirstContactAt, u.LastContactAt = store.ChannelOf(u.Address), first.Time, last.Time
		return &u, nil
	}
}

// ListUsers returns a page of the project's users.
func (db *DB) ListUsers(ctx context.Context, projectID string, opts store.ListOptions) ([]*store.User, int, error) {
	q, err := db.d.conds(userList, opts, "")
	if err != nil {
		return nil, 0, err
	}
	where := ""
	if len(q.where) > 0 {
		where = " AND " + strings.Join(q.where, " AND ")
	}
	args := append(append([]any{projectID}, q.args...), q.hargs...)
	opts = opts.Normalize()
	total, err := db.count(ctx, "list users", `SELECT COUNT(*) FROM (SELECT user_id FROM conversation_state WHERE project_id = ?`+
		where+userGroup+q.havingSQL()+`) g`, args...)
	if err != nil {
		return nil, 0, err
	}
	if total == 0 || opts.Offset >= total {
		return []*store.User{}, total, nil
	}
	// The page's LIMIT and OFFSET belong to the inner query.
	users, err := queryAll(ctx, db, "list users", db.d.usersQuery(where, q.havingSQL(), opts, true),
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
	return getOne(ctx, db, "get user", func() error { return NotFound("user", address) }, scanUser(projectID),
		db.d.usersQuery(` AND user_id = ?`, "", store.ListOptions{}, false), projectID, address)
}
