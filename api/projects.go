package api

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"

	"switchboard/store"
)

// Bonsai project fields Switchboard does not use (autoCreateUsers,
// acceptVoice, generateVoice, languageCode, …) are accepted and ignored
// like every unknown top-level field. timezone is kept: the time a stage
// prompt sees is in it.

// timezoneField reads a project body's timezone: absent keeps cur, null
// or "" clears it (UTC; Bonsai treats "" as no timezone too), a name must
// be an IANA zone (store.LoadTimezone).
func timezoneField(n nullable[string], cur *string) (*string, error) {
	switch {
	case !n.Set:
		return cur, nil
	case n.Null || n.Value == "":
		return nil, nil
	}
	if _, err := store.LoadTimezone(n.Value); err != nil {
		return nil, err
	}
	v := n.Value
	return &v, nil
}

// costsField reads a project body's costManagementConfig (Bonsai's token
// caps): absent keeps cur, null removes it, an object must pass
// store.ParseCostManagementConfig and is kept normalised.
func costsField(n nullable[json.RawMessage], cur json.RawMessage) (json.RawMessage, error) {
	switch {
	case !n.Set:
		return cur, nil
	case n.Null:
		return nil, nil
	}
	_, norm, err := store.ParseCostManagementConfig(n.Value)
	return norm, err
}

func (s *Server) createProject(w http.ResponseWriter, r *http.Request) error {
	var body struct {
		ID                   string                    `json:"id"`
		Name                 string                    `json:"name"`
		Description          string                    `json:"description"`
		Timezone             nullable[string]          `json:"timezone"`
		CostManagementConfig nullable[json.RawMessage] `json:"costManagementConfig"`
	}
	if err := decodeBody(r, &body); err != nil {
		return err
	}
	id, err := newID(body.ID, store.PrefixProject)
	if err != nil {
		return err
	}
	name, err := requireName("name", body.Name)
	if err != nil {
		return err
	}
	tz, err := timezoneField(body.Timezone, nil)
	if err != nil {
		return err
	}
	costs, err := costsField(body.CostManagementConfig, nil)
	if err != nil {
		return err
	}
	now := s.now()
	p := &store.Project{Meta: store.Meta{ID: id, CreatedAt: now, UpdatedAt: now, Version: 1}, Name: name, Description: body.Description,
		Timezone: tz, CostManagementConfig: costs}
	if err := s.st.CreateProject(r.Context(), p); err != nil {
		return fmt.Errorf("api: create project: %w", err)
	}
	s.recordCreate(r, p)
	writeJSON(w, http.StatusCreated, p)
	return nil
}

// listProjects answers a page of projects: active ones, or archived ones
// with archived=true (Bonsai's parameter).
func (s *Server) listProjects(w http.ResponseWriter, r *http.Request) error {
	opts, err := listOptions(r)
	if err != nil {
		return err
	}
	archived, err := archivedParam(r)
	if err != nil {
		return err
	}
	opts = opts.With(store.Filter{Field: "archived", Op: store.OpEq, Values: []string{fmt.Sprint(archived)}})
	ps, total, err := s.st.ListProjects(r.Context(), opts)
	if err != nil {
		return fmt.Errorf("api: list projects: %w", err)
	}
	writeList(w, ps, total, opts)
	return nil
}

func (s *Server) getProject(w http.ResponseWriter, r *http.Request) error {
	p, err := s.st.GetProject(r.Context(), pathVar(r, "id"))
	if err != nil {
		return fmt.Errorf("api: get project: %w", err)
	}
	writeJSON(w, http.StatusOK, p)
	return nil
}

