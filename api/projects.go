package api

import (
	"context"
	"fmt"
	"net/http"

	"switchboard/store"
)

// Bonsai project fields Switchboard does not use (autoCreateUsers,
// acceptVoice, generateVoice, timezone, languageCode, …) are accepted and
// ignored like every unknown top-level field.

func (s *Server) createProject(w http.ResponseWriter, r *http.Request) error {
	var body struct {
		ID          string `json:"id"`
		Name        string `json:"name"`
		Description string `json:"description"`
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
	now := s.now()
	p := &store.Project{Meta: store.Meta{ID: id, CreatedAt: now, UpdatedAt: now, Version: 1}, Name: name, Description: body.Description}
	if err := s.st.CreateProject(r.Context(), p); err != nil {
		return fmt.Errorf("api: create project: %w", err)
	}
	s.recordCreate(r, p)
	writeJSON(w, http.StatusCreated, p)
	return nil
}

// listProjects answers a page of projects. Switchboard does not archive
// projects, so every project is active: archived=true (the console's
// archived list) is an empty page, checked like any other.
func (s *Server) listProjects(w http.ResponseWriter, r *http.Request) error {
	opts, err := listOptions(r)
	if err != nil {
		return err
	}
	archived, err := archivedParam(r)
	if err != nil {
		return err
	}
	ps, total, err := s.st.ListProjects(r.Context(), opts)
	if err != nil {
		return fmt.Errorf("api: list projects: %w", err)
	}
	if archived {
		ps, total = []*store.Project{}, 0
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

func (s *Server) updateProject(w http.ResponseWriter, r *http.Request) error {
	var body struct {
		Version     *int64  `json:"version"`
		Name        *string `json:"name"`
		Description *string `json:"description"`
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
	old := snapshot(p)
	if body.Name != nil {
		if p.Name, err = requireName("name", *body.Name); err != nil {
			return err
		}
	}
	if body.Description != nil {
		p.Description = *body.Description
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
