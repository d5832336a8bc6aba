package api

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"switchboard/store"
)

// Bonsai's contract, written from Bonsai's docs/api/conversations.md and
// the console's generated client (src/api/generated/data-contracts.ts,
// ConversationResponse and ConversationEventResponse), not from
// Switchboard's output.
var (
	// ConversationResponse's keys (archived is optional; clientId is in
	// Bonsai's documented table, sessionId and direction in its client).
	bonsaiConversationKeys = []string{"id", "projectId", "userId", "sessionId", "clientId", "stageId",
		"startingStageId", "endingStageId", "stageVars", "status", "statusDetails", "direction",
		"metadata", "createdAt", "updatedAt"}
	// Keys whose values may not be null.
	bonsaiConversationNonNull = []string{"id", "projectId", "userId", "sessionId", "clientId", "stageId",
		"stageVars", "status", "direction", "metadata", "createdAt", "updatedAt"}
	// conversationStateSchema.
	bonsaiConversationStatuses = []string{"initialized", "awaiting_user_input", "receiving_user_voice",
		"processing_user_input", "generating_response", "finished", "aborted", "failed"}
	// ConversationEventResponse's keys.
	bonsaiEventKeys = []string{"id", "projectId", "conversationId", "eventType", "eventData", "stageId", "timestamp", "metadata"}
	// conversationEventTypeSchema.
	bonsaiEventTypes = []string{"message", "classification", "transformation", "execution_plan", "action",
		"command", "tool_call", "conversation_start", "conversation_resume", "conversation_end",
		"conversation_aborted", "conversation_failed", "jump_to_stage", "moderation", "variables_updated",
		"user_profile_updated", "user_input_modified", "user_banned", "visibility_changed", "sample_copy_selection"}
)

// wantKeys fails unless m has every key, and non-null values for nonNull.
func wantKeys(t *testing.T, what string, m map[string]any, keys, nonNull []string) {
	t.Helper()
	for _, k := range keys {
		if _, ok := m[k]; !ok {
			t.Errorf("%s lacks Bonsai's %q: %v", what, k, m)
		}
	}
	for _, k := range nonNull {
		if m[k] == nil {
			t.Errorf("%s: Bonsai's %q is null: %v", what, k, m)
		}
	}
}

// wantTime fails unless v is an ISO 8601 timestamp.
func wantTime(t *testing.T, what string, v any) time.Time {
	t.Helper()
	s, _ := v.(string)
	at, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		t.Fatalf("%s = %v, not an ISO 8601 time", what, v)
	}
	return at
}

// shapesFixture stores an active and a finished conversation with events.
func shapesFixture(t *testing.T, e *env) (tok, pid, sid string, active, finished *store.Conversation) {
	tok = e.setup()
	pid = e.project(tok, "p")
	sid = e.stage(tok, pid, e.scripted(tok))
	ctx := context.Background()
	mk := func(user string) *store.Conversation {
		c := &store.Conversation{ProjectID: pid, StageID: sid, UserID: user, ChannelProviderID: "prov_x",
			ChannelAddress: "+15551234567", Deadline: time.Now().Add(time.Hour)}
		start := store.Event{EventType: store.EventConversationStart, EventData: json.RawMessage(`{"stageId":"` + sid + `","channel":"sms"}`)}
		if err := e.st.CreateConversation(ctx, c, start); err != nil {
			t.Fatal(err)
		}
		b, _ := json.Marshal(store.MessageData{Role: "user", Text: "hi"})
		if err := e.st.AppendEvents(ctx, []store.Event{
			{ConversationID: c.ID, EventType: store.EventMessage, EventData: b},
			{ConversationID: c.ID, EventType: store.EventDelivery, EventData: json.RawMessage(`{"state":"sent","outboxId":1,"attempts":1,"part":1,"parts":1}`)},
		}); err != nil {
			t.Fatal(err)
		}
		return c
	}
	active, finished = mk("+15550000001"), mk("+15550000002")
	details := json.RawMessage(`{"reason":"inactivity_timeout"}`)
	if err := e.st.EndConversation(ctx, finished.ID, details, store.Event{EventType: store.EventConversationEnd, EventData: details}); err != nil {
		t.Fatal(err)
	}
	return tok, pid, sid, active, finished
}

