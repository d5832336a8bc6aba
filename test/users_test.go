package test

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"switchboard/internal/testutil"
	"switchboard/test/twiliosim"
)

// apiUser is a user as the operator API answers it (Bonsai's user shape
// plus Switchboard's fields).
type apiUser struct {
	ID                string         `json:"id"`
	ProjectID         string         `json:"projectId"`
	Profile           map[string]any `json:"profile"`
	Banned            bool           `json:"banned"`
	CreatedAt         time.Time      `json:"createdAt"`
	UpdatedAt         time.Time      `json:"updatedAt"`
	Channel           string         `json:"channel"`
	Address           string         `json:"address"`
	ConversationCount int            `json:"conversationCount"`
	FirstContactAt    time.Time      `json:"firstContactAt"`
	LastContactAt     time.Time      `json:"lastContactAt"`
	OptedOut          bool           `json:"optedOut"`
}

// TestUsersFromTexts: the people who text a line are its project's users,
// as Bonsai's console reads them — the Users page (the list, latest
// contact first), user detail (one user by the id the list gave, and its
// conversations through the conversation list's filters[userId], encoded
// as the console's HTTP client encodes it) — with their channel,
// conversations and opt-out.
func TestUsersFromTexts(t *testing.T) {
	sim := newSim(t, twiliosim.Options{})
	s := startServer(t, "", nil)
	l := setupLine(t, s, sim, lineOptions{})
	const sms, wa = "+15553000001", "whatsapp:+15553000002"

	l.mustText(t, sms, "hello")
	l.waitReplies(t, sms, 1, 10*time.Second)
	l.mustText(t, sms, "again")
	l.waitReplies(t, sms, 2, 10*time.Second)
	waText := func(body string) {
		t.Helper()
		code, resp := l.post(l.Webhook, twiliosim.InboundParamsFor(l.AccountSID, wa, "whatsapp:"+l.Number, body, twiliosim.NewMessageSID()), nil)
		if code != 200 {
			t.Fatalf("whatsapp text: %d %s", code, resp)
		}
	}
	waText("hi on whatsapp")
	l.waitReplies(t, wa, 1, 10*time.Second)
	waText("STOP")
	testutil.CheckFor(t, 10*time.Second, func() error {
		for _, c := range l.conversations(t) {
			if c.UserID == wa && c.Status != "finished" {
				return fmt.Errorf("whatsapp conversation %+v not ended by STOP", c)
			}
		}
		return nil
	})
	convs := l.conversations(t)
	if len(convs) != 2 {
		t.Fatalf("%d conversations, want 2", len(convs))
	}

	base := "/api/projects/" + l.ProjectID + "/users"
	var page struct {
		Items                []apiUser `json:"items"`
		Total, Offset, Limit int
	}
	s.mustAPI("GET", base, l.token, nil, &page, http.StatusOK)
	if page.Total != 2 || len(page.Items) != 2 || page.Offset != 0 || page.Limit != 100 {
		t.Fatalf("users page %+v", page)
	}
	if page.Items[0].FirstContactAt.Before(page.Items[1].FirstContactAt) {
		t.Fatalf("users not newest first: %+v", page.Items)
	}
	byID := map[string]apiUser{}
	for _, u := range page.Items {
		byID[u.ID] = u
	}
	if u := byID[sms]; u.Channel != "sms" || u.Address != sms || u.ConversationCount != 1 || u.OptedOut || u.ProjectID != l.ProjectID ||
		u.Banned || u.Profile["channel"] != "sms" || u.Profile["name"] != nil || u.CreatedAt.IsZero() || u.LastContactAt.Before(u.FirstContactAt) {
		t.Fatalf("sms user %+v", u)
	}
	// The simulated Twilio sends WhatsApp's ProfileName "Simulated User".
	if u := byID[wa]; u.Channel != "whatsapp" || u.ConversationCount != 1 || !u.OptedOut || u.Profile["optedOut"] != true ||
		u.Profile["name"] != "Simulated User" {
		t.Fatalf("whatsapp user %+v", u)
	}

	// The Users page's search box.
	var found struct {
		Items []apiUser `json:"items"`
		Total int       `json:"total"`
	}
	s.mustAPI("GET", base+"?offset=0&limit=50&textSearch=whatsapp", l.token, nil, &found, http.StatusOK)
	if found.Total != 1 || len(found.Items) != 1 || found.Items[0].ID != wa {
		t.Fatalf("search whatsapp: %+v", found)
	}

	// User detail: the user by the id the list gave, as the console puts
	// it in the path, then its conversations as the console asks for them
	// (axios: {filters: {userId: {op: 'eq', value}}}, "+" sent as %2B).
	for _, c := range convs {
		var u apiUser
		s.mustAPI("GET", base+"/"+c.UserID, l.token, nil, &u, http.StatusOK)
		if w := byID[c.UserID]; u.ID != c.UserID || u.Channel != w.Channel || u.ConversationCount != w.ConversationCount ||
			u.OptedOut != w.OptedOut || !u.FirstContactAt.Equal(w.FirstContactAt) {
			t.Fatalf("user %s = %+v", c.UserID, u)
		}
		q := "limit=50&orderBy=-createdAt&filters[userId][op]=eq&filters[userId][value]=" + strings.ReplaceAll(url.QueryEscape(c.UserID), "%3A", ":")
		var cs struct {
			Items []conversation `json:"items"`
			Total int            `json:"total"`
		}
		s.mustAPI("GET", "/api/projects/"+l.ProjectID+"/conversations?"+q, l.token, nil, &cs, http.StatusOK)
		if cs.Total != 1 || len(cs.Items) != 1 || cs.Items[0].ID != c.ID || cs.Items[0].UserID != c.UserID {
			t.Fatalf("conversations of %s: %+v", c.UserID, cs)
		}
	}
	s.mustAPI("GET", base+"/+15553009999", l.token, nil, nil, http.StatusNotFound)
	// Users are read-only: Bonsai's ban is refused and changes nothing.
	s.mustAPI("PUT", base+"/"+sms, l.token, map[string]any{"banned": true}, nil, http.StatusBadRequest)
	var u apiUser
	s.mustAPI("GET", base+"/"+sms, l.token, nil, &u, http.StatusOK)
	if u.Banned {
		t.Fatalf("user banned: %+v", u)
	}
}
