package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"switchboard/store"

	"github.com/jackc/pgx/v5"
)

// ref names one row of a versioned resource table, optionally scoped to a
// project.
type ref struct {
	table, what, id, projectID string
	scoped                     bool
}

func (r ref) where() (string, []any) {
	if r.scoped {
		return ` WHERE id = ? AND project_id = ?`, []any{r.id, r.projectID}
	}
	return ` WHERE id = ?`, []any{r.id}
}

// newMeta returns the Meta of a record being created.
func newMeta(m store.Meta, prefix string) store.Meta {
	if m.ID == "" {
		m.ID = store.NewID(prefix)
	}
	t := now()
	m.CreatedAt, m.UpdatedAt, m.Version = t, t, 1
	return m
}

func get[T any](ctx context.Context, db *DB, r ref, cols string, scan func(scanner) (T, error)) (T, error) {
	where, args := r.where()
	v, err := scan(rb(db.pool).QueryRow(ctx, `SELECT `+cols+` FROM `+r.table+where, args...))
	if errors.Is(err, pgx.ErrNoRows) {
		return v, notFound(r.what, r.id)
	}
	if err != nil {
		return v, fmt.Errorf("postgres: get %s %s: %w", r.what, r.id, err)
	}
	return v, nil
}

// update sets the columns of set (a "col = ?, ..." list with its args) on
// the row r if its version is version, bumping version and updated_at, and
// returns the row as stored.
func update[T any](ctx context.Context, db *DB, r ref, version int64, set string, args []any, cols string, scan func(scanner) (T, error)) (T, error) {
	where, wargs := r.where()
	q := `UPDATE ` + r.table + ` SET ` + set + `, updated_at = ?, version = version + 1` + where + ` AND version = ? RETURNING ` + cols
	all := append(append(append(args, now()), wargs...), version)
	v, err := scan(rb(db.pool).QueryRow(ctx, q, all...))
	if errors.Is(err, pgx.ErrNoRows) {
		return v, versionErr(ctx, rb(db.pool), r, version)
	}
	if err != nil {
		return v, writeErr("update "+r.what, r.what, err)
	}
	return v, nil
}

// remove deletes the row r if its version is version.
func (db *DB) remove(ctx context.Context, r ref, version int64) error {
	where, args := r.where()
	res, err := rb(db.pool).Exec(ctx, `DELETE FROM `+r.table+where+` AND version = ?`, append(args, version)...)
	if err != nil {
		return deleteErr("delete "+r.what, r.what, err)
	}
	if res.RowsAffected() == 0 {
		return versionErr(ctx, rb(db.pool), r, version)
	}
	return nil
}

// versionErr explains why an update or delete of r matched nothing: the
// row is missing or has another version.
func versionErr(ctx context.Context, q querier, r ref, _ int64) error {
	where, args := r.where()
	var have int64
	err := q.QueryRow(ctx, `SELECT version FROM `+r.table+where, args...).Scan(&have)
	if errors.Is(err, pgx.ErrNoRows) {
		return notFound(r.what, r.id)
	}
	if err != nil {
		return fmt.Errorf("postgres: check version of %s %s: %w", r.what, r.id, err)
	}
	return &store.Error{Code: store.ECONFLICT, Message: fmt.Sprintf("version mismatch: have %d", have), Details: map[string]int64{"version": have}}
}

// ---- Operators and tokens.

const operatorCols = `id, name, password_hash, roles, is_active, created_at, updated_at, version`

func scanOperator(s scanner) (*store.Operator, error) {
	var o store.Operator
	var roles *string
	var c, u time.Time
	if err := s.Scan(&o.ID, &o.Name, &o.PasswordHash, &roles, &o.IsActive, &c, &u, &o.Version); err != nil {
		return nil, err
	}
	var err error
	if o.Roles, err = parseList(roles); err != nil {
		return nil, err
	}
	o.CreatedAt, o.UpdatedAt = utc(c), utc(u)
	return &o, nil
}

