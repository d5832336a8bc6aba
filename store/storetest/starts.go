package storetest

import (
	"fmt"
	"sync"
	"testing"

	"switchboard/store"
)

// newStart is an unsaved start of the project to the recipient.
func newStart(projectID, to, key string) *store.Start {
	return &store.Start{ProjectID: projectID, IdempotencyKey: key, ProviderID: "prov_chan", To: to, From: "+15550000001",
		StageID: "stag_x", Metadata: []byte(`{"campaign":"c"}`), Text: "Hello from us"}
}

// testStarts: a start is stored once per key (also under concurrency),
// leaves pending once, and is what PendingStarts returns until then.
func testStarts(t *testing.T, s store.Store) {
	ctx := t.Context()
	proj := newProject(t, s, "p")
	other := newProject(t, s, "q")

	first, created, err := s.CreateStart(ctx, newStart(proj.ID, "+15551110001", "k1"))
	must(t, err)
	if !created || first.State != store.StartPending || first.ConversationID == "" || first.ID == "" {
		t.Fatalf("created %v %+v", created, first)
	}
	again, created, err := s.CreateStart(ctx, newStart(proj.ID, "+15551110002", "k1"))
	must(t, err)
	if created || again.ID != first.ID || again.ConversationID != first.ConversationID || again.To != "+15551110001" {
		t.Fatalf("the key's second start: created %v %+v", created, again)
	}
	if string(again.Metadata) != `{"campaign":"c"}` || again.Text != "Hello from us" {
		t.Fatalf("request fields %+v", again)
	}
	// Keys are per project.
	if _, created, err := s.CreateStart(ctx, newStart(other.ID, "+15551110001", "k1")); err != nil || !created {
		t.Fatalf("another project's key: %v %v", created, err)
	}
	byKey, err := s.StartByKey(ctx, proj.ID, "k1")
	must(t, err)
	wantEqual(t, "by key", byKey.ID, first.ID)
	_, err = s.StartByKey(ctx, proj.ID, "nope")
	wantCode(t, err, store.ENOTFOUND)

	// Concurrent requests with one key store one start.
	var wg sync.WaitGroup
	ids := make([]string, 8)
	createdN := 0
	var mu sync.Mutex
	for i := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			st, c, err := s.CreateStart(ctx, newStart(proj.ID, "+15551110003", "race"))
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			defer mu.Unlock()
			ids[i] = st.ConversationID
			if c {
				createdN++
			}
		}()
	}
	wg.Wait()
	if createdN != 1 {
		t.Fatalf("%d concurrent creates succeeded, want 1", createdN)
	}
	for _, id := range ids {
		if id != ids[0] {
			t.Fatalf("concurrent creates answered %q", ids)
		}
	}

	pending, err := s.PendingStarts(ctx)
	must(t, err)
	if len(pending) != 3 {
		t.Fatalf("%d pending starts, want 3", len(pending))
	}
	moved, err := s.FinishStart(ctx, first.ID, store.StartOptedOut, "recipient has opted out")
	must(t, err)
	if !moved {
		t.Fatal("FinishStart did not move a pending start")
	}
	moved, err = s.FinishStart(ctx, first.ID, store.StartStarted, "")
	must(t, err)
	if moved {
		t.Fatal("FinishStart moved a finished start")
	}
	got, err := s.GetStart(ctx, first.ID)
	must(t, err)
	if got.State != store.StartOptedOut || got.Error != "recipient has opted out" {
		t.Fatalf("finished start %+v", got)
	}
	pending, err = s.PendingStarts(ctx)
	must(t, err)
	if len(pending) != 2 {
		t.Fatalf("%d pending starts after one finished, want 2", len(pending))
	}
	_, _, err = s.CreateStart(ctx, &store.Start{ProjectID: proj.ID})
	wantCode(t, err, store.EINVALID)
}

