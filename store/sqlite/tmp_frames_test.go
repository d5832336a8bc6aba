package sqlite

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"switchboard/store"
)

func TestTmpFrames(t *testing.T) {
	for _, drop := range []string{"", "events_conversation", "outbound_conversation", "conversations_session", "inbound_pending"} {
		t.Run(drop, func(t *testing.T) { tmpFrames(t, drop) })
	}
}

func tmpFrames(t *testing.T, drop string) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "f.db")
	db, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.writer.ExecContext(ctx, "PRAGMA wal_autocheckpoint=0")
	if drop != "" {
		db.writer.ExecContext(ctx, "DROP INDEX "+drop)
	}
	proj := &store.Project{Name: "b"}
	db.CreateProject(ctx, proj)
	nconv := 2000
	convs := make([]*store.Conversation, nconv)
	for i := range convs {
		convs[i] = &store.Conversation{ProjectID: proj.ID, UserID: fmt.Sprint(i), ChannelProviderID: "p", ChannelAddress: "a", Deadline: time.Now()}
		if err := db.CreateConversation(ctx, convs[i], store.Event{}); err != nil {
			t.Fatal(err)
		}
	}
	user, _ := json.Marshal(store.MessageData{Role: "user", Text: "Hello, what are your opening hours today?"})
	n := 0
	frames := func() int64 {
		st, _ := os.Stat(path + "-wal")
		return (st.Size() - 32) / (4096 + 24)
	}
	for round := range 40 {
		in := make([]*store.InboundMessage, 64)
		for j := range in {
			in[j] = &store.InboundMessage{ProviderID: "p", MessageSID: fmt.Sprint("SM", n+j), Body: "Hello, what are your opening hours today?"}
		}
		f0 := frames()
		db.CommitInbound(ctx, in)
		f1 := frames()
		turns := make([]*store.Turn, 64)
		for j := range turns {
			c := convs[(n+j*31)%nconv]
			turns[j] = &store.Turn{ConversationID: c.ID, InboundIDs: []int64{in[j].ID},
				Events: []store.Event{{EventType: "message", EventData: user}, {EventType: "message", EventData: user}},
				Outbox: []*store.OutboundMessage{{ProviderID: "p", Body: "You said: Hello, what are your opening hours today?"}}, Deadline: time.Now()}
		}
		n += 64
		if err := db.CommitTurns(ctx, turns); err != nil {
			t.Fatal(err)
		}
		f2 := frames()
		if round%10 == 9 {
			t.Logf("inbound frames %d, turns frames %d", f1-f0, f2-f1)
		}
	}
}
