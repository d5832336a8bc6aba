package sqlcore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"

	"switchboard/store"
)

// Starts and start jobs (store.StartStore). A start's request fields that
// are only read by its turn (metadata, text, instruction, template,
// media) are one JSON column, request.

const startCols = `id, project_id, idempotency_key, job_id, seq, provider_id, to_address, from_address, stage_id, agent_id,
	conversation_id, request, state, error, created_at, updated_at`

// startRequest is the request column of a start.
type startRequest struct {
	Metadata    json.RawMessage `json:"metadata,omitempty"`
	Text        string          `json:"text,omitempty"`
	Instruction string          `json:"instruction,omitempty"`
	ContentSID  string          `json:"contentSid,omitempty"`
	ContentVars string          `json:"contentVariables,omitempty"`
	MediaURLs   []string        `json:"mediaUrls,omitempty"`
}

func scanStart(s Scanner) (*store.Start, error) {
	var st store.Start
	var job, errMsg sql.NullString
	var req string
	var cr, up Time
	if err := s.Scan(&st.ID, &st.ProjectID, &st.IdempotencyKey, &job, &st.Seq, &st.ProviderID, &st.To, &st.From,
		&st.StageID, &st.AgentID, &st.ConversationID, &req, &st.State, &errMsg, &cr, &up); err != nil {
		return nil, err
	}
	var r startRequest
	if err := json.Unmarshal([]byte(req), &r); err != nil {
		return nil, fmt.Errorf("start %s: request: %w", st.ID, err)
	}
	st.JobID, st.Error = job.String, errMsg.String
	st.Metadata, st.Text, st.Instruction = r.Metadata, r.Text, r.Instruction
	st.ContentSID, st.ContentVariables, st.MediaURLs = r.ContentSID, r.ContentVars, r.MediaURLs
	st.CreatedAt, st.UpdatedAt = cr.Time, up.Time
	return &st, nil
}

// startArgs are the INSERT arguments of s (startCols' order).
func (db *DB) startArgs(s *store.Start) ([]any, error) {
	req, err := json.Marshal(startRequest{Metadata: s.Metadata, Text: s.Text, Instruction: s.Instruction,
		ContentSID: s.ContentSID, ContentVars: s.ContentVariables, MediaURLs: s.MediaURLs})
	if err != nil {
		return nil, store.Errorf(store.EINVALID, "start request: %v", err)
	}
	var job any
	if s.JobID != "" {
		job = s.JobID
	}
	return []any{s.ID, s.ProjectID, s.IdempotencyKey, job, s.Seq, s.ProviderID, s.To, s.From, s.StageID, s.AgentID,
		s.ConversationID, string(req), s.State, nil, db.d.Time(s.CreatedAt), db.d.Time(s.UpdatedAt)}, nil
}

const insertStart = `INSERT INTO conversation_starts (` + startCols + `) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`

// prepareStart fills in what CreateStart and CreateStartJob set.
func prepareStart(s *store.Start) {
	if s.ID == "" {
		s.ID = store.NewID(store.PrefixStart)
	}
	if s.ConversationID == "" {
		s.ConversationID = store.NewID(store.PrefixConversation)
	}
	t := Now()
	s.State, s.Error, s.CreatedAt, s.UpdatedAt = store.StartPending, "", t, t
}

// CreateStart implements store.StartStore.
func (db *DB) CreateStart(ctx context.Context, s *store.Start) (*store.Start, bool, error) {
	if s.ProjectID == "" || s.IdempotencyKey == "" {
		return nil, false, store.Errorf(store.EINVALID, "a start needs a project and an idempotency key")
	}
	prepareStart(s)
	args, err := db.startArgs(s)
	if err != nil {
		return nil, false, err
	}
	if _, err := db.exec(ctx, insertStart, args...); err != nil {
		if !db.d.IsUnique(err) {
			return nil, false, db.d.WriteErr("create start", "start", err)
		}
		// The key was used: the first request's start is the answer.
		old, err := db.StartByKey(ctx, s.ProjectID, s.IdempotencyKey)
		return old, false, err
	}
	return s, true, nil
}

// StartByKey implements store.StartStore.
func (db *DB) StartByKey(ctx context.Context, projectID, key string) (*store.Start, error) {
	return getOne(ctx, db, "get start", func() error { return NotFound("start", key) }, scanStart,
		`SELECT `+startCols+` FROM conversation_starts WHERE project_id = ? AND idempotency_key = ?`, projectID, key)
}

// GetStart implements store.StartStore.
func (db *DB) GetStart(ctx context.Context, id string) (*store.Start, error) {
	return getOne(ctx, db, "get start", func() error { return NotFound("start", id) }, scanStart,
		`SELECT `+startCols+` FROM conversation_starts WHERE id = ?`, id)
}

// FinishStart implements store.StartStore.
func (db *DB) FinishStart(ctx context.Context, id, state, errMsg string) (bool, error) {
	var e any
	if errMsg != "" {
		e = errMsg
	}
	n, err := db.exec(ctx, `UPDATE conversation_starts SET state = ?, error = ?, updated_at = ? WHERE id = ? AND state = 'pending'`,
		state, e, db.d.Time(Now()), id)
	if err != nil {
		return false, db.d.WriteErr("finish start", "start", err)
	}
	return n > 0, nil
}

