package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"switchboard/store"
)

// Bonsai's project exchange (its ProjectExchangeService and contract
// projectExchange.ts; the console's Export and Import buttons):
//
//   - GET /api/projects/{id}/export (project:read) answers the project as a
//     version 1 bundle: the project, its agents and its stages, with each
//     stage's LLM provider replaced by a provider hint (providerType and
//     apiType; never the provider's config or secrets). IDs are kept as
//     cross-references inside the bundle. Bonsai's sections Switchboard
//     does not have (classifiers, tools, knowledge, …) are empty arrays,
//     so that Bonsai imports the bundle too. API keys are not exported
//     (Bonsai does not export them either).
//   - POST /api/projects/import (project:write) creates a new project from
//     a bundle, with new IDs for everything, in one store transaction
//     together with the audit entries of every record it creates: all or
//     nothing. Hints are resolved as Bonsai resolves them (see
//     resolveHint); what Switchboard cannot store is refused with 400
//     naming the place in the bundle. Bonsai's sections Switchboard does
//     not have are accepted and skipped (as Bonsai's fields are
//     everywhere), and the answer counts what was skipped.

// exchangeFormatVersion is the one exchange format version (Bonsai's
// formatVersion 1).
const exchangeFormatVersion = 1

// maxImportBytes caps an import's body: a Bonsai bundle carries sections
// Switchboard skips (knowledge bases, tools' code) and may exceed the
// 1 MiB of other requests.
const maxImportBytes = 8 << 20

// bodyLimit is the largest request body the route at path reads.
func bodyLimit(path string) int64 {
	if path == "/api/projects/import" {
		return maxImportBytes
	}
	return maxBodyBytes
}

// providerHint is Bonsai's ProviderHint: the kind of provider a field
// needs, without credentials. ProviderID is Switchboard's addition: the
// exporting server's provider, which an import into the same server uses
// when it still exists with that type and apiType (Bonsai's parser drops
// keys it does not know, so Bonsai imports such a bundle unchanged).
type providerHint struct {
	Type           string `json:"type"`
	APIType        string `json:"apiType"`
	PreferredModel string `json:"preferredModel,omitempty"`
	ProviderID     string `json:"providerId,omitempty"`
}

// The bundle as Switchboard exports it: Bonsai's ProjectExchangeBundleV1
// with the fields Switchboard has.
type (
	exchangeBundle struct {
		FormatVersion       int               `json:"formatVersion"`
		ExportedAt          string            `json:"exportedAt"`
		Project             exchangeProject   `json:"project"`
		Agents              []exchangeAgent   `json:"agents"`
		Stages              []exchangeStage   `json:"stages"`
		Classifiers         []json.RawMessage `json:"classifiers"`
		ContextTransformers []json.RawMessage `json:"contextTransformers"`
		Tools               []json.RawMessage `json:"tools"`
		GlobalActions       []json.RawMessage `json:"globalActions"`
		Guardrails          []json.RawMessage `json:"guardrails"`
		KnowledgeCategories []json.RawMessage `json:"knowledgeCategories"`
		KnowledgeItems      []json.RawMessage `json:"knowledgeItems"`
	}
	exchangeProject struct {
		ID          string  `json:"id"`
		Name        string  `json:"name"`
		Description string  `json:"description"`
		Timezone    *string `json:"timezone"`
	}
	exchangeAgent struct {
		ID          string `json:"id"`
		Name        string `json:"name"`
		Description string `json:"description"`
		Prompt      string `json:"prompt"`
	}
	exchangeStage struct {
		ID            string            `json:"id"`
		Name          string            `json:"name"`
		Description   string            `json:"description"`
		Prompt        string            `json:"prompt"`
		LLMHint       *providerHint     `json:"llmHint"`
		LLMSettings   store.LLMSettings `json:"llmSettings"`
		AgentID       string            `json:"agentId"` // "" for none: Bonsai's schema has a string
		EnterBehavior string            `json:"enterBehavior"`
		Metadata      json.RawMessage   `json:"metadata"` // null for none
	}
)

// bonsaiOnlySections are the bundle's sections of Bonsai features
// Switchboard does not have, in Bonsai's order.
var bonsaiOnlySections = []string{"classifiers", "contextTransformers", "tools", "globalActions", "guardrails",
	"knowledgeCategories", "knowledgeItems"}

// exportProject is GET /api/projects/{id}/export.
func (s *Server) exportProject(w http.ResponseWriter, r *http.Request) error {
	err := s.exportBundle(w, r)
	s.metrics.exchange("export", err)
	return err
}

