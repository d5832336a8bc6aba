package store

import "context"

// ProjectImport is a project created together with its agents and stages
// (POST /api/projects/import, a Bonsai exchange bundle): the records to
// store and, when Audit is set, their audit entries.
//
// The agents and stages must name Project's ID; a stage's AgentID, when
// set, one of Agents (or an agent already stored in the project, which a
// new project has none of). IDs left empty are assigned; CreatedAt,
// UpdatedAt and Version are set by the store, one time for every record.
type ProjectImport struct {
	Project *Project
	Agents  []*Agent
	Stages  []*Stage
	// Audit, when set, is called inside the transaction after every
	// record carries its stored Meta, and returns the audit entries to
	// append in the same transaction (AppendAudit's rules), so that the
	// log holds an entry for each record if and only if it was created.
	Audit func() []*AuditEntry
}

// ProjectImporter creates a project with its agents and stages.
type ProjectImporter interface {
	// ImportProject stores imp's project, then its agents, then its
	// stages, then the entries imp.Audit returns, in one transaction: all
	// of them or, on any error, none. The errors are those of
	// CreateProject, CreateAgent, CreateStage and AppendAudit (an ID
	// taken is ECONFLICT, a missing provider or agent EINVALID).
	ImportProject(ctx context.Context, imp *ProjectImport) error
}
