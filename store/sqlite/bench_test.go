package sqlite_test

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"switchboard/store"
	"switchboard/store/sqlite"
)

func openBench(b *testing.B, sync string) *sqlite.DB {
	b.Helper()
	db, err := sqlite.Open(context.Background(), filepath.Join(b.TempDir(), "bench.db"), sqlite.WithSynchronous(sync))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	return db
}

func benchInbound(i int) *store.InboundMessage {
	return &store.InboundMessage{ProviderID: "prov_bench", MessageSID: fmt.Sprintf("SM%032d", i), IdempotencyToken: fmt.Sprintf("tok%d", i),
		ProjectID: "proj_bench", StageID: "stag_bench", From: fmt.Sprintf("+1555%07d", i%1000), To: "+15550000001",
		Body: "Hello, what are your opening hours today?", ProfileName: "Sender"}
}

// reportPerMessage reports the time and rate per message of a benchmark
// that handled msgs messages.
func reportPerMessage(b *testing.B, msgs int) {
	d := b.Elapsed()
	b.ReportMetric(float64(d.Nanoseconds())/float64(msgs), "ns/msg")
	b.ReportMetric(float64(msgs)/d.Seconds(), "msgs/s")
}

// BenchmarkCommitInbound measures the durable inbox: one CommitInbound
// (one transaction) per batch.
func BenchmarkCommitInbound(b *testing.B) {
	for _, sync := range []string{"FULL", "NORMAL"} {
		for _, size := range []int{1, 64} {
			b.Run(fmt.Sprintf("sync=%s/batch=%d", sync, size), func(b *testing.B) {
				db := openBench(b, sync)
				ctx := context.Background()
				n := 0
				batch := make([]*store.InboundMessage, size)
				b.ResetTimer()
				for b.Loop() {
					for j := range batch {
						batch[j] = benchInbound(n)
						n++
					}
					if _, err := db.CommitInbound(ctx, batch); err != nil {
						b.Fatal(err)
					}
				}
				reportPerMessage(b, n)
			})
		}
	}
}