// PendingStarts implements store.StartStore.
func (db *DB) PendingStarts(ctx context.Context) ([]*store.Start, error) {
	return queryAll(ctx, db, "pending starts", `SELECT `+startCols+` FROM conversation_starts WHERE state = 'pending'
		ORDER BY created_at, seq, id`, nil, scanStart)
}

// CreateStartJob implements store.StartStore.
func (db *DB) CreateStartJob(ctx context.Context, j *store.StartJob, starts []*store.Start) (*store.StartJob, bool, error) {
	if j.ProjectID == "" || j.IdempotencyKey == "" {
		return nil, false, store.Errorf(store.EINVALID, "a job needs a project and an idempotency key")
	}
	if j.ID == "" {
		j.ID = store.NewID(store.PrefixStartJob)
	}
	j.CreatedAt, j.Total = Now(), len(starts)
	dup := false
	err := db.inTx(ctx, "create start job", func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, db.d.Q(`INSERT INTO start_jobs (id, project_id, idempotency_key, provider_id, total, created_at)
			VALUES (?, ?, ?, ?, ?, ?)`), j.ID, j.ProjectID, j.IdempotencyKey, j.ProviderID, j.Total, db.d.Time(j.CreatedAt))
		if err != nil {
			if db.d.IsUnique(err) {
				dup = true
				return errDuplicateJob
			}
			return db.d.WriteErr("create start job", "job", err)
		}
		ins, err := tx.PrepareContext(ctx, db.d.Q(insertStart))
		if err != nil {
			return db.d.Errorf("create start job: %w", err)
		}
		defer ins.Close()
		for i, s := range starts {
			s.ProjectID, s.JobID, s.Seq = j.ProjectID, j.ID, i
			s.IdempotencyKey = j.ID + ":" + fmt.Sprint(i)
			prepareStart(s)
			args, err := db.startArgs(s)
			if err != nil {
				return err
			}
			if _, err := ins.ExecContext(ctx, args...); err != nil {
				return db.d.WriteErr("create start job", "start", err)
			}
		}
		return nil
	})
	if dup {
		old, err := getOne(ctx, db, "get start job", func() error { return NotFound("job", j.IdempotencyKey) }, db.scanJob,
			`SELECT `+jobCols+` FROM start_jobs WHERE project_id = ? AND idempotency_key = ?`, j.ProjectID, j.IdempotencyKey)
		if err != nil {
			return nil, false, err
		}
		return old, false, db.jobCounts(ctx, old)
	}
	if err != nil {
		return nil, false, err
	}
	j.Counts = map[string]int{store.StartPending: len(starts)}
	return j, true, nil
}

var errDuplicateJob = errors.New("duplicate job")

const jobCols = `id, project_id, idempotency_key, provider_id, total, created_at`

func (db *DB) scanJob(s Scanner) (*store.StartJob, error) {
	var j store.StartJob
	var cr Time
	if err := s.Scan(&j.ID, &j.ProjectID, &j.IdempotencyKey, &j.ProviderID, &j.Total, &cr); err != nil {
		return nil, err
	}
	j.CreatedAt = cr.Time
	return &j, nil
}

// GetStartJob implements store.StartStore.
func (db *DB) GetStartJob(ctx context.Context, projectID, id string) (*store.StartJob, error) {
	j, err := getOne(ctx, db, "get start job", func() error { return NotFound("job", id) }, db.scanJob,
		`SELECT `+jobCols+` FROM start_jobs WHERE id = ? AND project_id = ?`, id, projectID)
	if err != nil {
		return nil, err
	}
	return j, db.jobCounts(ctx, j)
}

// jobCounts fills in j.Counts; every state has an entry.
func (db *DB) jobCounts(ctx context.Context, j *store.StartJob) error {
	j.Counts = map[string]int{store.StartPending: 0, store.StartStarted: 0, store.StartOptedOut: 0, store.StartFailed: 0}
	rows, err := db.reader.QueryContext(ctx, db.d.Q(`SELECT state, COUNT(*) FROM conversation_starts WHERE job_id = ? GROUP BY state`), j.ID)
	if err != nil {
		return db.d.Errorf("job counts: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var st string
		var n int
		if err := rows.Scan(&st, &n); err != nil {
			return db.d.Errorf("job counts: %w", err)
		}
		j.Counts[st] = n
	}
	if err := rows.Err(); err != nil {
		return db.d.Errorf("job counts: %w", err)
	}
	return nil
}

// JobStarts implements store.StartStore.
func (db *DB) JobStarts(ctx context.Context, jobID string, offset, limit int) ([]*store.Start, error) {
	items, err := queryAll(ctx, db, "job starts", `SELECT `+startCols+` FROM conversation_starts WHERE job_id = ?
		ORDER BY seq LIMIT ? OFFSET ?`, []any{jobID, limit, offset}, scanStart)
	if items == nil && err == nil {
		items = []*store.Start{}
	}
	return items, err
}
