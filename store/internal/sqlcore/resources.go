package sqlcore

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"switchboard/store"
)

// ---- Operators and tokens.

const operatorCols = `id, name, password_hash, roles, is_active, created_at, updated_at, version`

func scanOperator(s Scanner) (*store.Operator, error) {
	var o store.Operator
	var roles sql.NullString
	var c, u Time
	if err := s.Scan(&o.ID, &o.Name, &o.PasswordHash, &roles, &o.IsActive, &c, &u, &o.Version); err != nil {
		return nil, err
	}
	var err error
	if o.Roles, err = ParseList(roles); err != nil {
		return nil, err
	}
	o.CreatedAt, o.UpdatedAt = c.Time, u.Time
	return &o, nil
}

type execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

func (db *DB) insertOperator(ctx context.Context, q execer, op *store.Operator) error {
	m := NewMeta(op.Meta, store.PrefixOperator)
	_, err := q.ExecContext(ctx, db.d.Q(`INSERT INTO operators (`+operatorCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`),
		m.ID, op.Name, op.PasswordHash, ListText(op.Roles), op.IsActive, db.d.Time(m.CreatedAt), db.d.Time(m.UpdatedAt), m.Version)
	if err != nil {
		return db.d.WriteErr("create operator", "operator", err)
	}
	op.Meta = m
	return nil
}

// CountOperators returns the number of operators.
func (db *DB) CountOperators(ctx context.Context) (int, error) {
	return db.count(ctx, "count operators", `SELECT COUNT(*) FROM operators`)
}

// CreateFirstOperator creates op only if there is no operator yet. The
// check and the insert are atomic: SQLite's single writer connection
// serialises them, PostgreSQL takes the dialect's self-conflicting table
// lock first.
func (db *DB) CreateFirstOperator(ctx context.Context, op *store.Operator) error {
	return db.inTx(ctx, "create first operator", func(tx *sql.Tx) error {
		if db.d.LockTable != "" {
			if _, err := tx.ExecContext(ctx, fmt.Sprintf(db.d.LockTable, "operators")); err != nil {
				return db.d.Errorf("create first operator: %w", err)
			}
		}
		var exists bool
		if err := tx.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM operators)`).Scan(&exists); err != nil {
			return db.d.Errorf("create first operator: %w", err)
		}
		if exists {
			return store.Errorf(store.ECONFLICT, "setup is already done")
		}
		return db.insertOperator(ctx, tx, op)
	})
}

// CreateOperator stores a new operator.
func (db *DB) CreateOperator(ctx context.Context, op *store.Operator) error {
	if err := db.guard(); err != nil {
		return err
	}
	if err := db.insertOperator(ctx, db.writer, op); err != nil {
		return err
	}
	return db.wrote()
}

// GetOperator returns the operator with the id.
func (db *DB) GetOperator(ctx context.Context, id string) (*store.Operator, error) {
	return get(ctx, db, Ref{Table: "operators", What: "operator", ID: id}, operatorCols, scanOperator)
}

// ListOperators returns a page of operators (newest first by default) and their total.
func (db *DB) ListOperators(ctx context.Context, opts store.ListOptions) ([]*store.Operator, int, error) {
	return listOf(ctx, db, "list operators", operatorList, operatorCols, "operators", opts, scanOperator, "")
}

// UpdateOperator stores op's name, password hash, roles and active flag if
// its stored version is version.
func (db *DB) UpdateOperator(ctx context.Context, op *store.Operator, version int64) error {
	v, err := update(ctx, db, Ref{Table: "operators", What: "operator", ID: op.ID}, version,
		`name = ?, password_hash = ?, roles = ?, is_active = ?`,
		[]any{op.Name, op.PasswordHash, ListText(op.Roles), op.IsActive}, operatorCols, scanOperator)
	if err != nil {
		return err
	}
	*op = *v
	return nil
}

// DeleteOperator deletes an operator and its tokens.
func (db *DB) DeleteOperator(ctx context.Context, id string, version int64) error {
	return db.remove(ctx, Ref{Table: "operators", What: "operator", ID: id}, version)
}

