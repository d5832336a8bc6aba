package storetest

import (
	"encoding/json"
	"testing"

	"switchboard/store"
)

// testImportProject checks ImportProject: the project, its agents and
// stages and their audit entries are stored together with one creation
// time; a failure anywhere (a missing provider, an ID taken, an invalid
// audit entry) stores none of them.
func testImportProject(t *testing.T, s store.Store) {
	ctx := t.Context()
	llm := newLLMProvider(t, s)
	tz := "Europe/Warsaw"
	build := func(providerID string) *store.ProjectImport {
		p := &store.Project{Meta: store.Meta{ID: store.NewID(store.PrefixProject)}, Name: "imported", Description: "d", Timezone: &tz}
		a1 := &store.Agent{Meta: store.Meta{ID: store.NewID(store.PrefixAgent)}, ProjectID: p.ID, Name: "a1", Prompt: "persona"}
		a2 := &store.Agent{ProjectID: p.ID, Name: "a2"} // ID assigned by the store
		st := &store.Stage{ProjectID: p.ID, Name: "s1", Prompt: "p", LLMProviderID: providerID, LLMSettings: store.LLMSettings{Model: "m"},
			AgentID: a1.ID, EnterBehavior: store.EnterGenerateResponse}
		imp := &store.ProjectImport{Project: p, Agents: []*store.Agent{a1, a2}, Stages: []*store.Stage{st}}
		imp.Audit = func() []*store.AuditEntry {
			var out []*store.AuditEntry
			for _, m := range []struct {
				typ  string
				meta store.Meta
			}{{store.AuditProject, p.Meta}, {store.AuditAgent, a1.Meta}, {store.AuditAgent, a2.Meta}, {store.AuditStage, st.Meta}} {
				if m.meta.ID == "" || m.meta.Version != 1 || m.meta.CreatedAt.IsZero() {
					t.Errorf("Audit called before %s has its Meta: %+v", m.typ, m.meta)
				}
				out = append(out, &store.AuditEntry{UserID: "admin", Action: store.AuditCreate, EntityType: m.typ, EntityID: m.meta.ID,
					ProjectID: p.ID, NewEntity: json.RawMessage(`{"id":"` + m.meta.ID + `"}`)})
			}
			return out
		}
		return imp
	}

	imp := build(llm.ID)
	must(t, s.ImportProject(ctx, imp))
	checkNewMeta(t, imp.Project.Meta, store.PrefixProject)
	checkNewMeta(t, imp.Agents[1].Meta, store.PrefixAgent)
	checkNewMeta(t, imp.Stages[0].Meta, store.PrefixStage)
	for _, m := range []store.Meta{imp.Agents[0].Meta, imp.Agents[1].Meta, imp.Stages[0].Meta} {
		if !m.CreatedAt.Equal(imp.Project.CreatedAt) {
			t.Fatalf("created at %v, project at %v: want one time", m.CreatedAt, imp.Project.CreatedAt)
		}
	}
	p, err := s.GetProject(ctx, imp.Project.ID)
	must(t, err)
	wantEqual(t, "project", p, imp.Project)
	for _, a := range imp.Agents {
		got, err := s.GetAgent(ctx, p.ID, a.ID)
		must(t, err)
		wantEqual(t, "agent", got, a)
	}
	gotStage, err := s.GetStage(ctx, p.ID, imp.Stages[0].ID)
	must(t, err)
	wantEqual(t, "stage", gotStage, imp.Stages[0])
	entries, total, err := s.ListAudit(ctx, store.ListOptions{Filters: []store.Filter{{Field: "projectId", Op: store.OpEq, Values: []string{p.ID}}}})
	must(t, err)
	if total != 4 || len(entries) != 4 {
		t.Fatalf("audit entries = %d, want 4", total)
	}

	// Nothing of a failed import is stored.
	countAll := func() (projects, audit int) {
		_, projects, err := s.ListProjects(ctx, store.ListOptions{})
		must(t, err)
		_, audit, err = s.ListAudit(ctx, store.ListOptions{})
		must(t, err)
		return projects, audit
	}
	beforeP, beforeA := countAll()
	missing := build("prov_missing")
	wantCode(t, s.ImportProject(ctx, missing), store.EINVALID)
	taken := build(llm.ID)
	taken.Agents[1].ID = taken.Agents[0].ID
	wantCode(t, s.ImportProject(ctx, taken), store.ECONFLICT)
	badAudit := build(llm.ID)
	inner := badAudit.Audit
	badAudit.Audit = func() []*store.AuditEntry { return append(inner(), &store.AuditEntry{EntityType: "x", EntityID: "y"}) }
	wantCode(t, s.ImportProject(ctx, badAudit), store.EINVALID)
	for _, imp := range []*store.ProjectImport{missing, taken, badAudit} {
		wantCode(t, func() error { _, err := s.GetProject(ctx, imp.Project.ID); return err }(), store.ENOTFOUND)
		wantCode(t, func() error { _, err := s.GetAgent(ctx, imp.Project.ID, imp.Agents[0].ID); return err }(), store.ENOTFOUND)
	}
	if p, a := countAll(); p != beforeP || a != beforeA {
		t.Fatalf("after failed imports: %d projects, %d audit entries; want %d, %d", p, a, beforeP, beforeA)
	}
	wantCode(t, s.ImportProject(ctx, &store.ProjectImport{}), store.EINVALID)
}