// testStartJobs: a job stores its starts in order, once per key, and
// counts them by state; its starts page in order.
func testStartJobs(t *testing.T, s store.Store) {
	ctx := t.Context()
	proj := newProject(t, s, "p")
	var starts []*store.Start
	for i := range 5 {
		starts = append(starts, newStart("", fmt.Sprintf("+1555222000%d", i), ""))
	}
	j, created, err := s.CreateStartJob(ctx, &store.StartJob{ProjectID: proj.ID, ProviderID: "prov_chan", IdempotencyKey: "job1"}, starts)
	must(t, err)
	if !created || j.Total != 5 || j.Counts[store.StartPending] != 5 || j.Done() {
		t.Fatalf("job %+v", j)
	}
	for i, st := range starts {
		if st.JobID != j.ID || st.Seq != i || st.ProjectID != proj.ID || st.ID == "" {
			t.Fatalf("start %d %+v", i, st)
		}
	}
	again, created, err := s.CreateStartJob(ctx, &store.StartJob{ProjectID: proj.ID, ProviderID: "prov_chan", IdempotencyKey: "job1"},
		[]*store.Start{newStart("", "+15552229999", "")})
	must(t, err)
	if created || again.ID != j.ID || again.Total != 5 {
		t.Fatalf("the key's second job: %v %+v", created, again)
	}
	_, err = s.FinishStart(ctx, starts[1].ID, store.StartStarted, "")
	must(t, err)
	_, err = s.FinishStart(ctx, starts[3].ID, store.StartFailed, "stage gone")
	must(t, err)
	got, err := s.GetStartJob(ctx, proj.ID, j.ID)
	must(t, err)
	wantEqual(t, "counts", got.Counts, map[string]int{store.StartPending: 3, store.StartStarted: 1, store.StartFailed: 1, store.StartOptedOut: 0})
	_, err = s.GetStartJob(ctx, "proj_other", j.ID)
	wantCode(t, err, store.ENOTFOUND)
	page, err := s.JobStarts(ctx, j.ID, 1, 3)
	must(t, err)
	if len(page) != 3 || page[0].Seq != 1 || page[0].State != store.StartStarted || page[2].Error != "stage gone" {
		t.Fatalf("page %+v", page)
	}
	pending, err := s.PendingStarts(ctx)
	must(t, err)
	if len(pending) != 3 || pending[0].Seq != 0 || pending[1].Seq != 2 || pending[2].Seq != 4 {
		t.Fatalf("pending %+v", pending)
	}
	// Finished everywhere: done.
	for _, i := range []int{0, 2, 4} {
		_, err = s.FinishStart(ctx, starts[i].ID, store.StartOptedOut, "")
		must(t, err)
	}
	got, err = s.GetStartJob(ctx, proj.ID, j.ID)
	must(t, err)
	if !got.Done() {
		t.Fatalf("job not done: %+v", got)
	}
}

// testConversationDirection: a conversation keeps its direction (""
// stored as incoming) and the list filters on it.
func testConversationDirection(t *testing.T, s store.Store) {
	ctx := t.Context()
	proj := newProject(t, s, "p")
	in := unsavedConversation(proj.ID, "+15551113333")
	must(t, s.CommitTurns(ctx, []*store.Turn{{ConversationID: in.ID, NewConversation: in}}))
	out := unsavedConversation(proj.ID, "+15551114444")
	out.Direction = store.DirectionOutgoing
	must(t, s.CommitTurns(ctx, []*store.Turn{{ConversationID: out.ID, NewConversation: out, Events: []store.Event{messageEvent("assistant", "hi")}}}))
	if in.Direction != store.DirectionIncoming {
		t.Fatalf("written back direction %q", in.Direction)
	}
	got, err := s.GetConversation(ctx, proj.ID, out.ID)
	must(t, err)
	wantEqual(t, "outgoing conversation", got, out)
	for dir, want := range map[string]string{store.DirectionOutgoing: out.ID, store.DirectionIncoming: in.ID} {
		list, total, err := s.ListConversations(ctx, proj.ID, store.ListOptions{Filters: []store.Filter{{Field: "direction", Op: store.OpEq, Values: []string{dir}}}})
		must(t, err)
		if total != 1 || list[0].ID != want || list[0].Direction != dir {
			t.Fatalf("direction %s: %d %+v", dir, total, list)
		}
	}
}