func (s *Server) exportBundle(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	// The bundle holds the project's agents and stages: reading them is
	// part of reading it (every role that reads projects reads both).
	if err := requirePermissions(r, perm(entAgent, actRead), perm(entStage, actRead)); err != nil {
		return err
	}
	p, err := s.st.GetProject(ctx, pathVar(r, "id"))
	if err != nil {
		return fmt.Errorf("api: get project: %w", err)
	}
	agents, err := listAll(ctx, func(o store.ListOptions) ([]*store.Agent, int, error) { return s.st.ListAgents(ctx, p.ID, o) })
	if err != nil {
		return fmt.Errorf("api: list agents: %w", err)
	}
	stages, err := listAll(ctx, func(o store.ListOptions) ([]*store.Stage, int, error) { return s.st.ListStages(ctx, p.ID, o) })
	if err != nil {
		return fmt.Errorf("api: list stages: %w", err)
	}
	b := exchangeBundle{
		FormatVersion: exchangeFormatVersion,
		ExportedAt:    s.now().Format("2006-01-02T15:04:05.000Z07:00"), // JavaScript's toISOString, as Bonsai writes it
		Project:       exchangeProject{ID: p.ID, Name: p.Name, Description: p.Description, Timezone: p.Timezone},
		Agents:        []exchangeAgent{},
		Stages:        []exchangeStage{},
		Classifiers:   []json.RawMessage{}, ContextTransformers: []json.RawMessage{}, Tools: []json.RawMessage{},
		GlobalActions: []json.RawMessage{}, Guardrails: []json.RawMessage{},
		KnowledgeCategories: []json.RawMessage{}, KnowledgeItems: []json.RawMessage{},
	}
	for _, a := range agents {
		b.Agents = append(b.Agents, exchangeAgent{ID: a.ID, Name: a.Name, Description: a.Description, Prompt: a.Prompt})
	}
	hints := map[string]*providerHint{}
	for _, st := range stages {
		hint, ok := hints[st.LLMProviderID]
		if !ok && st.LLMProviderID != "" {
			prov, err := s.st.GetProvider(ctx, st.LLMProviderID)
			switch {
			case err == nil:
				hint = &providerHint{Type: prov.ProviderType, APIType: prov.APIType, ProviderID: prov.ID}
			case store.ErrorCode(err) != store.ENOTFOUND:
				return fmt.Errorf("api: get provider: %w", err)
			}
			hints[st.LLMProviderID] = hint
		}
		b.Stages = append(b.Stages, exchangeStage{ID: st.ID, Name: st.Name, Description: st.Description, Prompt: st.Prompt,
			LLMHint: hint, LLMSettings: st.LLMSettings, AgentID: st.AgentID, EnterBehavior: st.EnterBehavior, Metadata: st.Metadata})
	}
	writeJSON(w, http.StatusOK, b)
	return nil
}

// listAll reads every page of a list, oldest first.
func listAll[T any](ctx context.Context, list func(store.ListOptions) ([]*T, int, error)) ([]*T, error) {
	var all []*T
	for {
		page, total, err := list(store.ListOptions{Offset: len(all), Limit: store.MaxListLimit,
			OrderBy: []store.Order{{Field: "createdAt"}}})
		if err != nil {
			return nil, err
		}
		all = append(all, page...)
		if len(page) == 0 || len(all) >= total || ctx.Err() != nil {
			return all, ctx.Err()
		}
	}
}

// requirePermissions refuses a caller that lacks one of perms.
func requirePermissions(r *http.Request, perms ...string) error {
	op := currentOperator(r)
	for _, p := range perms {
		if op == nil || !hasPermission(op.Roles, p) {
			return &store.Error{Code: store.EFORBIDDEN, Message: "missing permission " + p, Details: map[string]string{"permission": p}}
		}
	}
	return nil
}