// updateProject changes a project's name, description, timezone and token
// caps (costManagementConfig); an
// archived project cannot be changed (Bonsai: 409, unarchive it first).
// The archive fields are not part of the body: the archive and unarchive
// routes set them.
func (s *Server) updateProject(w http.ResponseWriter, r *http.Request) error {
	var body struct {
		Version              *int64                    `json:"version"`
		Name                 *string                   `json:"name"`
		Description          *string                   `json:"description"`
		Timezone             nullable[string]          `json:"timezone"`
		CostManagementConfig nullable[json.RawMessage] `json:"costManagementConfig"`
	}
	if err := decodeBody(r, &body); err != nil {
		return err
	}
	version, err := requireVersion(body.Version)
	if err != nil {
		return err
	}
	id := pathVar(r, "id")
	p, err := s.st.GetProject(r.Context(), id)
	if err != nil {
		return fmt.Errorf("api: get project: %w", err)
	}
	if p.Archived() {
		return errArchived(p.ID)
	}
	old := snapshot(p)
	if body.Name != nil {
		if p.Name, err = requireName("name", *body.Name); err != nil {
			return err
		}
	}
	if body.Description != nil {
		p.Description = *body.Description
	}
	if p.Timezone, err = timezoneField(body.Timezone, p.Timezone); err != nil {
		return err
	}
	if p.CostManagementConfig, err = costsField(body.CostManagementConfig, p.CostManagementConfig); err != nil {
		return err
	}
	p.UpdatedAt = s.now()
	if err := s.st.UpdateProject(r.Context(), p, version); err != nil {
		return fmt.Errorf("api: update project: %w", err)
	}
	if p, err = s.st.GetProject(r.Context(), id); err != nil {
		return fmt.Errorf("api: get project: %w", err)
	}
	s.record(r, store.AuditUpdate, store.AuditProject, id, id, old, p)
	writeJSON(w, http.StatusOK, p)
	return nil
}

// errArchived is Bonsai's answer to a change in an archived project.
func errArchived(projectID string) error {
	return &store.Error{
		Code:    store.ECONFLICT,
		Message: fmt.Sprintf("project %s is archived and cannot be modified; unarchive it first", projectID),
		Details: map[string]string{"projectId": projectID, "reason": "archived"},
	}
}

// archiveProject is POST /api/projects/{id}/archive (Bonsai's): it marks
// the project archived by the operator, with the version for optimistic
// locking. An archived project and everything in it is read-only, and its
// webhook traffic is dropped (see the README). Already archived → 409.
func (s *Server) archiveProject(w http.ResponseWriter, r *http.Request) error {
	return s.setArchived(w, r, true)
}

// unarchiveProject is POST /api/projects/{id}/unarchive (Bonsai's). A
// project that is not archived → 400, as in Bonsai.
func (s *Server) unarchiveProject(w http.ResponseWriter, r *http.Request) error {
	return s.setArchived(w, r, false)
}

func (s *Server) setArchived(w http.ResponseWriter, r *http.Request, archive bool) error {
	var body versionBody
	if err := decodeBody(r, &body); err != nil {
		return err
	}
	version, err := requireVersion(body.Version)
	if err != nil {
		return err
	}
	id := pathVar(r, "id")
	p, err := s.st.GetProject(r.Context(), id)
	if err != nil {
		return fmt.Errorf("api: get project: %w", err)
	}
	switch {
	case archive && p.Archived():
		return &store.Error{Code: store.ECONFLICT, Message: fmt.Sprintf("project %s is already archived", id),
			Details: map[string]string{"projectId": id, "reason": "archived"}}
	case !archive && !p.Archived():
		return &store.Error{Code: store.EINVALID, Message: fmt.Sprintf("project %s is not archived", id),
			Details: map[string]string{"projectId": id, "reason": "not archived"}}
	}
	old := snapshot(p)
	now := s.now()
	p.ArchivedAt, p.ArchivedBy = nil, nil
	if archive {
		by := currentOperator(r).ID
		p.ArchivedAt, p.ArchivedBy = &now, &by
	}
	p.UpdatedAt = now
	if err := s.st.UpdateProject(r.Context(), p, version); err != nil {
		return fmt.Errorf("api: archive project: %w", err)
	}
	if p, err = s.st.GetProject(r.Context(), id); err != nil {
		return fmt.Errorf("api: get project: %w", err)
	}
	s.record(r, store.AuditUpdate, store.AuditProject, id, id, old, p)
	writeJSON(w, http.StatusOK, p)
	return nil
}

// requireActive refuses a change inside an archived project (Bonsai's
// 409). A project that does not exist passes: the handler says so in its
// own words.
func (s *Server) requireActive(ctx context.Context, projectID string) error {
	if projectID == "" {
		return nil
	}
	p, err := s.st.GetProject(ctx, projectID)
	switch {
	case store.ErrorCode(err) == store.ENOTFOUND:
		return nil
	case err != nil:
		return fmt.Errorf("api: get project: %w", err)
	case p.Archived():
		return errArchived(projectID)
	}
	return nil
}

