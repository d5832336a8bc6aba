package api

import (
	"fmt"
	"net/http"

	"switchboard/store"
)

// Bonsai has features Switchboard does not (classifiers, tools, knowledge,
// environments, …), and Bonsai's admin console loads their lists together
// with pages Switchboard does have: the stage editor and the conversation
// view give up when one of those lists answers 404. So their routes answer
// honestly, from one table: every list is an empty page of Bonsai's list
// shape, one item is 404 (none can exist), an item's history is empty, and
// every change is refused with 400 saying the feature is not supported.
//
// 400, not 501 Not Implemented: the refusal is permanent and the client's
// to avoid, and a 5xx reads as a server fault — writeError logs every 5xx
// as a failure, and proxies and uptime checks count them — while nothing
// failed. Bonsai itself answers an operation it will not perform
// (InvalidOperationError) with 400.

// Permission entities of Bonsai's features that Switchboard does not have,
// named as in Bonsai's src/permissions.ts.
const (
	entClassifier         = "classifier"
	entContextTransformer = "context_transformer"
	entTool               = "tool"
	entGlobalAction       = "global_action"
	entGuardrail          = "guardrail"
	entSampleCopy         = "sample_copy"
	entCopyDecorator      = "copy_decorator"
	entKnowledge          = "knowledge"
	entEnvironment        = "environment"
	entIssue              = "issue"
	entMigration          = "migration"
)

// bonsaiContentEntities are the project content features Bonsai grants to
// the same roles (see rolePermissions).
var bonsaiContentEntities = []string{entClassifier, entContextTransformer, entTool, entGlobalAction,
	entGuardrail, entSampleCopy, entCopyDecorator, entKnowledge}

// bonsaiOnlyResource is one Bonsai resource Switchboard does not have.
type bonsaiOnlyResource struct {
	// path is the list route below /api, as in Bonsai's docs.
	path string
	// entity is the permission entity (entity:read, :write, :delete).
	entity string
	// name is what an item is called in messages ("classifier").
	name string
	// feature is what the refusal names ("classifiers").
	feature string
	// clone is whether Bonsai has POST {path}/{id}/clone.
	clone bool
}

// bonsaiOnlyResources is the table of Bonsai-only resources, from Bonsai's
// docs/api/*.md and the console's generated client (Api.ts).
var bonsaiOnlyResources = []bonsaiOnlyResource{
	{"/projects/{projectId}/classifiers", entClassifier, "classifier", "classifiers", true},
	{"/projects/{projectId}/context-transformers", entContextTransformer, "context transformer", "context transformers", true},
	{"/projects/{projectId}/tools", entTool, "tool", "tools", true},
	{"/projects/{projectId}/global-actions", entGlobalAction, "global action", "global actions", true},
	{"/projects/{projectId}/guardrails", entGuardrail, "guardrail", "guardrails", true},
	{"/projects/{projectId}/sample-copies", entSampleCopy, "sample copy", "sample copies", true},
	{"/projects/{projectId}/copy-decorators", entCopyDecorator, "copy decorator", "copy decorators", false},
	{"/projects/{projectId}/knowledge/categories", entKnowledge, "knowledge category", "knowledge bases", false},
	{"/projects/{projectId}/knowledge/items", entKnowledge, "knowledge item", "knowledge bases", false},
	{"/environments", entEnvironment, "environment", "environments", false},
	{"/issues", entIssue, "issue", "issues", false},
}

// bonsaiOnlyFields are the fields Bonsai's list of each resource filters
// and orders on (its services' columnMap, plus tags where Bonsai has
// them), so that a Bonsai-only list checks its parameters as every list
// does. Every resource has id, version, createdAt and updatedAt.
var bonsaiOnlyFields = map[string][]string{
	"/projects/{projectId}/classifiers":          {"projectId", "name", "llmProviderId", "tags"},
	"/projects/{projectId}/context-transformers": {"projectId", "name", "llmProviderId", "tags"},
	"/projects/{projectId}/tools":                {"projectId", "name", "type", "inputType", "outputType", "llmProviderId", "tags"},
	"/projects/{projectId}/global-actions":       {"projectId", "name", "tags"},
	"/projects/{projectId}/guardrails":           {"projectId", "name", "tags"},
	"/projects/{projectId}/sample-copies":        {"projectId", "name", "samplingMethod", "amount", "tags"},
	"/projects/{projectId}/copy-decorators":      {"projectId", "name", "tags"},
	"/projects/{projectId}/knowledge/categories": {"projectId", "name", "order"},
	"/projects/{projectId}/knowledge/items":      {"projectId", "categoryId", "question", "answer", "order"},
	"/environments":                              {"description", "url", "login"},
	"/issues": {"projectId", "environment", "buildVersion", "stage", "sessionId", "eventIndex", "userId",
		"severity", "category", "status", "projectStatus"},
}