// CreateToken stores a token (CreatedAt defaults to now).
func (db *DB) CreateToken(ctx context.Context, t *store.Token) error {
	created := t.CreatedAt
	if created.IsZero() {
		created = Now()
	}
	_, err := db.exec(ctx, `INSERT INTO tokens (hash, operator_id, kind, session, expires_at, created_at) VALUES (?, ?, ?, ?, ?, ?)`,
		t.Hash, t.OperatorID, t.Kind, t.Session, db.d.Time(t.ExpiresAt), db.d.Time(created))
	if err != nil {
		return db.d.WriteErr("create token", "token", err)
	}
	t.CreatedAt = created.UTC().Truncate(time.Microsecond)
	return nil
}

// GetToken returns the token with the hash if it expires after now.
func (db *DB) GetToken(ctx context.Context, hash string, at time.Time) (*store.Token, error) {
	return getOne(ctx, db, "get token", notFoundMsg("token not found"), func(s Scanner) (*store.Token, error) {
		var t store.Token
		var e, c Time
		if err := s.Scan(&t.Hash, &t.OperatorID, &t.Kind, &t.Session, &e, &c); err != nil {
			return nil, err
		}
		t.ExpiresAt, t.CreatedAt = e.Time, c.Time
		return &t, nil
	}, `SELECT hash, operator_id, kind, session, expires_at, created_at FROM tokens WHERE hash = ? AND expires_at > ?`, hash, db.d.Time(at))
}

// DeleteToken deletes the token with the hash.
func (db *DB) DeleteToken(ctx context.Context, hash string) error {
	n, err := db.exec(ctx, `DELETE FROM tokens WHERE hash = ?`, hash)
	if err != nil {
		return db.d.Errorf("delete token: %w", err)
	}
	if n == 0 {
		return store.Errorf(store.ENOTFOUND, "token not found")
	}
	return nil
}

// ---- Providers.

const providerCols = `id, name, description, provider_type, api_type, config, tags, created_at, updated_at, version`

func scanProvider(s Scanner) (*store.Provider, error) {
	var p store.Provider
	var config, tags sql.NullString
	var c, u Time
	if err := s.Scan(&p.ID, &p.Name, &p.Description, &p.ProviderType, &p.APIType, &config, &tags, &c, &u, &p.Version); err != nil {
		return nil, err
	}
	var err error
	if p.Tags, err = ParseList(tags); err != nil {
		return nil, err
	}
	p.Config = JSONBytes(config)
	p.CreatedAt, p.UpdatedAt = c.Time, u.Time
	return &p, nil
}

// CreateProvider stores a new provider.
func (db *DB) CreateProvider(ctx context.Context, p *store.Provider) error {
	m := NewMeta(p.Meta, store.PrefixProvider)
	_, err := db.exec(ctx, `INSERT INTO providers (`+providerCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		m.ID, p.Name, p.Description, p.ProviderType, p.APIType, JSONText(p.Config), ListText(p.Tags),
		db.d.Time(m.CreatedAt), db.d.Time(m.UpdatedAt), m.Version)
	if err != nil {
		return db.d.WriteErr("create provider", "provider", err)
	}
	p.Meta = m
	return nil
}

// GetProvider returns the provider with the id.
func (db *DB) GetProvider(ctx context.Context, id string) (*store.Provider, error) {
	return get(ctx, db, Ref{Table: "providers", What: "provider", ID: id}, providerCols, scanProvider)
}

// ListProviders returns a page of providers (newest first by default) and their total.
func (db *DB) ListProviders(ctx context.Context, opts store.ListOptions) ([]*store.Provider, int, error) {
	return listOf(ctx, db, "list providers", providerList, providerCols, "providers", opts, scanProvider, "")
}

// UpdateProvider stores p if its stored version is version.
func (db *DB) UpdateProvider(ctx context.Context, p *store.Provider, version int64) error {
	v, err := update(ctx, db, Ref{Table: "providers", What: "provider", ID: p.ID}, version,
		`name = ?, description = ?, provider_type = ?, api_type = ?, config = ?, tags = ?`,
		[]any{p.Name, p.Description, p.ProviderType, p.APIType, JSONText(p.Config), ListText(p.Tags)}, providerCols, scanProvider)
	if err != nil {
		return err
	}
	*p = *v
	return nil
}