// The answer to an import: Bonsai's ProjectExchangeImportResult, plus
// Switchboard's ignored (what the bundle held of the sections it skips).
type (
	importResult struct {
		ProjectID          string           `json:"projectId"`
		Counts             importCounts     `json:"counts"`
		ProviderResolution []hintResolution `json:"providerResolution"`
		Ignored            map[string]int   `json:"ignored"`
	}
	importCounts struct {
		Agents              int `json:"agents"`
		Stages              int `json:"stages"`
		Classifiers         int `json:"classifiers"`
		ContextTransformers int `json:"contextTransformers"`
		Tools               int `json:"tools"`
		GlobalActions       int `json:"globalActions"`
		Guardrails          int `json:"guardrails"`
		KnowledgeCategories int `json:"knowledgeCategories"`
		KnowledgeItems      int `json:"knowledgeItems"`
	}
	hintResolution struct {
		Hint               providerHint `json:"hint"`
		ResolvedProviderID *string      `json:"resolvedProviderId"`
		Resolved           bool         `json:"resolved"`
		Targets            []hintTarget `json:"targets"`
	}
	hintTarget struct {
		EntityType string `json:"entityType"`
		EntityID   string `json:"entityId"`
		EntityName string `json:"entityName"`
		Field      string `json:"field"`
	}
)

// The bundle as an import reads it: only what Switchboard uses, each
// part decoded on its own so that an error names where it is
// (stages[2].llmSettings.timeout).
type (
	bundleIn struct {
		FormatVersion json.RawMessage            `json:"formatVersion"`
		ExportedAt    json.RawMessage            `json:"exportedAt"`
		Project       json.RawMessage            `json:"project"`
		Agents        json.RawMessage            `json:"agents"`
		Stages        json.RawMessage            `json:"stages"`
		sections      map[string]json.RawMessage // the Bonsai-only sections, by name
	}
	projectIn struct {
		ID          *string          `json:"id"`
		Name        *string          `json:"name"`
		Description *string          `json:"description"`
		Timezone    nullable[string] `json:"timezone"`
	}
	agentIn struct {
		ID          *string `json:"id"`
		Name        *string `json:"name"`
		Description *string `json:"description"`
		Prompt      *string `json:"prompt"`
	}
	stageIn struct {
		ID            *string           `json:"id"`
		Name          *string           `json:"name"`
		Description   *string           `json:"description"`
		Prompt        *string           `json:"prompt"`
		LLMHint       json.RawMessage   `json:"llmHint"`
		LLMSettings   *llmSettingsPatch `json:"llmSettings"`
		AgentID       *string           `json:"agentId"`
		EnterBehavior *string           `json:"enterBehavior"`
		Metadata      json.RawMessage   `json:"metadata"`
	}
	hintIn struct {
		Type           *string `json:"type"`
		APIType        *string `json:"apiType"`
		PreferredModel *string `json:"preferredModel"`
		ProviderID     *string `json:"providerId"`
	}
)

// importProject is POST /api/projects/import.
func (s *Server) importProject(w http.ResponseWriter, r *http.Request) error {
	err := s.importBundle(w, r)
	s.metrics.exchange("import", err)
	return err
}

