package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"switchboard/internal/replyfmt"
	"switchboard/providers/prompt"
	"switchboard/providers/twilio"
	"switchboard/store"
)

// llmSettingsPatch is the llmSettings of a stage body. Present fields
// replace the stage's; null resets an optional one.
type llmSettingsPatch struct {
	Model              *string           `json:"model"`
	DefaultTemperature nullable[float64] `json:"defaultTemperature"`
	DefaultMaxTokens   nullable[int]     `json:"defaultMaxTokens"`
	Timeout            nullable[int]     `json:"timeout"`
	MaxInputTokens     nullable[int]     `json:"maxInputTokens"`
}

// apply merges p into ls.
func (p *llmSettingsPatch) apply(ls *store.LLMSettings) {
	if p == nil {
		return
	}
	if p.Model != nil {
		ls.Model = *p.Model
	}
	setNullable(&ls.DefaultTemperature, p.DefaultTemperature)
	setNullable(&ls.DefaultMaxTokens, p.DefaultMaxTokens)
	setNullable(&ls.Timeout, p.Timeout)
	setNullable(&ls.MaxInputTokens, p.MaxInputTokens)
}

func setNullable[T any](dst **T, n nullable[T]) {
	switch {
	case !n.Set:
	case n.Null:
		*dst = nil
	default:
		v := n.Value
		*dst = &v
	}
}

// stageBody is the body of stage create and update. Bonsai stage fields
// Switchboard does not use (useKnowledge, voice settings, …) are ignored.
type stageBody struct {
	Version       *int64            `json:"version"`
	ID            string            `json:"id"`
	Name          *string           `json:"name"`
	Description   *string           `json:"description"`
	Prompt        *string           `json:"prompt"`
	LLMProviderID *string           `json:"llmProviderId"`
	LLMSettings   *llmSettingsPatch `json:"llmSettings"`
	AgentID       nullable[string]  `json:"agentId"`
	EnterBehavior *string           `json:"enterBehavior"`
	Metadata      json.RawMessage   `json:"metadata"`
}

// apply merges the present fields of b into st.
func (b *stageBody) apply(st *store.Stage) error {
	var err error
	if b.Name != nil {
		if st.Name, err = requireName("name", *b.Name); err != nil {
			return err
		}
	}
	if b.Description != nil {
		st.Description = *b.Description
	}
	if b.Prompt != nil {
		st.Prompt = *b.Prompt
	}
	if b.LLMProviderID != nil {
		st.LLMProviderID = *b.LLMProviderID
	}
	b.LLMSettings.apply(&st.LLMSettings)
	if b.AgentID.Set {
		st.AgentID = b.AgentID.Value // null or "" removes the agent
	}
	if b.EnterBehavior != nil {
		st.EnterBehavior = *b.EnterBehavior
	}
	if b.Metadata != nil {
		if st.Metadata, err = objectOrNull("metadata", b.Metadata); err != nil {
			return err
		}
	}
	return nil
}

// checkStage validates a complete stage and its references: the LLM
// provider must exist and be an llm provider, the agent (if any) must be
// in the stage's project, llmSettings must suit the provider, and
// metadata.replyFormat (if set) must be a reply format, metadata.replyMedia
// a boolean and
// metadata.whatsappTemplate (if set) a Content template.
func (s *Server) checkStage(ctx context.Context, st *store.Stage) error {
	if err := s.checkStageFields(ctx, st); err != nil {
		return err
	}
	if st.AgentID != "" {
		_, err := s.st.GetAgent(ctx, st.ProjectID, st.AgentID)
		if store.ErrorCode(err) == store.ENOTFOUND {
			return store.FieldError("agentId", "agent %q not found in project %q", st.AgentID, st.ProjectID)
		}
		if err != nil {
			return fmt.Errorf("api: get agent: %w", err)
		}
	}
	return nil
}

// checkStageFields is checkStage without the agent, which a project
// import checks against the agents it creates with the stage.
func (s *Server) checkStageFields(ctx context.Context, st *store.Stage) error {
	if st.EnterBehavior == "" {
		st.EnterBehavior = store.EnterAwaitUserInput
	}
	if st.EnterBehavior != store.EnterAwaitUserInput && st.EnterBehavior != store.EnterGenerateResponse {
		return store.FieldError("enterBehavior", "must be %q or %q", store.EnterAwaitUserInput, store.EnterGenerateResponse)
	}
	if _, err := replyfmt.FromMetadata(st.Metadata); err != nil {
		return store.FieldError(replyfmt.MetadataField, "%s", err.Error())
	}
	if _, err := replyfmt.MediaFromMetadata(st.Metadata); err != nil {
		return store.FieldError(replyfmt.MediaMetadataField, "%s", err.Error())
	}
	if _, err := twilio.TemplateFromMetadata(st.Metadata); err != nil {
		return store.FieldError(twilio.TemplateMetadataField, "%s", err.Error())
	}
	if err := checkPrompt(st.Prompt); err != nil {
		return err
	}
	ls := st.LLMSettings
	if ls.Timeout != nil && *ls.Timeout <= 0 {
		return store.FieldError("llmSettings.timeout", "must be a positive number of milliseconds")
	}
	if ls.DefaultMaxTokens != nil && *ls.DefaultMaxTokens <= 0 {
		return store.FieldError("llmSettings.defaultMaxTokens", "must be positive")
	}
	if ls.MaxInputTokens != nil && (*ls.MaxInputTokens < 100 || *ls.MaxInputTokens > 10_000_000) {
		return store.FieldError("llmSettings.maxInputTokens", "must be between 100 and 10000000 tokens")
	}
	if ls.DefaultTemperature != nil && (*ls.DefaultTemperature < 0 || *ls.DefaultTemperature > 2) {
		return store.FieldError("llmSettings.defaultTemperature", "must be between 0 and 2")
	}
	if st.LLMProviderID == "" {
		return store.FieldError("llmProviderId", "required")
	}
	p, err := s.st.GetProvider(ctx, st.LLMProviderID)
	if store.ErrorCode(err) == store.ENOTFOUND {
		return store.FieldError("llmProviderId", "provider %q not found", st.LLMProviderID)
	}
	if err != nil {
		return fmt.Errorf("api: get provider: %w", err)
	}
	if p.ProviderType != store.ProviderTypeLLM {
		return store.FieldError("llmProviderId", "provider %q is a %s provider, not llm", p.ID, p.ProviderType)
	}
	if ls.Model == "" && p.APIType != store.APITypeScripted {
		return store.FieldError("llmSettings.model", "required for a %s provider", p.APIType)
	}
	return nil
}

