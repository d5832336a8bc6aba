package api

import (
	"fmt"
	"slices"
)

// Roles. An operator holds one or more; its permissions are the union.
const (
	RoleSuperAdmin     = "super_admin"
	RoleContentManager = "content_manager"
	RoleDeveloper      = "developer"
	RoleSupport        = "support"
	RoleViewer         = "viewer"
)

// Entities and actions of permissions, written "entity:action".
const (
	entProvider     = "provider"
	entAPIKey       = "api_key"
	entProject      = "project"
	entAgent        = "agent"
	entStage        = "stage"
	entConversation = "conversation"
	entOperator     = "operator"
	entUser         = "user"

	actRead   = "read"
	actWrite  = "write"
	actDelete = "delete"
	actImport = "import" // migration:import only
)

// Roles returns the known role names.
func Roles() []string {
	return []string{RoleSuperAdmin, RoleContentManager, RoleDeveloper, RoleSupport, RoleViewer}
}

func perm(entity, action string) string { return entity + ":" + action }

// rolePermissions is the RBAC table, modelled on Bonsai's roles
// (r = read, w = write, d = delete):
//
//	role             provider api_key project agent stage conversation operator audit
//	super_admin      rwd      rwd     rwd     rwd   rwd   rwd          rwd      r
//	developer        rwd      rwd     rwd     rwd   rwd   rwd          -        r
//	content_manager  r        r       rwd     rwd   rwd   rwd          -        r
//	support          -        -       r       r     r     rw           -        r
//	viewer           r        r       r       r     r     r            -        r
//
// Only super_admin manages operators. Developers wire providers and keys
// (secrets stay masked for everyone); content managers edit the
// conversational content; support reads the setup and handles
// conversations; viewers read everything but operators. Every role reads
// the audit log (audit:read), as in Bonsai; its snapshots carry no
// secrets.
//
// The permissions of Bonsai's features that Switchboard does not have
// (bonsai_only.go) are granted as Bonsai's src/permissions.ts grants them,
// so that each role sees the same (empty) pages in Bonsai's console:
//
//	role             content features¹  environment issue migration
//	super_admin      rwd                rwd         rwd   import
//	content_manager  rw                 -           -     -
//	developer        r                  -           r     -
//	support          -                  -           rw    -
//	viewer           r                  -           r     -
//
// ¹ classifier, context_transformer, tool, global_action, guardrail,
// sample_copy, copy_decorator, knowledge.
//
// Users (users.go, the people who text a project) are granted as Bonsai
// grants them too, so each role sees the Users page it would in Bonsai:
// user:read for every role, user:write for super_admin, content_manager
// and support, user:delete for super_admin. Switchboard's users cannot be
// changed, so the write permissions only decide who is told so (400)
// rather than forbidden (403).
var rolePermissions = func() map[string]map[string]bool {
	table := map[string]map[string]string{
		RoleSuperAdmin: {entProvider: "rwd", entAPIKey: "rwd", entProject: "rwd", entAgent: "rwd",
			entStage: "rwd", entConversation: "rwd", entOperator: "rwd", entAudit: "r"},
		RoleDeveloper: {entProvider: "rwd", entAPIKey: "rwd", entProject: "rwd", entAgent: "rwd",
			entStage: "rwd", entConversation: "rwd", entAudit: "r"},
		RoleContentManager: {entProvider: "r", entAPIKey: "r", entProject: "rwd", entAgent: "rwd",
			entStage: "rwd", entConversation: "rwd", entAudit: "r"},
		RoleSupport: {entProject: "r", entAgent: "r", entStage: "r", entConversation: "rw", entAudit: "r"},
		RoleViewer: {entProvider: "r", entAPIKey: "r", entProject: "r", entAgent: "r",
			entStage: "r", entConversation: "r", entAudit: "r"},
	}
	grant := func(ents map[string]string, acts string, entities ...string) {
		for _, e := range entities {
			ents[e] = acts
		}
	}
	grant(table[RoleSuperAdmin], "rwd", bonsaiContentEntities...)
	grant(table[RoleSuperAdmin], "rwd", entEnvironment, entIssue)
	grant(table[RoleSuperAdmin], "i", entMigration)
	grant(table[RoleContentManager], "rw", bonsaiContentEntities...)
	grant(table[RoleDeveloper], "r", bonsaiContentEntities...)
	grant(table[RoleDeveloper], "r", entIssue)
	grant(table[RoleSupport], "rw", entIssue)
	grant(table[RoleViewer], "r", bonsaiContentEntities...)
	grant(table[RoleViewer], "r", entIssue)
	grant(table[RoleSuperAdmin], "rwd", entUser)
	grant(table[RoleContentManager], "rw", entUser)
	grant(table[RoleSupport], "rw", entUser)
	grant(table[RoleDeveloper], "r", entUser)
	grant(table[RoleViewer], "r", entUser)
	actions := map[rune]string{'r': actRead, 'w': actWrite, 'd': actDelete, 'i': actImport}
	out := map[string]map[string]bool{}
	for role, ents := range table {
		out[role] = map[string]bool{}
		for ent, acts := range ents {
			for _, a := range acts {
				name, ok := actions[a]
				if !ok {
					panic(fmt.Sprintf("api: bad action %q in RBAC table", a))
				}
				out[role][perm(ent, name)] = true
			}
		}
	}
	return out
}()

// hasPermission reports whether any of roles grants p.
func hasPermission(roles []string, p string) bool {
	for _, r := range roles {
		if rolePermissions[r][p] {
			return true
		}
	}
	return false
}

// Permissions returns the sorted permissions roles grant together.
func Permissions(roles []string) []string {
	var out []string
	for _, r := range roles {
		for p := range rolePermissions[r] {
			if !slices.Contains(out, p) {
				out = append(out, p)
			}
		}
	}
	slices.Sort(out)
	return out
}

// validRole reports whether r is a known role.
func validRole(r string) bool {
	_, ok := rolePermissions[r]
	return ok
}