func (s *Server) importBundle(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	raw, err := readBody(r)
	if err != nil {
		return err
	}
	var in bundleIn
	if err := decodeJSON(raw, &in); err != nil {
		return err
	}
	if err := json.Unmarshal(raw, &in.sections); err != nil { // an object: decodeJSON read it
		return fmt.Errorf("api: import: %w", err)
	}
	if err := checkFormat(&in); err != nil {
		return err
	}
	var pin projectIn
	if err := decodeAt("project", in.Project, &pin); err != nil {
		return err
	}
	agentsRaw, err := arrayAt("agents", in.Agents)
	if err != nil {
		return err
	}
	stagesRaw, err := arrayAt("stages", in.Stages)
	if err != nil {
		return err
	}
	ignored := map[string]int{}
	for _, name := range bonsaiOnlySections {
		items, err := optionalArrayAt(name, in.sections[name])
		if err != nil {
			return err
		}
		ignored[name] = len(items)
	}
	// An import creates agents and stages too (every role that writes
	// projects writes both; Bonsai asks for project:write only).
	if len(agentsRaw) > 0 {
		if err := requirePermissions(r, perm(entAgent, actWrite)); err != nil {
			return err
		}
	}
	if len(stagesRaw) > 0 {
		if err := requirePermissions(r, perm(entStage, actWrite)); err != nil {
			return err
		}
	}

	now := s.now()
	project, err := importedProject(&pin, now)
	if err != nil {
		return err
	}
	agents := make([]*store.Agent, 0, len(agentsRaw))
	agentIDs := map[string]string{} // bundle ID → new ID
	for i, raw := range agentsRaw {
		path := fmt.Sprintf("agents[%d]", i)
		a, oldID, err := importedAgent(path, raw, project.ID)
		if err != nil {
			return err
		}
		if _, dup := agentIDs[oldID]; dup {
			return store.FieldError(path+".id", "%q is the id of an earlier agent of the bundle", oldID)
		}
		agentIDs[oldID] = a.ID
		agents = append(agents, a)
	}
	stages := make([]*store.Stage, 0, len(stagesRaw))
	stageIDs := map[string]bool{}
	var resolutions []*hintResolution
	byHint := map[providerHint]*hintResolution{}
	for i, raw := range stagesRaw {
		path := fmt.Sprintf("stages[%d]", i)
		st, oldID, hint, err := importedStage(path, raw, project.ID, agentIDs)
		if err != nil {
			return err
		}
		if stageIDs[oldID] {
			return store.FieldError(path+".id", "%q is the id of an earlier stage of the bundle", oldID)
		}
		stageIDs[oldID] = true
		key := hint
		key.PreferredModel = "" // a hint is its provider kind (and id); the model is the stage's
		res, ok := byHint[key]
		if !ok {
			id, err := s.resolveHint(ctx, hint)
			if err != nil {
				return err
			}
			if id == "" {
				return store.FieldError(path+".llmHint", "no LLM provider on this server for the hint %s; a Switchboard stage needs one: create an llm provider (POST /api/providers) and import again", hintString(hint))
			}
			res = &hintResolution{Hint: hint, ResolvedProviderID: &id, Resolved: true, Targets: []hintTarget{}}
			byHint[key] = res
			resolutions = append(resolutions, res)
		}
		res.Targets = append(res.Targets, hintTarget{EntityType: "stage", EntityID: st.ID, EntityName: st.Name, Field: "llmProviderId"})
		st.LLMProviderID = *res.ResolvedProviderID
		if err := s.checkStageFields(ctx, st); err != nil {
			return within(path, err)
		}
		stages = append(stages, st)
	}

	operatorID := currentOperator(r).ID
	imp := &store.ProjectImport{Project: project, Agents: agents, Stages: stages}
	imp.Audit = func() []*store.AuditEntry {
		records := []any{project}
		for _, a := range agents {
			records = append(records, a)
		}
		for _, st := range stages {
			records = append(records, st)
		}
		entries := make([]*store.AuditEntry, 0, len(records))
		for _, rec := range records {
			e := CreatedEntry(operatorID, rec)
			s.auditOrigin(r, e)
			entries = append(entries, e)
		}
		return entries
	}
	if err := s.st.ImportProject(ctx, imp); err != nil {
		return fmt.Errorf("api: import project: %w", err)
	}
	out := importResult{ProjectID: project.ID, Counts: importCounts{Agents: len(agents), Stages: len(stages)},
		ProviderResolution: []hintResolution{}, Ignored: ignored}
	for _, res := range resolutions {
		out.ProviderResolution = append(out.ProviderResolution, *res)
	}
	writeJSON(w, http.StatusCreated, out)
	return nil
}

// checkFormat checks the bundle's version and time (Bonsai's
// formatVersion, a literal 1, and exportedAt, an ISO 8601 time).
func checkFormat(in *bundleIn) error {
	if len(in.FormatVersion) == 0 {
		return store.FieldError("formatVersion", "required: this is not a project exchange bundle")
	}
	var v any
	d := json.NewDecoder(bytes.NewReader(in.FormatVersion))
	d.UseNumber()
	_ = d.Decode(&v) // valid JSON: decodeJSON read it
	n, ok := v.(json.Number)
	if !ok {
		return store.FieldError("formatVersion", "must be a number")
	}
	if f, err := n.Float64(); err != nil || f != exchangeFormatVersion {
		return store.FieldError("formatVersion", "unsupported exchange format version %s: Switchboard reads version %d", n, exchangeFormatVersion)
	}
	var at string
	if len(in.ExportedAt) == 0 {
		return store.FieldError("exportedAt", "required")
	}
	if err := json.Unmarshal(in.ExportedAt, &at); err != nil {
		return store.FieldError("exportedAt", "must be a string")
	}
	if _, err := time.Parse(time.RFC3339Nano, at); err != nil {
		return store.FieldError("exportedAt", "must be an ISO 8601 time such as 2026-01-02T15:04:05.000Z")
	}
	return nil
}