func TestConversationShapeIsBonsais(t *testing.T) {
	e := newEnv(t)
	tok, pid, sid, active, finished := shapesFixture(t, e)
	base := "/api/projects/" + pid + "/conversations"

	byID := map[string]map[string]any{}
	for _, it := range e.do("GET", base, tok, nil).items(2, 0, 100) {
		wantKeys(t, "conversation", it, bonsaiConversationKeys, bonsaiConversationNonNull)
		if !slices.Contains(bonsaiConversationStatuses, it["status"].(string)) {
			t.Errorf("status %v is not one of Bonsai's %v", it["status"], bonsaiConversationStatuses)
		}
		if d := it["direction"]; d != "incoming" && d != "outgoing" {
			t.Errorf("direction = %v, want incoming or outgoing", d)
		}
		if _, ok := it["stageVars"].(map[string]any); !ok {
			t.Errorf("stageVars = %v, want an object", it["stageVars"])
		}
		if _, ok := it["metadata"].(map[string]any); !ok {
			t.Errorf("metadata = %v, want an object", it["metadata"])
		}
		wantTime(t, "createdAt", it["createdAt"])
		wantTime(t, "updatedAt", it["updatedAt"])
		byID[it["id"].(string)] = it
	}
	a, f := byID[active.ID], byID[finished.ID]
	// Switchboard's conversations are all started by an inbound text; the
	// stage never changes during one.
	if a["status"] != "awaiting_user_input" || a["direction"] != "incoming" || a["startingStageId"] != sid ||
		a["endingStageId"] != nil || a["statusDetails"] != nil || a["clientId"] != "prov_x" {
		t.Errorf("active conversation = %v", a)
	}
	if f["status"] != "finished" || f["startingStageId"] != sid || f["endingStageId"] != sid || f["statusDetails"] != "inactivity_timeout" {
		t.Errorf("finished conversation = %v", f)
	}
	// Switchboard's own fields stay.
	if a["channelProviderId"] != "prov_x" || a["version"] == nil || a["deadline"] == nil {
		t.Errorf("Switchboard's fields lost: %v", a)
	}

	g := e.do("GET", base+"/"+finished.ID, tok, nil).want(http.StatusOK).obj()
	wantKeys(t, "conversation", g, bonsaiConversationKeys, bonsaiConversationNonNull)
	if g["status"] != "finished" || g["endingStageId"] != sid {
		t.Errorf("get = %v", g)
	}
}