// checkPrompt refuses a stage prompt that does not parse as a Handlebars
// template, or that calls a helper that does not exist, naming prompt and
// where the error is (line and column, 1-based; column "0" when only the
// line is known).
func checkPrompt(src string) error {
	_, err := prompt.Parse(src)
	var pe *prompt.ParseError
	if !errors.As(err, &pe) {
		return err
	}
	reason := "invalid template at " + pe.Error()
	return &store.Error{
		Code:    store.EINVALID,
		Message: "prompt: " + reason,
		Details: map[string]string{"field": "prompt", "reason": reason, "line": strconv.Itoa(pe.Line), "column": strconv.Itoa(pe.Column)},
	}
}

func (s *Server) createStage(w http.ResponseWriter, r *http.Request) error {
	var body stageBody
	if err := decodeBody(r, &body); err != nil {
		return err
	}
	proj, err := s.pathProject(r.Context(), r)
	if err != nil {
		return err
	}
	id, err := newID(body.ID, store.PrefixStage)
	if err != nil {
		return err
	}
	if body.Name == nil {
		return store.FieldError("name", "required")
	}
	now := s.now()
	st := &store.Stage{Meta: store.Meta{ID: id, CreatedAt: now, UpdatedAt: now, Version: 1}, ProjectID: proj.ID}
	if err := body.apply(st); err != nil {
		return err
	}
	if err := s.checkStage(r.Context(), st); err != nil {
		return err
	}
	if err := s.st.CreateStage(r.Context(), st); err != nil {
		return fmt.Errorf("api: create stage: %w", err)
	}
	s.recordCreate(r, st)
	writeJSON(w, http.StatusCreated, st)
	return nil
}

func (s *Server) listStages(w http.ResponseWriter, r *http.Request) error {
	return listInProject(s, w, r, "stages", s.st.ListStages, asIs[*store.Stage])
}

func (s *Server) getStage(w http.ResponseWriter, r *http.Request) error {
	st, err := s.st.GetStage(r.Context(), pathVar(r, "projectId"), pathVar(r, "id"))
	if err != nil {
		return fmt.Errorf("api: get stage: %w", err)
	}
	writeJSON(w, http.StatusOK, st)
	return nil
}

func (s *Server) updateStage(w http.ResponseWriter, r *http.Request) error {
	var body stageBody
	if err := decodeBody(r, &body); err != nil {
		return err
	}
	version, err := requireVersion(body.Version)
	if err != nil {
		return err
	}
	projectID, id := pathVar(r, "projectId"), pathVar(r, "id")
	st, err := s.st.GetStage(r.Context(), projectID, id)
	if err != nil {
		return fmt.Errorf("api: get stage: %w", err)
	}
	old := snapshot(st)
	if err := body.apply(st); err != nil {
		return err
	}
	if err := s.checkStage(r.Context(), st); err != nil {
		return err
	}
	st.UpdatedAt = s.now()
	if err := s.st.UpdateStage(r.Context(), st, version); err != nil {
		return fmt.Errorf("api: update stage: %w", err)
	}
	if st, err = s.st.GetStage(r.Context(), projectID, id); err != nil {
		return fmt.Errorf("api: get stage: %w", err)
	}
	s.record(r, store.AuditUpdate, store.AuditStage, id, projectID, old, st)
	writeJSON(w, http.StatusOK, st)
	return nil
}

func (s *Server) deleteStage(w http.ResponseWriter, r *http.Request) error {
	version, err := deleteVersion(r)
	if err != nil {
		return err
	}
	st, err := s.st.GetStage(r.Context(), pathVar(r, "projectId"), pathVar(r, "id"))
	if err != nil {
		return fmt.Errorf("api: get stage: %w", err)
	}
	if err := s.st.DeleteStage(r.Context(), st.ProjectID, st.ID, version); err != nil {
		return fmt.Errorf("api: delete stage: %w", err)
	}
	s.record(r, store.AuditDelete, store.AuditStage, st.ID, st.ProjectID, st, nil)
	w.WriteHeader(http.StatusNoContent)
	return nil
}