// importedProject is the new project of a bundle's project: a new ID,
// and its name followed by when it was imported, as Bonsai names an
// imported project (so it is told from the original in the same list).
func importedProject(in *projectIn, now time.Time) (*store.Project, error) {
	if in.ID == nil {
		return nil, store.FieldError("project.id", "required")
	}
	if in.Name == nil {
		return nil, store.FieldError("project.name", "required")
	}
	name, err := requireName("project.name", *in.Name)
	if err != nil {
		return nil, err
	}
	tz, err := timezoneField(in.Timezone, nil)
	if err != nil {
		return nil, within("project", err)
	}
	p := &store.Project{Meta: store.Meta{ID: store.NewID(store.PrefixProject)}, Name: importedName(name, now), Timezone: tz}
	if in.Description != nil {
		p.Description = *in.Description
	}
	return p, nil
}

// importedName is name followed by " (imported <time> UTC)", name cut to
// keep the whole within maxNameChars.
func importedName(name string, now time.Time) string {
	suffix := " (imported " + now.UTC().Format("2006-01-02 15:04:05") + " UTC)"
	room := maxNameChars - utf8.RuneCountInString(suffix)
	if r := []rune(name); len(r) > room {
		name = strings.TrimSpace(string(r[:room]))
	}
	return name + suffix
}

// importedAgent reads the agent at path and returns it with a new ID, and
// its ID in the bundle.
func importedAgent(path string, raw json.RawMessage, projectID string) (*store.Agent, string, error) {
	var in agentIn
	if err := decodeAt(path, raw, &in); err != nil {
		return nil, "", err
	}
	oldID, err := bundleID(path, in.ID)
	if err != nil {
		return nil, "", err
	}
	if in.Name == nil {
		return nil, "", store.FieldError(path+".name", "required")
	}
	if in.Prompt == nil {
		return nil, "", store.FieldError(path+".prompt", "required")
	}
	name, err := requireName(path+".name", *in.Name)
	if err != nil {
		return nil, "", err
	}
	a := &store.Agent{Meta: store.Meta{ID: store.NewID(store.PrefixAgent)}, ProjectID: projectID, Name: name, Prompt: *in.Prompt}
	if in.Description != nil {
		a.Description = *in.Description
	}
	return a, oldID, nil
}

// importedStage reads the stage at path and returns it with a new ID and
// its agent's new ID (agentIDs maps the bundle's agent IDs to the new
// ones), its ID in the bundle, and its LLM provider hint.
func importedStage(path string, raw json.RawMessage, projectID string, agentIDs map[string]string) (*store.Stage, string, providerHint, error) {
	var in stageIn
	if err := decodeAt(path, raw, &in); err != nil {
		return nil, "", providerHint{}, err
	}
	oldID, err := bundleID(path, in.ID)
	if err != nil {
		return nil, "", providerHint{}, err
	}
	if in.Name == nil {
		return nil, "", providerHint{}, store.FieldError(path+".name", "required")
	}
	if in.Prompt == nil {
		return nil, "", providerHint{}, store.FieldError(path+".prompt", "required")
	}
	st := &store.Stage{Meta: store.Meta{ID: store.NewID(store.PrefixStage)}, ProjectID: projectID,
		EnterBehavior: store.EnterGenerateResponse} // Bonsai's import default
	body := stageBody{Name: in.Name, Description: in.Description, Prompt: in.Prompt, LLMSettings: in.LLMSettings,
		EnterBehavior: in.EnterBehavior, Metadata: in.Metadata}
	if err := body.apply(st); err != nil {
		return nil, "", providerHint{}, within(path, err)
	}
	if in.AgentID != nil && *in.AgentID != "" {
		id, ok := agentIDs[*in.AgentID]
		if !ok {
			return nil, "", providerHint{}, store.FieldError(path+".agentId", "agent %q is not one of the bundle's agents", *in.AgentID)
		}
		st.AgentID = id
	}
	hint, err := readHint(path+".llmHint", in.LLMHint)
	if err != nil {
		return nil, "", providerHint{}, err
	}
	return st, oldID, hint, nil
}

// bundleID checks the id of a bundle's agent or stage: a cross-reference
// inside the bundle, never stored.
func bundleID(path string, id *string) (string, error) {
	if id == nil || *id == "" {
		return "", store.FieldError(path+".id", "required")
	}
	return *id, nil
}