// DeleteProvider deletes a provider; one that a stage uses is ECONFLICT.
func (db *DB) DeleteProvider(ctx context.Context, id string, version int64) error {
	return db.remove(ctx, Ref{Table: "providers", What: "provider", ID: id}, version)
}

// ---- Projects.

const projectCols = `id, name, description, timezone, archived_at, archived_by, cost_management_config, created_at, updated_at, version`

func scanProject(s Scanner) (*store.Project, error) {
	var p store.Project
	var tz, by, costs sql.NullString
	var archived NullTime
	var c, u Time
	if err := s.Scan(&p.ID, &p.Name, &p.Description, &tz, &archived, &by, &costs, &c, &u, &p.Version); err != nil {
		return nil, err
	}
	p.Timezone, p.ArchivedAt, p.ArchivedBy = nullString(tz), archived.T, nullString(by)
	p.CostManagementConfig = JSONBytes(costs)
	p.CreatedAt, p.UpdatedAt = c.Time, u.Time
	return &p, nil
}

// nullString is a scanned optional text: nil for NULL.
func nullString(s sql.NullString) *string {
	if !s.Valid {
		return nil
	}
	return &s.String
}

// stringOrNull is an optional text to store: NULL for nil.
func stringOrNull(s *string) any {
	if s == nil {
		return nil
	}
	return *s
}

// CreateProject stores a new project.
func (db *DB) CreateProject(ctx context.Context, p *store.Project) error {
	if err := db.guard(); err != nil {
		return err
	}
	if err := db.insertProject(ctx, db.writer, p, NewMeta(p.Meta, store.PrefixProject)); err != nil {
		return err
	}
	return db.wrote()
}