// deleteProject deletes the project with its agents, stages, API keys and
// conversations.
func (s *Server) deleteProject(w http.ResponseWriter, r *http.Request) error {
	version, err := deleteVersion(r)
	if err != nil {
		return err
	}
	p, err := s.st.GetProject(r.Context(), pathVar(r, "id"))
	if err != nil {
		return fmt.Errorf("api: get project: %w", err)
	}
	if err := s.st.DeleteProject(r.Context(), p.ID, version); err != nil {
		return fmt.Errorf("api: delete project: %w", err)
	}
	s.record(r, store.AuditDelete, store.AuditProject, p.ID, p.ID, p, nil)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// pathProject returns the project named by the route's {projectId}
// (ENOTFOUND if it does not exist).
func (s *Server) pathProject(ctx context.Context, r *http.Request) (*store.Project, error) {
	p, err := s.st.GetProject(ctx, pathVar(r, "projectId"))
	if err != nil {
		return nil, fmt.Errorf("api: get project: %w", err)
	}
	return p, nil
}

func (s *Server) createAgent(w http.ResponseWriter, r *http.Request) error {
	var body struct {
		ID          string `json:"id"`
		Name        string `json:"name"`
		Description string `json:"description"`
		Prompt      string `json:"prompt"`
	}
	if err := decodeBody(r, &body); err != nil {
		return err
	}
	proj, err := s.pathProject(r.Context(), r)
	if err != nil {
		return err
	}
	id, err := newID(body.ID, store.PrefixAgent)
	if err != nil {
		return err
	}
	name, err := requireName("name", body.Name)
	if err != nil {
		return err
	}
	now := s.now()
	a := &store.Agent{
		Meta:        store.Meta{ID: id, CreatedAt: now, UpdatedAt: now, Version: 1},
		ProjectID:   proj.ID,
		Name:        name,
		Description: body.Description,
		Prompt:      body.Prompt,
	}
	if err := s.st.CreateAgent(r.Context(), a); err != nil {
		return fmt.Errorf("api: create agent: %w", err)
	}
	s.recordCreate(r, a)
	writeJSON(w, http.StatusCreated, a)
	return nil
}

func (s *Server) listAgents(w http.ResponseWriter, r *http.Request) error {
	return listInProject(s, w, r, "agents", s.st.ListAgents, asIs[*store.Agent])
}

func (s *Server) getAgent(w http.ResponseWriter, r *http.Request) error {
	a, err := s.st.GetAgent(r.Context(), pathVar(r, "projectId"), pathVar(r, "id"))
	if err != nil {
		return fmt.Errorf("api: get agent: %w", err)
	}
	writeJSON(w, http.StatusOK, a)
	return nil
}

func (s *Server) updateAgent(w http.ResponseWriter, r *http.Request) error {
	var body struct {
		Version     *int64  `json:"version"`
		Name        *string `json:"name"`
		Description *string `json:"description"`
		Prompt      *string `json:"prompt"`
	}
	if err := decodeBody(r, &body); err != nil {
		return err
	}
	version, err := requireVersion(body.Version)
	if err != nil {
		return err
	}
	projectID, id := pathVar(r, "projectId"), pathVar(r, "id")
	a, err := s.st.GetAgent(r.Context(), projectID, id)
	if err != nil {
		return fmt.Errorf("api: get agent: %w", err)
	}
	old := snapshot(a)
	if body.Name != nil {
		if a.Name, err = requireName("name", *body.Name); err != nil {
			return err
		}
	}
	if body.Description != nil {
		a.Description = *body.Description
	}
	if body.Prompt != nil {
		a.Prompt = *body.Prompt
	}
	a.UpdatedAt = s.now()
	if err := s.st.UpdateAgent(r.Context(), a, version); err != nil {
		return fmt.Errorf("api: update agent: %w", err)
	}
	if a, err = s.st.GetAgent(r.Context(), projectID, id); err != nil {
		return fmt.Errorf("api: get agent: %w", err)
	}
	s.record(r, store.AuditUpdate, store.AuditAgent, id, projectID, old, a)
	writeJSON(w, http.StatusOK, a)
	return nil
}

func (s *Server) deleteAgent(w http.ResponseWriter, r *http.Request) error {
	version, err := deleteVersion(r)
	if err != nil {
		return err
	}
	a, err := s.st.GetAgent(r.Context(), pathVar(r, "projectId"), pathVar(r, "id"))
	if err != nil {
		return fmt.Errorf("api: get agent: %w", err)
	}
	if err := s.st.DeleteAgent(r.Context(), a.ProjectID, a.ID, version); err != nil {
		return fmt.Errorf("api: delete agent: %w", err)
	}
	s.record(r, store.AuditDelete, store.AuditAgent, a.ID, a.ProjectID, a, nil)
	w.WriteHeader(http.StatusNoContent)
	return nil
}
