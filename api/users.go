package api

import (
	"fmt"
	"net/http"
	"strings"
	"time"

	"switchboard/providers/twilio"
	"switchboard/store"
)

// Users are the people who text a project: Bonsai's console lists them
// (its Users page), shows one with its conversations (user detail, which
// filters the conversation list by filters[userId]) and links them from
// conversations by the conversation's userId. Switchboard keeps no user
// records; a user is a sender address summed up over the project's
// conversations (store.User), so users are read-only here.
//
// A user's id is its address, exactly the conversation's userId (e.g.
// "+15551234567" or "whatsapp:+15551234567"), not an opaque hash of it:
//   - the console joins a user to its conversations by user.id ==
//     conversation.userId, as Bonsai does, with no translation;
//   - every role that may read users (user:read) may also read
//     conversations, which show the address already, so an opaque id hides
//     nothing from them;
//   - an unkeyed hash of a phone number is not opaque (there are few
//     enough numbers to hash them all), and a keyed one would need a stored
//     mapping and would still have to be translated on every conversation
//     route.
//
// The address appears in request paths and queries (…/users/+1555…).
// Switchboard's logs record only the path of a failed request, with the
// address masked (logPath); a reverse proxy's access log would record it,
// as it records the console's conversation filters.

// userWriteRefusal answers a change of a user: Switchboard's users are
// read-only. It is the refusal of the Bonsai-only features.
var userWriteRefusal = bonsaiOnlyResource{
	path: "/projects/{projectId}/users", entity: entUser, name: "user", feature: "creating, editing or deleting users",
}

// registerUsers mounts Bonsai's user routes.
func (s *Server) registerUsers(a *routes) {
	const get, post, put, del = http.MethodGet, http.MethodPost, http.MethodPut, http.MethodDelete
	const list, item = "/projects/{projectId}/users", "/projects/{projectId}/users/{id}"
	s.route(a, get, list, perm(entUser, actRead), s.listUsers)
	s.route(a, get, item, perm(entUser, actRead), s.getUser)
	s.route(a, post, list, perm(entUser, actWrite), userWriteRefusal.refuse)
	s.route(a, put, item, perm(entUser, actWrite), userWriteRefusal.refuse)
	s.route(a, del, item, perm(entUser, actDelete), userWriteRefusal.refuse)
	// Nothing changes users, so no audit entry names one: the history of a
	// user is empty, answered from the audit log as every entity's is.
	s.route(a, get, item+"/audit-logs", perm(entAudit, actRead), s.entityAudit(entUser))
}

// userJSON is a user in Bonsai's shape (Bonsai's UserResponse: id,
// projectId, profile, banned, banReason, createdAt, updatedAt), with what
// Switchboard knows besides under names of its own:
//
//	channel            "sms" or "whatsapp"
//	address            the sender address (the same as id)
//	conversationCount  how many conversations the user has in the project
//	firstContactAt     when its first conversation began (= createdAt)
//	lastContactAt      the latest activity of any of its conversations
//	                   (= updatedAt)
//	optedOut           whether it has opted out (STOP) on any number of the
//	                   project it texted; Switchboard sends it nothing there
//
// profile carries channel and optedOut too, because profile is what the
// console shows on its user pages, and name: the WhatsApp profile name
// (store.User.ProfileName), omitted when there is none; the console's
// Users page shows a profile's name. banned is always false: Switchboard has
// no bans (an opted-out user may still text, and START opts back in).
type userJSON struct {
	ID                string         `json:"id"`
	ProjectID         string         `json:"projectId"`
	Profile           map[string]any `json:"profile"`
	Banned            bool           `json:"banned"`
	BanReason         *string        `json:"banReason"`
	CreatedAt         time.Time      `json:"createdAt"`
	UpdatedAt         time.Time      `json:"updatedAt"`
	Channel           string         `json:"channel"`
	Address           string         `json:"address"`
	ConversationCount int            `json:"conversationCount"`
	FirstContactAt    time.Time      `json:"firstContactAt"`
	LastContactAt     time.Time      `json:"lastContactAt"`
	OptedOut          bool           `json:"optedOut"`
}

func userOut(u *store.User) userJSON {
	profile := map[string]any{"channel": u.Channel, "optedOut": u.OptedOut}
	if u.ProfileName != "" {
		profile["name"] = u.ProfileName
	}
	return userJSON{
		ID:                u.Address,
		ProjectID:         u.ProjectID,
		Profile:           profile,
		CreatedAt:         u.FirstContactAt,
		UpdatedAt:         u.LastContactAt,
		Channel:           u.Channel,
		Address:           u.Address,
		ConversationCount: u.ConversationCount,
		FirstContactAt:    u.FirstContactAt,
		LastContactAt:     u.LastContactAt,
		OptedOut:          u.OptedOut,
	}
}

// listUsers answers a page of the project's users, newest (first contact)
// first by default; textSearch (the console's search box) keeps those
// whose address contains it.
func (s *Server) listUsers(w http.ResponseWriter, r *http.Request) error {
	return listInProject(s, w, r, "users", s.st.ListUsers, userOut)
}

// getUser answers one user; an address that never texted the project is
// 404.
func (s *Server) getUser(w http.ResponseWriter, r *http.Request) error {
	u, err := s.st.GetUser(r.Context(), pathVar(r, "projectId"), pathVar(r, "id"))
	if err != nil {
		return fmt.Errorf("api: get user: %w", err)
	}
	writeJSON(w, http.StatusOK, userOut(u))
	return nil
}

// logPath is the request path as logs may show it: the user id (a phone
// number) after /users/ masked as every logged number is.
func logPath(r *http.Request) string {
	p := r.URL.Path
	parts := strings.Split(p, "/")
	for i := 0; i+1 < len(parts); i++ {
		if parts[i] == "users" && i >= 2 && parts[i-2] == "projects" && parts[i+1] != "" {
			parts[i+1] = twilio.MaskNumber(parts[i+1])
			return strings.Join(parts, "/")
		}
	}
	return p
}