// readHint reads a stage's llmHint. Bonsai allows none (the stage then has
// no provider); a Switchboard stage needs one, so it is required.
func readHint(path string, raw json.RawMessage) (providerHint, error) {
	if t := bytes.TrimSpace(raw); len(t) == 0 || string(t) == "null" {
		return providerHint{}, store.FieldError(path, "required: a Switchboard stage needs an LLM provider")
	}
	var in hintIn
	if err := decodeAt(path, raw, &in); err != nil {
		return providerHint{}, err
	}
	if in.Type == nil || *in.Type != store.ProviderTypeLLM {
		return providerHint{}, store.FieldError(path+".type", "must be %q: a stage's provider is an LLM", store.ProviderTypeLLM)
	}
	if in.APIType == nil || *in.APIType == "" {
		return providerHint{}, store.FieldError(path+".apiType", "required")
	}
	h := providerHint{Type: *in.Type, APIType: *in.APIType}
	if in.PreferredModel != nil {
		h.PreferredModel = *in.PreferredModel
	}
	if in.ProviderID != nil {
		h.ProviderID = *in.ProviderID
	}
	return h, nil
}

// resolveHint finds the provider a hint stands for, as Bonsai does (by
// providerType and apiType, else by providerType alone: any LLM), after
// Switchboard's own first step: the hint's providerId, when that provider
// exists here with the hint's type and apiType (an export imported into
// the same server keeps its providers). Where Bonsai takes whichever row
// comes first, Switchboard takes the oldest provider, so the answer does
// not depend on the database. "" when there is none.
func (s *Server) resolveHint(ctx context.Context, h providerHint) (string, error) {
	if h.ProviderID != "" {
		p, err := s.st.GetProvider(ctx, h.ProviderID)
		switch {
		case err == nil && p.ProviderType == h.Type && p.APIType == h.APIType:
			return p.ID, nil
		case err != nil && store.ErrorCode(err) != store.ENOTFOUND:
			return "", fmt.Errorf("api: get provider: %w", err)
		}
	}
	eq := func(field, v string) store.Filter {
		return store.Filter{Field: field, Op: store.OpEq, Values: []string{v}}
	}
	for _, filters := range [][]store.Filter{
		{eq("providerType", h.Type), eq("apiType", h.APIType)},
		{eq("providerType", h.Type)},
	} {
		ps, _, err := s.st.ListProviders(ctx, store.ListOptions{Limit: 1, Filters: filters, OrderBy: []store.Order{{Field: "createdAt"}}})
		if err != nil {
			return "", fmt.Errorf("api: list providers: %w", err)
		}
		if len(ps) > 0 {
			return ps[0].ID, nil
		}
	}
	return "", nil
}

// hintString is a hint as its JSON, for messages.
func hintString(h providerHint) string {
	b, _ := json.Marshal(h)
	return string(b)
}

// decodeAt decodes raw, the JSON object at path of the bundle, into dst;
// errors name the field below path.
func decodeAt(path string, raw json.RawMessage, dst any) error {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return store.FieldError(path, "required")
	}
	if raw[0] != '{' {
		return store.FieldError(path, "must be an object")
	}
	return within(path, decodeJSON(raw, dst))
}

// arrayAt reads the required JSON array at path.
func arrayAt(path string, raw json.RawMessage) ([]json.RawMessage, error) {
	if len(bytes.TrimSpace(raw)) == 0 {
		return nil, store.FieldError(path, "required (an array, [] for none)")
	}
	return optionalArrayAt(path, raw)
}

// optionalArrayAt reads the JSON array of objects at path; absent is
// none (a section Switchboard skips need not be there), null is not an
// array.
func optionalArrayAt(path string, raw json.RawMessage) ([]json.RawMessage, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return nil, nil
	}
	var items []json.RawMessage
	if raw[0] != '[' || json.Unmarshal(raw, &items) != nil {
		return nil, store.FieldError(path, "must be an array")
	}
	for i, it := range items {
		if t := bytes.TrimSpace(it); len(t) == 0 || t[0] != '{' {
			return nil, store.FieldError(fmt.Sprintf("%s[%d]", path, i), "must be an object")
		}
	}
	return items, nil
}

// within puts an error about a field of a part of the bundle at that
// part's path: "name: required" of the stage at stages[2] becomes
// "stages[2].name: required". Other errors pass unchanged.
func within(path string, err error) error {
	var e *store.Error
	if !errors.As(err, &e) || e.Code != store.EINVALID {
		return err
	}
	details := map[string]string{}
	if d, ok := e.Details.(map[string]string); ok {
		maps.Copy(details, d)
	}
	field, reason := details["field"], details["reason"]
	switch {
	case field == "" || field == "body":
		field = path
	default:
		field = path + "." + field
	}
	if reason == "" {
		reason = e.Message
	}
	details["field"], details["reason"] = field, reason
	return &store.Error{Code: store.EINVALID, Message: field + ": " + reason, Details: details}
}