func TestEventShapeIsBonsais(t *testing.T) {
	e := newEnv(t)
	tok, pid, sid, _, finished := shapesFixture(t, e)
	evBase := "/api/projects/" + pid + "/conversations/" + finished.ID + "/events"

	// In time order as the console asks (orderBy=timestamp); Bonsai's
	// default is newest first.
	evs := e.do("GET", evBase+"?orderBy=timestamp", tok, nil).items(4, 0, 100)
	digits := regexp.MustCompile(`^[0-9]+$`)
	for _, ev := range evs {
		wantKeys(t, "event", ev, bonsaiEventKeys, []string{"id", "projectId", "conversationId", "eventType", "eventData", "timestamp", "metadata"})
		if id, ok := ev["id"].(string); !ok || !digits.MatchString(id) {
			t.Errorf("event id = %#v, want Bonsai's string", ev["id"])
		}
		if ev["projectId"] != pid || ev["conversationId"] != finished.ID || ev["stageId"] != sid {
			t.Errorf("event = %v", ev)
		}
		at := wantTime(t, "timestamp", ev["timestamp"])
		if !at.Equal(wantTime(t, "createdAt", ev["createdAt"])) {
			t.Errorf("timestamp %v != createdAt %v", ev["timestamp"], ev["createdAt"])
		}
		if _, ok := ev["metadata"].(map[string]any); !ok {
			t.Errorf("metadata = %v, want an object", ev["metadata"])
		}
	}
	types := []string{}
	for _, ev := range evs {
		types = append(types, ev["eventType"].(string))
	}
	if strings.Join(types, ",") != "conversation_start,message,delivery,conversation_end" {
		t.Fatalf("event types = %v", types)
	}
	for _, i := range []int{0, 1, 3} {
		if !slices.Contains(bonsaiEventTypes, types[i]) {
			t.Errorf("%s is not a Bonsai event type", types[i])
		}
	}
	// eventData carries the fields Bonsai's schemas require: a message's
	// role/text/originalText, start's and end's stageId (end: reason).
	msg := evs[1]["eventData"].(map[string]any)
	if msg["role"] != "user" || msg["text"] != "hi" || msg["originalText"] != "hi" {
		t.Errorf("message eventData = %v", msg)
	}
	if d := evs[0]["eventData"].(map[string]any); d["stageId"] != sid {
		t.Errorf("conversation_start eventData = %v", d)
	}
	if d := evs[3]["eventData"].(map[string]any); d["stageId"] != sid || d["reason"] != "inactivity_timeout" {
		t.Errorf("conversation_end eventData = %v", d)
	}
	// Switchboard's additional type keeps its data.
	if d := evs[2]["eventData"].(map[string]any); d["state"] != "sent" {
		t.Errorf("delivery eventData = %v", d)
	}

	// Bonsai's event detail route answers the same event.
	id := evs[1]["id"].(string)
	one := e.do("GET", evBase+"/"+id, tok, nil).want(http.StatusOK).obj()
	a, _ := json.Marshal(one)
	b, _ := json.Marshal(evs[1])
	if string(a) != string(b) {
		t.Errorf("detail = %s, list item = %s", a, b)
	}
	// Another conversation's event, a missing one and a non-numeric ID are
	// not found; so is an event under a conversation of another project.
	other := e.do("GET", "/api/projects/"+pid+"/conversations", tok, nil).items(2, 0, 100)
	for _, c := range other {
		if c["id"] != finished.ID {
			e.do("GET", "/api/projects/"+pid+"/conversations/"+c["id"].(string)+"/events/"+id, tok, nil).wantError(http.StatusNotFound)
		}
	}
	e.do("GET", evBase+"/999999", tok, nil).wantError(http.StatusNotFound)
	e.do("GET", evBase+"/abc", tok, nil).wantError(http.StatusNotFound)
	e.do("GET", evBase+"/-1", tok, nil).wantError(http.StatusNotFound)
	e.do("GET", "/api/projects/"+pid+"/conversations/conv_nope/events/"+id, tok, nil).wantError(http.StatusNotFound)
}