func insertOperator(ctx context.Context, q querier, op *store.Operator) error {
	m := newMeta(op.Meta, store.PrefixOperator)
	_, err := rb(q).Exec(ctx, `INSERT INTO operators (`+operatorCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		m.ID, op.Name, op.PasswordHash, listText(op.Roles), op.IsActive, m.CreatedAt, m.UpdatedAt, m.Version)
	if err != nil {
		return writeErr("create operator", "operator", err)
	}
	op.Meta = m
	return nil
}

// CountOperators returns the number of operators.
func (db *DB) CountOperators(ctx context.Context) (int, error) {
	var n int
	if err := rb(db.pool).QueryRow(ctx, `SELECT COUNT(*) FROM operators`).Scan(&n); err != nil {
		return 0, fmt.Errorf("postgres: count operators: %w", err)
	}
	return n, nil
}

// CreateFirstOperator creates op only if there is no operator yet. A
// self-conflicting table lock makes the check and the insert atomic.
func (db *DB) CreateFirstOperator(ctx context.Context, op *store.Operator) error {
	return db.inTx(ctx, "create first operator", func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `LOCK TABLE operators IN SHARE ROW EXCLUSIVE MODE`); err != nil {
			return fmt.Errorf("postgres: create first operator: %w", err)
		}
		var exists bool
		if err := rb(tx).QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM operators)`).Scan(&exists); err != nil {
			return fmt.Errorf("postgres: create first operator: %w", err)
		}
		if exists {
			return store.Errorf(store.ECONFLICT, "setup is already done")
		}
		return insertOperator(ctx, tx, op)
	})
}

// CreateOperator stores a new operator.
func (db *DB) CreateOperator(ctx context.Context, op *store.Operator) error {
	return insertOperator(ctx, db.pool, op)
}

// GetOperator returns the operator with the id.
func (db *DB) GetOperator(ctx context.Context, id string) (*store.Operator, error) {
	return get(ctx, db, ref{table: "operators", what: "operator", id: id}, operatorCols, scanOperator)
}

// ListOperators returns a page of operators in creation order and their total.
func (db *DB) ListOperators(ctx context.Context, opts store.ListOptions) ([]*store.Operator, int, error) {
	return list(ctx, db, "list operators", operatorCols, "operators", "", nil, opts, scanOperator)
}

// UpdateOperator stores op's name, password hash, roles and active flag if
// its stored version is version.
func (db *DB) UpdateOperator(ctx context.Context, op *store.Operator, version int64) error {
	v, err := update(ctx, db, ref{table: "operators", what: "operator", id: op.ID}, version,
		`name = ?, password_hash = ?, roles = ?, is_active = ?`,
		[]any{op.Name, op.PasswordHash, listText(op.Roles), op.IsActive}, operatorCols, scanOperator)
	if err != nil {
		return err
	}
	*op = *v
	return nil
}

// DeleteOperator deletes an operator and its tokens.
func (db *DB) DeleteOperator(ctx context.Context, id string, version int64) error {
	return db.remove(ctx, ref{table: "operators", what: "operator", id: id}, version)
}

// CreateToken stores a token (CreatedAt defaults to now).
func (db *DB) CreateToken(ctx context.Context, t *store.Token) error {
	created := t.CreatedAt
	if created.IsZero() {
		created = now()
	}
	_, err := rb(db.pool).Exec(ctx, `INSERT INTO tokens (hash, operator_id, kind, session, expires_at, created_at) VALUES (?, ?, ?, ?, ?, ?)`,
		t.Hash, t.OperatorID, t.Kind, t.Session, t.ExpiresAt, created)
	if err != nil {
		return writeErr("create token", "token", err)
	}
	t.CreatedAt = created.UTC().Truncate(time.Microsecond)
	return nil
}

// GetToken returns the token with the hash if it expires after now.
func (db *DB) GetToken(ctx context.Context, hash string, at time.Time) (*store.Token, error) {
	var t store.Token
	var e, c time.Time
	err := rb(db.pool).QueryRow(ctx, `SELECT hash, operator_id, kind, session, expires_at, created_at FROM tokens WHERE hash = ? AND expires_at > ?`,
		hash, at).Scan(&t.Hash, &t.OperatorID, &t.Kind, &t.Session, &e, &c)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, store.Errorf(store.ENOTFOUND, "token not found")
	}
	if err != nil {
		return nil, fmt.Errorf("postgres: get token: %w", err)
	}
	t.ExpiresAt, t.CreatedAt = utc(e), utc(c)
	return &t, nil
}

// DeleteToken deletes the token with the hash.
func (db *DB) DeleteToken(ctx context.Context, hash string) error {
	res, err := rb(db.pool).Exec(ctx, `DELETE FROM tokens WHERE hash = ?`, hash)
	if err != nil {
		return fmt.Errorf("postgres: delete token: %w", err)
	}
	if res.RowsAffected() == 0 {
		return store.Errorf(store.ENOTFOUND, "token not found")
	}
	return nil
}

// ---- Providers.

const providerCols = `id, name, description, provider_type, api_type, config, tags, created_at, updated_at, version`

func scanProvider(s scanner) (*store.Provider, error) {
	var p store.Provider
	var config, tags *string
	var c, u time.Time
	if err := s.Scan(&p.ID, &p.Name, &p.Description, &p.ProviderType, &p.APIType, &config, &tags, &c, &u, &p.Version); err != nil {
		return nil, err
	}
	var err error
	if p.Tags, err = parseList(tags); err != nil {
		return nil, err
	}
	p.Config = jsonBytes(config)
	p.CreatedAt, p.UpdatedAt = utc(c), utc(u)
	return &p, nil
}

// CreateProvider stores a new provider.
func (db *DB) CreateProvider(ctx context.Context, p *store.Provider) error {
	m := newMeta(p.Meta, store.PrefixProvider)
	_, err := rb(db.pool).Exec(ctx, `INSERT INTO providers (`+providerCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		m.ID, p.Name, p.Description, p.ProviderType, p.APIType, jsonText(p.Config), listText(p.Tags),
		m.CreatedAt, m.UpdatedAt, m.Version)
	if err != nil {
		return writeErr("create provider", "provider", err)
	}
	p.Meta = m
	return nil
}

// GetProvider returns the provider with the id.
func (db *DB) GetProvider(ctx context.Context, id string) (*store.Provider, error) {
	return get(ctx, db, ref{table: "providers", what: "provider", id: id}, providerCols, scanProvider)
}

// ListProviders returns a page of providers in creation order and their total.
func (db *DB) ListProviders(ctx context.Context, opts store.ListOptions) ([]*store.Provider, int, error) {
	return list(ctx, db, "list providers", providerCols, "providers", "", nil, opts, scanProvider)
}

// UpdateProvider stores p if its stored version is version.
func (db *DB) UpdateProvider(ctx context.Context, p *store.Provider, version int64) error {
	v, err := update(ctx, db, ref{table: "providers", what: "provider", id: p.ID}, version,
		`name = ?, description = ?, provider_type = ?, api_type = ?, config = ?, tags = ?`,
		[]any{p.Name, p.Description, p.ProviderType, p.APIType, jsonText(p.Config), listText(p.Tags)}, providerCols, scanProvider)
	if err != nil {
		return err
	}
	*p = *v
	return nil
}

// DeleteProvider deletes a provider; one that a stage uses is ECONFLICT.
func (db *DB) DeleteProvider(ctx context.Context, id string, version int64) error {
	return db.remove(ctx, ref{table: "providers", what: "provider", id: id}, version)
}

// ---- Projects.

const projectCols = `id, name, description, created_at, updated_at, version`

func scanProject(s scanner) (*store.Project, error) {
	var p store.Project
	var c, u time.Time
	if err := s.Scan(&p.ID, &p.Name, &p.Description, &c, &u, &p.Version); err != nil {
		return nil, err
	}
	p.CreatedAt, p.UpdatedAt = utc(c), utc(u)
	return &p, nil
}

// CreateProject stores a new project.
func (db *DB) CreateProject(ctx context.Context, p *store.Project) error {
	m := newMeta(p.Meta, store.PrefixProject)
	_, err := rb(db.pool).Exec(ctx, `INSERT INTO projects (`+projectCols+`) VALUES (?, ?, ?, ?, ?, ?)`,
		m.ID, p.Name, p.Description, m.CreatedAt, m.UpdatedAt, m.Version)
	if err != nil {
		return writeErr("create project", "project", err)
	}
	p.Meta = m
	return nil
}

// GetProject returns the project with the id.
func (db *DB) GetProject(ctx context.Context, id string) (*store.Project, error) {
	return get(ctx, db, ref{table: "projects", what: "project", id: id}, projectCols, scanProject)
}

// ListProjects returns a page of projects in creation order and their total.
func (db *DB) ListProjects(ctx context.Context, opts store.ListOptions) ([]*store.Project, int, error) {
	return list(ctx, db, "list projects", projectCols, "projects", "", nil, opts, scanProject)
}

// UpdateProject stores p if its stored version is version.
func (db *DB) UpdateProject(ctx context.Context, p *store.Project, version int64) error {
	v, err := update(ctx, db, ref{table: "projects", what: "project", id: p.ID}, version,
		`name = ?, description = ?`, []any{p.Name, p.Description}, projectCols, scanProject)
	if err != nil {
		return err
	}
	*p = *v
	return nil
}

// DeleteProject deletes a project with its agents, stages, API keys and
// conversations (foreign keys cascade).
func (db *DB) DeleteProject(ctx context.Context, id string, version int64) error {
	return db.remove(ctx, ref{table: "projects", what: "project", id: id}, version)
}

// ---- Agents.

const agentCols = `id, project_id, name, description, prompt, created_at, updated_at, version`

func scanAgent(s scanner) (*store.Agent, error) {
	var a store.Agent
	var c, u time.Time
	if err := s.Scan(&a.ID, &a.ProjectID, &a.Name, &a.Description, &a.Prompt, &c, &u, &a.Version); err != nil {
		return nil, err
	}
	a.CreatedAt, a.UpdatedAt = utc(c), utc(u)
	return &a, nil
}

func agentRef(projectID, id string) ref {
	return ref{table: "agents", what: "agent", id: id, projectID: projectID, scoped: true}
}

// CreateAgent stores a new agent; its project must exist (else EINVALID).
func (db *DB) CreateAgent(ctx context.Context, a *store.Agent) error {
	m := newMeta(a.Meta, store.PrefixAgent)
	_, err := rb(db.pool).Exec(ctx, `INSERT INTO agents (`+agentCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		m.ID, a.ProjectID, a.Name, a.Description, a.Prompt, m.CreatedAt, m.UpdatedAt, m.Version)
	if err != nil {
		return writeErr("create agent", "agent", err)
	}
	a.Meta = m
	return nil
}

// GetAgent returns the agent with the id in the project.
func (db *DB) GetAgent(ctx context.Context, projectID, id string) (*store.Agent, error) {
	return get(ctx, db, agentRef(projectID, id), agentCols, scanAgent)
}

// ListAgents returns a page of the project's agents and their total.
func (db *DB) ListAgents(ctx context.Context, projectID string, opts store.ListOptions) ([]*store.Agent, int, error) {
	return list(ctx, db, "list agents", agentCols, "agents", ` WHERE project_id = ?`, []any{projectID}, opts, scanAgent)
}

// UpdateAgent stores a if its stored version is version.
func (db *DB) UpdateAgent(ctx context.Context, a *store.Agent, version int64) error {
	v, err := update(ctx, db, agentRef(a.ProjectID, a.ID), version,
		`name = ?, description = ?, prompt = ?`, []any{a.Name, a.Description, a.Prompt}, agentCols, scanAgent)
	if err != nil {
		return err
	}
	*a = *v
	return nil
}

// DeleteAgent deletes an agent of the project.
func (db *DB) DeleteAgent(ctx context.Context, projectID, id string, version int64) error {
	return db.remove(ctx, agentRef(projectID, id), version)
}

// ---- Stages.

const stageCols = `id, project_id, name, description, prompt, llm_provider_id, llm_settings, agent_id, enter_behavior, metadata, created_at, updated_at, version`

func scanStage(s scanner) (*store.Stage, error) {
	var st store.Stage
	var provider, metadata *string
	var settings string
	var c, u time.Time
	if err := s.Scan(&st.ID, &st.ProjectID, &st.Name, &st.Description, &st.Prompt, &provider, &settings,
		&st.AgentID, &st.EnterBehavior, &metadata, &c, &u, &st.Version); err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(settings), &st.LLMSettings); err != nil {
		return nil, fmt.Errorf("decode llm settings: %w", err)
	}
	if provider != nil {
		st.LLMProviderID = *provider
	}
	st.Metadata = jsonBytes(metadata)
	st.CreatedAt, st.UpdatedAt = utc(c), utc(u)
	return &st, nil
}

func stageRef(projectID, id string) ref {
	return ref{table: "stages", what: "stage", id: id, projectID: projectID, scoped: true}
}

// CreateStage stores a new stage; its project and LLM provider must exist
// (else EINVALID).
func (db *DB) CreateStage(ctx context.Context, s *store.Stage) error {
	settings, err := json.Marshal(s.LLMSettings)
	if err != nil {
		return fmt.Errorf("postgres: encode llm settings: %w", err)
	}
	m := newMeta(s.Meta, store.PrefixStage)
	_, err = rb(db.pool).Exec(ctx, `INSERT INTO stages (`+stageCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		m.ID, s.ProjectID, s.Name, s.Description, s.Prompt, nullString(s.LLMProviderID), string(settings),
		s.AgentID, s.EnterBehavior, jsonText(s.Metadata), m.CreatedAt, m.UpdatedAt, m.Version)
	if err != nil {
		return writeErr("create stage", "stage", err)
	}
	s.Meta = m
	return nil
}

// GetStage returns the stage with the id in the project.
func (db *DB) GetStage(ctx context.Context, projectID, id string) (*store.Stage, error) {
	return get(ctx, db, stageRef(projectID, id), stageCols, scanStage)
}

// ListStages returns a page of the project's stages and their total.
func (db *DB) ListStages(ctx context.Context, projectID string, opts store.ListOptions) ([]*store.Stage, int, error) {
	return list(ctx, db, "list stages", stageCols, "stages", ` WHERE project_id = ?`, []any{projectID}, opts, scanStage)
}

// UpdateStage stores s if its stored version is version.
func (db *DB) UpdateStage(ctx context.Context, s *store.Stage, version int64) error {
	settings, err := json.Marshal(s.LLMSettings)
	if err != nil {
		return fmt.Errorf("postgres: encode llm settings: %w", err)
	}
	v, err := update(ctx, db, stageRef(s.ProjectID, s.ID), version,
		`name = ?, description = ?, prompt = ?, llm_provider_id = ?, llm_settings = ?, agent_id = ?, enter_behavior = ?, metadata = ?`,
		[]any{s.Name, s.Description, s.Prompt, nullString(s.LLMProviderID), string(settings), s.AgentID, s.EnterBehavior, jsonText(s.Metadata)},
		stageCols, scanStage)
	if err != nil {
		return err
	}
	*s = *v
	return nil
}

// DeleteStage deletes a stage of the project.
func (db *DB) DeleteStage(ctx context.Context, projectID, id string, version int64) error {
	return db.remove(ctx, stageRef(projectID, id), version)
}

// ---- API keys.

const apiKeyCols = `id, project_id, name, key_hash, key_preview, is_active, allowed_channels, allowed_features, metadata, last_used_at, created_at, updated_at, version`

func scanAPIKey(s scanner) (*store.APIKey, error) {
	var k store.APIKey
	var channels, features, metadata *string
	var last *time.Time
	var c, u time.Time
	if err := s.Scan(&k.ID, &k.ProjectID, &k.Name, &k.KeyHash, &k.KeyPreview, &k.IsActive, &channels, &features,
		&metadata, &last, &c, &u, &k.Version); err != nil {
		return nil, err
	}
	var err error
	if k.AllowedChannels, err = parseList(channels); err != nil {
		return nil, err
	}
	if k.AllowedFeatures, err = parseList(features); err != nil {
		return nil, err
	}
	k.Metadata = jsonBytes(metadata)
	k.LastUsedAt = timePtr(last)
	k.CreatedAt, k.UpdatedAt = utc(c), utc(u)
	return &k, nil
}

// CreateAPIKey stores a new API key; a key hash already stored is ECONFLICT.
func (db *DB) CreateAPIKey(ctx context.Context, k *store.APIKey) error {
	m := newMeta(k.Meta, store.PrefixAPIKey)
	_, err := rb(db.pool).Exec(ctx, `INSERT INTO api_keys (`+apiKeyCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		m.ID, k.ProjectID, k.Name, k.KeyHash, k.KeyPreview, k.IsActive, listText(k.AllowedChannels), listText(k.AllowedFeatures),
		jsonText(k.Metadata), k.LastUsedAt, m.CreatedAt, m.UpdatedAt, m.Version)
	if err != nil {
		return writeErr("create api key", "api key", err)
	}
	k.Meta = m
	return nil
}

// GetAPIKey returns the API key with the id.
func (db *DB) GetAPIKey(ctx context.Context, id string) (*store.APIKey, error) {
	return get(ctx, db, ref{table: "api_keys", what: "api key", id: id}, apiKeyCols, scanAPIKey)
}

// GetAPIKeyByHash returns the API key whose value hashes to hash.
func (db *DB) GetAPIKeyByHash(ctx context.Context, hash string) (*store.APIKey, error) {
	k, err := scanAPIKey(rb(db.pool).QueryRow(ctx, `SELECT `+apiKeyCols+` FROM api_keys WHERE key_hash = ?`, hash))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, store.Errorf(store.ENOTFOUND, "api key not found")
	}
	if err != nil {
		return nil, fmt.Errorf("postgres: get api key by hash: %w", err)
	}
	return k, nil
}

// ListAPIKeys returns a page of the project's API keys (every project's
// for projectID "") and their total.
func (db *DB) ListAPIKeys(ctx context.Context, projectID string, opts store.ListOptions) ([]*store.APIKey, int, error) {
	if projectID == "" {
		return list(ctx, db, "list api keys", apiKeyCols, "api_keys", "", nil, opts, scanAPIKey)
	}
	return list(ctx, db, "list api keys", apiKeyCols, "api_keys", ` WHERE project_id = ?`, []any{projectID}, opts, scanAPIKey)
}

// UpdateAPIKey stores k's name, preview, active flag, allowed lists,
// metadata and last use if its stored version is version. The project and
// the key hash never change.
func (db *DB) UpdateAPIKey(ctx context.Context, k *store.APIKey, version int64) error {
	v, err := update(ctx, db, ref{table: "api_keys", what: "api key", id: k.ID}, version,
		`name = ?, key_preview = ?, is_active = ?, allowed_channels = ?, allowed_features = ?, metadata = ?, last_used_at = ?`,
		[]any{k.Name, k.KeyPreview, k.IsActive, listText(k.AllowedChannels), listText(k.AllowedFeatures), jsonText(k.Metadata), k.LastUsedAt},
		apiKeyCols, scanAPIKey)
	if err != nil {
		return err
	}
	*k = *v
	return nil
}

// DeleteAPIKey deletes an API key.
func (db *DB) DeleteAPIKey(ctx context.Context, id string, version int64) error {
	return db.remove(ctx, ref{table: "api_keys", what: "api key", id: id}, version)
}