// BenchmarkCommitTurns measures committing AI turns: per message, one
// inbound marked done, two message events, one outbox row and a deadline,
// one transaction per batch.
func BenchmarkCommitTurns(b *testing.B) {
	for _, size := range []int{1, 64} {
		b.Run(fmt.Sprintf("sync=FULL/batch=%d", size), func(b *testing.B) {
			db := openBench(b, "FULL")
			ctx := context.Background()
			proj := &store.Project{Name: "bench"}
			if err := db.CreateProject(ctx, proj); err != nil {
				b.Fatal(err)
			}
			convs := make([]*store.Conversation, 64)
			for i := range convs {
				convs[i] = &store.Conversation{ProjectID: proj.ID, StageID: "stag_bench", UserID: fmt.Sprintf("+1555%07d", i),
					ChannelProviderID: "prov_bench", ChannelAddress: "+15550000001", Deadline: time.Now().Add(time.Hour)}
				if err := db.CreateConversation(ctx, convs[i], store.Event{EventType: store.EventConversationStart}); err != nil {
					b.Fatal(err)
				}
			}
			user, _ := json.Marshal(store.MessageData{Role: "user", Text: "Hello, what are your opening hours today?"})
			reply, _ := json.Marshal(store.MessageData{Role: "assistant", Text: "You said: Hello, what are your opening hours today?"})
			// The inbox rows the turns consume, committed before the clock starts.
			in := make([]*store.InboundMessage, 0, b.N*size)
			for i := range b.N * size {
				in = append(in, benchInbound(i))
				if len(in)%256 == 0 || i == b.N*size-1 {
					if _, err := db.CommitInbound(ctx, in[len(in)-((len(in)-1)%256+1):]); err != nil {
						b.Fatal(err)
					}
				}
			}
			turns := make([]*store.Turn, size)
			n := 0
			b.ResetTimer()
			for range b.N {
				for j := range turns {
					c := convs[(n+j)%len(convs)]
					turns[j] = &store.Turn{ConversationID: c.ID, InboundIDs: []int64{in[n+j].ID},
						Events: []store.Event{{EventType: store.EventMessage, EventData: user}, {EventType: store.EventMessage, EventData: reply}},
						Outbox: []*store.OutboundMessage{{ProviderID: "prov_bench", From: c.ChannelAddress, To: c.UserID,
							Body: "You said: Hello, what are your opening hours today?", Part: 1, Parts: 1}},
						Deadline: time.Now().Add(30 * time.Minute)}
				}
				n += size
				if err := db.CommitTurns(ctx, turns); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			reportPerMessage(b, n)
		})
	}
}

// benchSession returns the records of the i-th new session of the
// new-session benchmarks.
func benchSession(projectID string, i int) (*store.Conversation, []byte, []byte) {
	c := &store.Conversation{Meta: store.Meta{ID: store.NewID(store.PrefixConversation)}, ProjectID: projectID, StageID: "stag_bench",
		UserID: fmt.Sprintf("+1555%07d", i), ChannelProviderID: "prov_bench", ChannelAddress: "+15550000001", Deadline: time.Now().Add(time.Hour)}
	user, _ := json.Marshal(store.MessageData{Role: "user", Text: "Hello, what are your opening hours today?"})
	reply, _ := json.Marshal(store.MessageData{Role: "assistant", Text: "You said: Hello, what are your opening hours today?"})
	return c, user, reply
}

// BenchmarkNewSession measures what the engine writes for a new session's
// first message: "separate" with one transaction per call
// (CreateConversation, CommitTurns, UpdateOutbox, AppendEvents), "folded"
// with one CommitTurns for the first turn and one for the send result.
func BenchmarkNewSession(b *testing.B) {
	for _, mode := range []string{"separate", "folded"} {
		b.Run("sync=FULL/"+mode, func(b *testing.B) {
			db := openBench(b, "FULL")
			ctx := context.Background()
			proj := &store.Project{Name: "bench"}
			if err := db.CreateProject(ctx, proj); err != nil {
				b.Fatal(err)
			}
			i := 0
			for b.Loop() {
				c, user, reply := benchSession(proj.ID, i)
				in := []*store.InboundMessage{benchInbound(i)}
				i++
				b.StopTimer()
				if _, err := db.CommitInbound(ctx, in); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				start := store.Event{EventType: store.EventConversationStart, EventData: json.RawMessage(`{}`)}
				out := &store.OutboundMessage{ProjectID: proj.ID, ProviderID: "prov_bench", From: c.ChannelAddress, To: c.UserID, Body: "reply", Part: 1, Parts: 1}
				turn := &store.Turn{ConversationID: c.ID, InboundIDs: []int64{in[0].ID},
					Events:   []store.Event{{EventType: store.EventMessage, EventData: user}, {EventType: store.EventMessage, EventData: reply}},
					Outbox:   []*store.OutboundMessage{out},
					Deadline: time.Now().Add(30 * time.Minute)}
				delivery := store.Event{ConversationID: c.ID, EventType: store.EventDelivery, EventData: json.RawMessage(`{"state":"sent"}`)}
				if mode == "separate" {
					if err := db.CreateConversation(ctx, c, start); err != nil {
						b.Fatal(err)
					}
					if err := db.CommitTurns(ctx, []*store.Turn{turn}); err != nil {
						b.Fatal(err)
					}
					if err := db.UpdateOutbox(ctx, store.OutboxUpdate{ID: out.ID, State: store.OutboxSent, Attempts: 1, TwilioSID: "SM1"}); err != nil {
						b.Fatal(err)
					}
					if err := db.AppendEvents(ctx, []store.Event{delivery}); err != nil {
						b.Fatal(err)
					}
					continue
				}
				turn.NewConversation = c
				turn.Events = append([]store.Event{start}, turn.Events...)
				if err := db.CommitTurns(ctx, []*store.Turn{turn}); err != nil {
					b.Fatal(err)
				}
				sent := &store.Turn{ConversationID: c.ID, Events: []store.Event{delivery},
					OutboxUpdates: []store.OutboxUpdate{{ID: out.ID, State: store.OutboxSent, Attempts: 1, TwilioSID: "SM1"}}}
				if err := db.CommitTurns(ctx, []*store.Turn{sent}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkHotReads measures the engine's per-message reads.
func BenchmarkHotReads(b *testing.B) {
	db := openBench(b, "NORMAL")
	ctx := context.Background()
	proj := &store.Project{Name: "bench"}
	if err := db.CreateProject(ctx, proj); err != nil {
		b.Fatal(err)
	}
	c, user, _ := benchSession(proj.ID, 1)
	if err := db.CreateConversation(ctx, c, store.Event{EventType: store.EventConversationStart}); err != nil {
		b.Fatal(err)
	}
	evs := make([]store.Event, 20)
	for i := range evs {
		evs[i] = store.Event{ConversationID: c.ID, EventType: store.EventMessage, EventData: user}
	}
	if err := db.AppendEvents(ctx, evs); err != nil {
		b.Fatal(err)
	}
	key := store.SessionKey{ProjectID: proj.ID, ChannelProviderID: c.ChannelProviderID, To: c.ChannelAddress, From: c.UserID}
	for b.Loop() {
		if _, err := db.ActiveConversation(ctx, key); err != nil {
			b.Fatal(err)
		}
		if _, err := db.IsOptedOut(ctx, "prov_bench", c.UserID); err != nil {
			b.Fatal(err)
		}
		if _, err := db.RecentMessages(ctx, c.ID, 10); err != nil {
			b.Fatal(err)
		}
	}
}
