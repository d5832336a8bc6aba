package api

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"switchboard/store"
)

func TestConversations(t *testing.T) {
	e := newEnv(t)
	tok := e.setup()
	pid := e.project(tok, "p")
	other := e.project(tok, "other")
	sid := e.stage(tok, pid, e.scripted(tok))
	ctx := context.Background()

	c := &store.Conversation{
		ProjectID: pid, StageID: sid, UserID: "+15550001111", ChannelProviderID: "prov_x",
		ChannelAddress: "+15551234567", Deadline: time.Now().Add(time.Hour),
	}
	if err := e.st.CreateConversation(ctx, c, store.Event{EventType: store.EventConversationStart, EventData: json.RawMessage(`{}`)}); err != nil {
		t.Fatal(err)
	}
	var evs []store.Event
	for _, md := range []store.MessageData{{Role: "user", Text: "hi"}, {Role: "assistant", Text: "R1: hi"}} {
		b, _ := json.Marshal(md)
		evs = append(evs, store.Event{ConversationID: c.ID, EventType: store.EventMessage, EventData: b})
	}
	if err := e.st.AppendEvents(ctx, evs); err != nil {
		t.Fatal(err)
	}
	base := "/api/projects/" + pid + "/conversations"

	items := e.do("GET", base, tok, nil).items(1, 0, 100)
	if items[0]["id"] != c.ID || items[0]["status"] != "awaiting_user_input" || items[0]["userId"] != "+15550001111" || items[0]["stageId"] != sid {
		t.Fatalf("list = %v", items)
	}
	e.do("GET", "/api/projects/"+other+"/conversations", tok, nil).items(0, 0, 100)
	e.do("GET", "/api/projects/proj_nope/conversations", tok, nil).wantError(http.StatusNotFound)

	g := e.do("GET", base+"/"+c.ID, tok, nil).want(http.StatusOK)
	if g.str("id") != c.ID || g.version() != 1 {
		t.Fatalf("get = %s", g.body)
	}
	e.do("GET", "/api/projects/"+other+"/conversations/"+c.ID, tok, nil).wantError(http.StatusNotFound)

	// Newest first (Bonsai's default), or in time order on request.
	all := e.do("GET", base+"/"+c.ID+"/events", tok, nil).items(3, 0, 100)
	if all[2]["eventType"] != "conversation_start" || all[1]["eventType"] != "message" {
		t.Fatalf("events = %v", all)
	}
	page := e.do("GET", base+"/"+c.ID+"/events?offset=2&limit=1&orderBy=timestamp", tok, nil).items(3, 2, 1)
	if d := page[0]["eventData"].(map[string]any); d["role"] != "assistant" || d["text"] != "R1: hi" {
		t.Fatalf("page = %v", page)
	}
	e.do("GET", base+"/conv_nope/events", tok, nil).wantError(http.StatusNotFound)

	// Support may read and write conversations but not delete them.
	support := e.operator(tok, "sup", "support")
	e.do("GET", base+"/"+c.ID+"/events", support, nil).want(http.StatusOK)
	e.do("DELETE", base+"/"+c.ID+"?version=1", support, nil).wantError(http.StatusForbidden)

	e.do("DELETE", base+"/"+c.ID, tok, nil).wantField("version")
	e.do("DELETE", base+"/"+c.ID, tok, map[string]any{"version": 2}).wantError(http.StatusConflict)
	e.do("DELETE", "/api/projects/"+other+"/conversations/"+c.ID, tok, map[string]any{"version": 1}).wantError(http.StatusNotFound)
	e.do("DELETE", base+"/"+c.ID, tok, map[string]any{"version": 1}).want(http.StatusNoContent)
	e.do("GET", base+"/"+c.ID, tok, nil).wantError(http.StatusNotFound)
}