// listFields returns res's list fields with their kinds.
func (res bonsaiOnlyResource) listFields() store.ListFields {
	f := store.ListFields{"id": store.KindText, "version": store.KindInt, "createdAt": store.KindTime, "updatedAt": store.KindTime}
	for _, n := range bonsaiOnlyFields[res.path] {
		switch n {
		case "tags":
			f[n] = store.KindList
		case "amount", "order", "eventIndex":
			f[n] = store.KindInt
		default:
			f[n] = store.KindText
		}
	}
	return f
}

// registerBonsaiOnly mounts the routes of bonsaiOnlyResources, and the few
// routes below their items that Bonsai has besides.
func (s *Server) registerBonsaiOnly(a *routes) {
	const get, post, put, del = http.MethodGet, http.MethodPost, http.MethodPut, http.MethodDelete
	for _, res := range bonsaiOnlyResources {
		read, write := perm(res.entity, actRead), perm(res.entity, actWrite)
		item := res.path + "/{id}"
		s.route(a, get, res.path, read, s.emptyList(res))
		s.route(a, post, res.path, write, res.refuse)
		s.route(a, get, item, read, res.notFound)
		s.route(a, put, item, write, res.refuse)
		s.route(a, del, item, perm(res.entity, actDelete), res.refuse)
		s.route(a, get, item+"/audit-logs", perm(entAudit, actRead), res.noHistory)
		if res.clone {
			s.route(a, post, item+"/clone", write, res.refuse)
		}
	}
	categories, environments := bonsaiOnly("/projects/{projectId}/knowledge/categories"), bonsaiOnly("/environments")
	// The items of one knowledge category: no category exists.
	s.route(a, get, "/projects/{projectId}/knowledge/categories/{id}/items", perm(entKnowledge, actRead), categories.notFound)
	// Pulling a project from another Bonsai (its migration API): no
	// environment exists to pull from.
	imp := perm(entMigration, actImport)
	s.route(a, get, "/environments/{id}/migration/scope", imp, environments.notFound)
	s.route(a, get, "/environments/{id}/migration/jobs/{jobId}", imp, environments.notFound)
	s.route(a, post, "/environments/{id}/migration/pull", imp, environments.refuse)
}

// emptyList answers a Bonsai-only list: an empty page, its parameters
// read and checked as on every list, against the fields Bonsai's list of
// the resource has. A project-scoped list needs the project, as every
// project's list does.
func (s *Server) emptyList(res bonsaiOnlyResource) apiHandler {
	return func(w http.ResponseWriter, r *http.Request) error {
		opts, err := listOptions(r)
		if err != nil {
			return err
		}
		if err := opts.Check(res.listFields()); err != nil {
			return err
		}
		if pathVar(r, "projectId") != "" {
			if _, err := s.pathProject(r.Context(), r); err != nil {
				return err
			}
		}
		writeList(w, []struct{}{}, 0, opts)
		return nil
	}
}

// refuse answers a change of a Bonsai-only resource. The body is not read:
// no body could make the change possible.
func (res bonsaiOnlyResource) refuse(http.ResponseWriter, *http.Request) error {
	return &store.Error{
		Code:    store.EINVALID,
		Message: fmt.Sprintf("Switchboard does not support %s, a Bonsai feature: nothing here can be created or changed", res.feature),
		Details: map[string]string{"feature": res.entity, "reason": "not_supported"},
	}
}

// notFound answers one item of a Bonsai-only resource: there is none.
func (res bonsaiOnlyResource) notFound(_ http.ResponseWriter, r *http.Request) error {
	return store.Errorf(store.ENOTFOUND, "%s %q not found: Switchboard does not support %s", res.name, pathVar(r, "id"), res.feature)
}

// noHistory answers the audit log of one item: empty, as for any entity
// without entries (a plain array, Bonsai's shape for these routes). Like
// every entity's history, it also needs read permission on the entity.
func (res bonsaiOnlyResource) noHistory(w http.ResponseWriter, r *http.Request) error {
	if p := perm(res.entity, actRead); !hasPermission(currentOperator(r).Roles, p) {
		return &store.Error{Code: store.EFORBIDDEN, Message: "missing permission " + p, Details: map[string]string{"permission": p}}
	}
	if _, err := listOptions(r); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, []struct{}{})
	return nil
}

// bonsaiOnly returns the row of bonsaiOnlyResources with path.
func bonsaiOnly(path string) bonsaiOnlyResource {
	for _, res := range bonsaiOnlyResources {
		if res.path == path {
			return res
		}
	}
	panic("api: no Bonsai-only resource " + path)
}
