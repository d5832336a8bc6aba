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

	actRead   = "read"
	actWrite  = "write"
	actDelete = "delete"
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
	actions := map[rune]string{'r': actRead, 'w': actWrite, 'd': actDelete}
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