// The console filters conversations by Bonsai status: the dashboard counts
// "active" ones with op in over Bonsai's five live states and the others
// by value; the list page sends op eq, for direction too.
func TestConversationStatusFilter(t *testing.T) {
	e := newEnv(t)
	tok, pid, _, active, finished := shapesFixture(t, e)
	base := "/api/projects/" + pid + "/conversations?"

	live := url.Values{"filters[status][op]": {"in"}}
	for i, s := range []string{"initialized", "awaiting_user_input", "receiving_user_voice", "processing_user_input", "generating_response"} {
		live.Set("filters[status][value]["+string(rune('0'+i))+"]", s)
	}
	for _, c := range []struct {
		query string
		want  []string
	}{
		{live.Encode() + "&limit=1", []string{active.ID}},
		{"filters[status]=finished", []string{finished.ID}},
		{"filters%5Bstatus%5D=finished", []string{finished.ID}},
		{"filters[status]=aborted", nil},
		{"filters[status]=failed", nil},
		{"filters[status][op]=eq&filters[status][value]=awaiting_user_input", []string{active.ID}},
		{"filters[status][]=finished&filters[status][]=awaiting_user_input", []string{active.ID, finished.ID}},
		{"filters[status][op]=ne&filters[status][value]=finished", []string{active.ID}},
		{"filters[status][op]=nin&filters[status][value][]=finished&filters[status][value][]=awaiting_user_input", nil},
		{"filters[status][op]=in&filters[status][value]=processing_user_input,finished", []string{finished.ID}},
		{"filters[status][op]=like&filters[status][value]=awaiting%25", []string{active.ID}},
		{"filters[status][op]=gt&filters[status][value]=b", []string{finished.ID}},
		{"filters[endingStageId][op]=eq&filters[endingStageId][value]=" + finished.StageID, []string{finished.ID}},
		{"filters[startingStageId]=" + finished.StageID, []string{active.ID, finished.ID}},
		{"filters[sessionId]=" + active.ID, []string{active.ID}},
		{"filters[id][op]=in&filters[id][value][]=" + active.ID + "&filters[id][value][]=conv_x", []string{active.ID}},
		{"textSearch=" + finished.ID[5:], []string{finished.ID}},
		{"filters[userId]=%2B15550000000&filters[status]=finished", nil},
		// Every Switchboard conversation is incoming (the list page's
		// direction filter).
		{"filters[direction][op]=eq&filters[direction][value]=incoming", []string{active.ID, finished.ID}},
		{"filters[direction][op]=eq&filters[direction][value]=outgoing", nil},
		{"filters[direction]=outgoing&filters[status]=finished", nil},
		{"filters[direction]=incoming&filters[status]=finished", []string{finished.ID}},
		// statusDetails is the end's reason, null while active (Bonsai's
		// columnMap has it).
		{"filters[statusDetails]=inactivity_timeout", []string{finished.ID}},
		{"filters[statusDetails][op]=in&filters[statusDetails][value][]=opt_out&filters[statusDetails][value][]=inactivity_timeout", []string{finished.ID}},
		{"filters[statusDetails]=opt_out", nil},
		{"filters[statusDetails][op]=ne&filters[statusDetails][value]=opt_out", []string{finished.ID}},
		{"filters[statusDetails][op]=like&filters[statusDetails][value]=INACTIVITY%25", []string{finished.ID}},
		{"filters[statusDetails]=%7B%22reason%22%3A%22inactivity_timeout%22%7D", nil}, // the reason, not the stored JSON
	} {
		limit := 100
		if strings.Contains(c.query, "limit=1") {
			limit = 1
		}
		items := e.do("GET", base+c.query, tok, nil).items(len(c.want), 0, limit)
		var got []string
		for _, it := range items {
			got = append(got, it["id"].(string))
		}
		slices.Sort(got)
		want := slices.Clone(c.want)
		slices.Sort(want)
		if len(want) > limit {
			want = want[:limit]
		}
		if !slices.Equal(got, want) {
			t.Errorf("%s: got %v, want %v", c.query, got, want)
		}
	}

	// Bad filters are refused with a reason, not ignored.
	e.do("GET", base+"filters[status]=active", tok, nil).wantField("filters[status]")
	e.do("GET", base+"filters[status]=", tok, nil).wantField("filters[status]")
	e.do("GET", base+"filters[status]=processing_user_input,finished", tok, nil).wantField("filters[status]") // one value: eq
	e.do("GET", base+"filters[status][op]=regex&filters[status][value]=finished", tok, nil).wantField("filters[status]")
	e.do("GET", base+"filters[status][op]=eq&filters[status][value][]=finished&filters[status][value][]=failed", tok, nil).wantField("filters[status]")
	e.do("GET", base+"filters[direction]=sideways", tok, nil).wantField("filters[direction]")
	e.do("GET", base+"filters[colour]=red", tok, nil).wantField("filters[colour]")
	e.do("GET", base+"orderBy=colour", tok, nil).wantField("orderBy")

	// Newest first by default; orderBy turns it round.
	if items := e.do("GET", base+"limit=1", tok, nil).items(2, 0, 1); items[0]["id"] != finished.ID {
		t.Errorf("newest first: %v", items)
	}
	if items := e.do("GET", base+"limit=1&orderBy=createdAt", tok, nil).items(2, 0, 1); items[0]["id"] != active.ID {
		t.Errorf("oldest first: %v", items)
	}
	// Null (active) first, as every nullable field.
	if items := e.do("GET", base+"limit=1&orderBy=statusDetails", tok, nil).items(2, 0, 1); items[0]["id"] != active.ID {
		t.Errorf("orderBy=statusDetails: %v", items)
	}
	if items := e.do("GET", base+"limit=1&orderBy=-statusDetails", tok, nil).items(2, 0, 1); items[0]["id"] != finished.ID {
		t.Errorf("orderBy=-statusDetails: %v", items)
	}
	e.do("GET", base+"filters[statusDetails][op]=between&filters[statusDetails][value]=a", tok, nil).wantField("filters[statusDetails]")
}