// insertProject inserts p with the Meta m through q and sets p.Meta.
func (db *DB) insertProject(ctx context.Context, q execer, p *store.Project, m store.Meta) error {
	_, err := q.ExecContext(ctx, db.d.Q(`INSERT INTO projects (`+projectCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`),
		m.ID, p.Name, p.Description, stringOrNull(p.Timezone), db.d.NullTime(p.ArchivedAt), stringOrNull(p.ArchivedBy),
		JSONText(p.CostManagementConfig), db.d.Time(m.CreatedAt), db.d.Time(m.UpdatedAt), m.Version)
	if err != nil {
		return db.d.WriteErr("create project", "project", err)
	}
	p.Meta = m
	return nil
}

// GetProject returns the project with the id.
func (db *DB) GetProject(ctx context.Context, id string) (*store.Project, error) {
	return get(ctx, db, Ref{Table: "projects", What: "project", ID: id}, projectCols, scanProject)
}

// ListProjects returns a page of projects (newest first by default) and their total.
func (db *DB) ListProjects(ctx context.Context, opts store.ListOptions) ([]*store.Project, int, error) {
	return listOf(ctx, db, "list projects", projectList, projectCols, "projects", opts, scanProject, "")
}

// UpdateProject stores p (its archive fields too) if its stored version is
// version.
func (db *DB) UpdateProject(ctx context.Context, p *store.Project, version int64) error {
	v, err := update(ctx, db, Ref{Table: "projects", What: "project", ID: p.ID}, version,
		`name = ?, description = ?, timezone = ?, archived_at = ?, archived_by = ?, cost_management_config = ?`,
		[]any{p.Name, p.Description, stringOrNull(p.Timezone), db.d.NullTime(p.ArchivedAt), stringOrNull(p.ArchivedBy),
			JSONText(p.CostManagementConfig)},
		projectCols, scanProject)
	if err != nil {
		return err
	}
	*p = *v
	return nil
}

// DeleteProject deletes a project with its agents, stages, API keys and
// conversations (foreign keys cascade).
func (db *DB) DeleteProject(ctx context.Context, id string, version int64) error {
	return db.remove(ctx, Ref{Table: "projects", What: "project", ID: id}, version)
}

// ---- Agents.

const agentCols = `id, project_id, name, description, prompt, created_at, updated_at, version`

func scanAgent(s Scanner) (*store.Agent, error) {
	var a store.Agent
	var c, u Time
	if err := s.Scan(&a.ID, &a.ProjectID, &a.Name, &a.Description, &a.Prompt, &c, &u, &a.Version); err != nil {
		return nil, err
	}
	a.CreatedAt, a.UpdatedAt = c.Time, u.Time
	return &a, nil
}

func agentRef(projectID, id string) Ref {
	return Ref{Table: "agents", What: "agent", ID: id, ProjectID: projectID, Scoped: true}
}

// CreateAgent stores a new agent; its project must exist (else EINVALID).
func (db *DB) CreateAgent(ctx context.Context, a *store.Agent) error {
	if err := db.guard(); err != nil {
		return err
	}
	if err := db.insertAgent(ctx, db.writer, a, NewMeta(a.Meta, store.PrefixAgent)); err != nil {
		return err
	}
	return db.wrote()
}

// insertAgent inserts a with the Meta m through q and sets a.Meta.
func (db *DB) insertAgent(ctx context.Context, q execer, a *store.Agent, m store.Meta) error {
	_, err := q.ExecContext(ctx, db.d.Q(`INSERT INTO agents (`+agentCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`),
		m.ID, a.ProjectID, a.Name, a.Description, a.Prompt, db.d.Time(m.CreatedAt), db.d.Time(m.UpdatedAt), m.Version)
	if err != nil {
		return db.d.WriteErr("create agent", "agent", err)
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
	return listOf(ctx, db, "list agents", agentList, agentCols, "agents", opts, scanAgent, `project_id = ?`, projectID)
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

func scanStage(s Scanner) (*store.Stage, error) {
	var st store.Stage
	var provider, metadata sql.NullString
	var settings string
	var c, u Time
	if err := s.Scan(&st.ID, &st.ProjectID, &st.Name, &st.Description, &st.Prompt, &provider, &settings,
		&st.AgentID, &st.EnterBehavior, &metadata, &c, &u, &st.Version); err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(settings), &st.LLMSettings); err != nil {
		return nil, fmt.Errorf("decode llm settings: %w", err)
	}
	st.LLMProviderID = provider.String
	st.Metadata = JSONBytes(metadata)
	st.CreatedAt, st.UpdatedAt = c.Time, u.Time
	return &st, nil
}

func stageRef(projectID, id string) Ref {
	return Ref{Table: "stages", What: "stage", ID: id, ProjectID: projectID, Scoped: true}
}

// CreateStage stores a new stage; its project and LLM provider must exist
// (else EINVALID).
func (db *DB) CreateStage(ctx context.Context, s *store.Stage) error {
	if err := db.guard(); err != nil {
		return err
	}
	if err := db.insertStage(ctx, db.writer, s, NewMeta(s.Meta, store.PrefixStage)); err != nil {
		return err
	}
	return db.wrote()
}

// insertStage inserts s with the Meta m through q and sets s.Meta.
func (db *DB) insertStage(ctx context.Context, q execer, s *store.Stage, m store.Meta) error {
	settings, err := json.Marshal(s.LLMSettings)
	if err != nil {
		return db.d.Errorf("encode llm settings: %w", err)
	}
	_, err = q.ExecContext(ctx, db.d.Q(`INSERT INTO stages (`+stageCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`),
		m.ID, s.ProjectID, s.Name, s.Description, s.Prompt, NullString(s.LLMProviderID), string(settings),
		s.AgentID, s.EnterBehavior, JSONText(s.Metadata), db.d.Time(m.CreatedAt), db.d.Time(m.UpdatedAt), m.Version)
	if err != nil {
		return db.d.WriteErr("create stage", "stage", err)
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
	return listOf(ctx, db, "list stages", stageList, stageCols, "stages", opts, scanStage, `project_id = ?`, projectID)
}

// UpdateStage stores s if its stored version is version.
func (db *DB) UpdateStage(ctx context.Context, s *store.Stage, version int64) error {
	settings, err := json.Marshal(s.LLMSettings)
	if err != nil {
		return db.d.Errorf("encode llm settings: %w", err)
	}
	v, err := update(ctx, db, stageRef(s.ProjectID, s.ID), version,
		`name = ?, description = ?, prompt = ?, llm_provider_id = ?, llm_settings = ?, agent_id = ?, enter_behavior = ?, metadata = ?`,
		[]any{s.Name, s.Description, s.Prompt, NullString(s.LLMProviderID), string(settings), s.AgentID, s.EnterBehavior, JSONText(s.Metadata)},
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

func scanAPIKey(s Scanner) (*store.APIKey, error) {
	var k store.APIKey
	var channels, features, metadata sql.NullString
	var last NullTime
	var c, u Time
	if err := s.Scan(&k.ID, &k.ProjectID, &k.Name, &k.KeyHash, &k.KeyPreview, &k.IsActive, &channels, &features,
		&metadata, &last, &c, &u, &k.Version); err != nil {
		return nil, err
	}
	var err error
	if k.AllowedChannels, err = ParseList(channels); err != nil {
		return nil, err
	}
	if k.AllowedFeatures, err = ParseList(features); err != nil {
		return nil, err
	}
	k.Metadata = JSONBytes(metadata)
	k.LastUsedAt = last.T
	k.CreatedAt, k.UpdatedAt = c.Time, u.Time
	return &k, nil
}

// CreateAPIKey stores a new API key; a key hash already stored is ECONFLICT.
func (db *DB) CreateAPIKey(ctx context.Context, k *store.APIKey) error {
	m := NewMeta(k.Meta, store.PrefixAPIKey)
	_, err := db.exec(ctx, `INSERT INTO api_keys (`+apiKeyCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		m.ID, k.ProjectID, k.Name, k.KeyHash, k.KeyPreview, k.IsActive, ListText(k.AllowedChannels), ListText(k.AllowedFeatures),
		JSONText(k.Metadata), db.d.NullTime(k.LastUsedAt), db.d.Time(m.CreatedAt), db.d.Time(m.UpdatedAt), m.Version)
	if err != nil {
		return db.d.WriteErr("create api key", "api key", err)
	}
	k.Meta = m
	return nil
}

// GetAPIKey returns the API key with the id.
func (db *DB) GetAPIKey(ctx context.Context, id string) (*store.APIKey, error) {
	return get(ctx, db, Ref{Table: "api_keys", What: "api key", ID: id}, apiKeyCols, scanAPIKey)
}

// GetAPIKeyByHash returns the API key whose value hashes to hash.
func (db *DB) GetAPIKeyByHash(ctx context.Context, hash string) (*store.APIKey, error) {
	return getOne(ctx, db, "get api key by hash", notFoundMsg("api key not found"), scanAPIKey,
		`SELECT `+apiKeyCols+` FROM api_keys WHERE key_hash = ?`, hash)
}

// ListAPIKeys returns a page of the project's API keys (every project's
// for projectID "") and their total.
func (db *DB) ListAPIKeys(ctx context.Context, projectID string, opts store.ListOptions) ([]*store.APIKey, int, error) {
	if projectID == "" {
		return listOf(ctx, db, "list api keys", apiKeyList, apiKeyCols, "api_keys", opts, scanAPIKey, "")
	}
	return listOf(ctx, db, "list api keys", apiKeyList, apiKeyCols, "api_keys", opts, scanAPIKey, `project_id = ?`, projectID)
}

// UpdateAPIKey stores k's name, preview, active flag, allowed lists,
// metadata and last use if its stored version is version. The project and
// the key hash never change.
func (db *DB) UpdateAPIKey(ctx context.Context, k *store.APIKey, version int64) error {
	v, err := update(ctx, db, Ref{Table: "api_keys", What: "api key", ID: k.ID}, version,
		`name = ?, key_preview = ?, is_active = ?, allowed_channels = ?, allowed_features = ?, metadata = ?, last_used_at = ?`,
		[]any{k.Name, k.KeyPreview, k.IsActive, ListText(k.AllowedChannels), ListText(k.AllowedFeatures), JSONText(k.Metadata), db.d.NullTime(k.LastUsedAt)},
		apiKeyCols, scanAPIKey)
	if err != nil {
		return err
	}
	*k = *v
	return nil
}

// DeleteAPIKey deletes an API key.
func (db *DB) DeleteAPIKey(ctx context.Context, id string, version int64) error {
	return db.remove(ctx, Ref{Table: "api_keys", What: "api key", ID: id}, version)
}
