package twilio_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"switchboard/providers/twilio"
	"switchboard/test/twiliosim"
)

func TestFindSent(t *testing.T) {
	sim := startSim(t, twiliosim.Options{})
	s := newSender(t, twilio.SenderOptions{})
	ctx := context.Background()
	cfg := config(sim.URL())

	since := time.Now()
	sent, err := s.Send(ctx, cfg, twilio.Message{To: testTo, Body: "Hello there"})
	if err != nil {
		t.Fatal(err)
	}
	// Same recipient, other bodies and another recipient, sent later, so
	// they come first in Twilio's newest-first list.
	for _, m := range []twilio.Message{
		{To: testTo, Body: "Hello there!"},
		{To: testTo, Body: "hello there"},
		{To: "+15557654321", Body: "Hello there"},
	} {
		if _, err := s.Send(ctx, cfg, m); err != nil {
			t.Fatal(err)
		}
	}

	got, found, err := s.FindSent(ctx, cfg, twilio.Message{To: testTo, Body: "Hello there"}, since)
	if err != nil || !found || got.SID != sent.SID || got.Status != "queued" || got.NumSegments != 1 {
		t.Fatalf("FindSent = %+v, %v, %v; want %s", got, found, err, sent.SID)
	}
	// An explicit From equal to the provider's is the same message.
	if got, found, err := s.FindSent(ctx, cfg, twilio.Message{From: testFrom, To: testTo, Body: "Hello there"}, since); err != nil || !found || got.SID != sent.SID {
		t.Fatalf("explicit From: %+v, %v, %v", got, found, err)
	}
	if sim.ListCalls() != 2 {
		t.Fatalf("ListCalls = %d, want 2", sim.ListCalls())
	}

	notFound := []struct {
		name  string
		msg   twilio.Message
		since time.Time
	}{
		{"different body", twilio.Message{To: testTo, Body: "Hello"}, since},
		{"different From", twilio.Message{From: "+15005550001", To: testTo, Body: "Hello there"}, since},
		{"older than since", twilio.Message{To: testTo, Body: "Hello there"}, time.Now().Add(5 * time.Second)},
	}
	for _, c := range notFound {
		t.Run(c.name, func(t *testing.T) {
			got, found, err := s.FindSent(ctx, cfg, c.msg, c.since)
			if err != nil || found {
				t.Fatalf("FindSent = %+v, %v, %v; want not found", got, found, err)
			}
		})
	}

	_, _, err = s.FindSent(ctx, cfg, twilio.Message{To: testTo}, since)
	if se := sendErr(t, err); !se.Permanent() {
		t.Fatalf("empty body: %+v", se)
	}
}

func TestFindSentPages(t *testing.T) {
	sim := startSim(t, twiliosim.Options{})
	s := newSender(t, twilio.SenderOptions{})
	ctx := context.Background()
	cfg := config(sim.URL())

	since := time.Now()
	first, err := s.Send(ctx, cfg, twilio.Message{To: testTo, Body: "the oldest"})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 250 {
		if _, err := s.Send(ctx, cfg, twilio.Message{To: testTo, Body: fmt.Sprint("filler ", i)}); err != nil {
			t.Fatal(err)
		}
	}
	// The oldest message is on the third page of 100.
	got, found, err := s.FindSent(ctx, cfg, twilio.Message{To: testTo, Body: "the oldest"}, since)
	if err != nil || !found || got.SID != first.SID {
		t.Fatalf("FindSent = %+v, %v, %v; want %s", got, found, err, first.SID)
	}
	if n := sim.ListCalls(); n != 3 {
		t.Fatalf("ListCalls = %d, want 3 pages", n)
	}
	// Not found: every page is read, and no more.
	if _, found, err := s.FindSent(ctx, cfg, twilio.Message{To: testTo, Body: "never sent"}, since); err != nil || found {
		t.Fatalf("never sent: found %v, err %v", found, err)
	}
	if n := sim.ListCalls(); n != 6 {
		t.Fatalf("ListCalls = %d, want 6", n)
	}
}

func TestFindSentErrors(t *testing.T) {
	sim := startSim(t, twiliosim.Options{})
	s := newSender(t, twilio.SenderOptions{})
	ctx := context.Background()
	msg := twilio.Message{To: testTo, Body: "x"}

	badAuth := config(sim.URL())
	badAuth.AuthToken = "ffffffffffffffffffffffffffffffff"
	_, _, err := s.FindSent(ctx, badAuth, msg, time.Now())
	if se := sendErr(t, err); se.Status != 401 || se.Code != 20003 || !se.Permanent() {
		t.Fatalf("bad auth: %+v", se)
	}

	sim.FailNextList(1, 503, 20500)
	_, _, err = s.FindSent(ctx, config(sim.URL()), msg, time.Now())
	if se := sendErr(t, err); se.Status != 503 || !se.Temporary() {
		t.Fatalf("503: %+v", se)
	}

	// A 5xx on a later page fails the whole lookup rather than report "not
	// found", which would make the caller send again.
	sim2 := twiliosim.New(twiliosim.Options{})
	t.Cleanup(sim2.Close)
	sim2.AddAccount(testSID, testToken)
	laterPagesFail := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet && r.URL.Query().Get("PageToken") != "" {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = w.Write([]byte(`{"code":20500,"message":"An internal server error has occurred","status":503}`))
			return
		}
		sim2.ServeHTTP(w, r)
	}))
	t.Cleanup(laterPagesFail.Close)
	for range 101 {
		if _, err := s.Send(ctx, config(laterPagesFail.URL), twilio.Message{To: testTo, Body: "y"}); err != nil {
			t.Fatal(err)
		}
	}
	_, found, err := s.FindSent(ctx, config(laterPagesFail.URL), msg, time.Now().Add(-time.Minute))
	if se := sendErr(t, err); found || se.Status != 503 || se.Code != 20500 || !se.Temporary() {
		t.Fatalf("503 on page 2: found %v, %+v", found, se)
	}
	if n := sim2.ListCalls(); n != 1 {
		t.Fatalf("sim saw %d list calls, want 1", n)
	}

	// An answer that is not JSON.
	garbage := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "<html>bad gateway</html>", http.StatusBadGateway)
	}))
	t.Cleanup(garbage.Close)
	_, _, err = s.FindSent(ctx, config(garbage.URL), msg, time.Now())
	if se := sendErr(t, err); se.Status != 502 || !se.Temporary() {
		t.Fatalf("502 page: %+v", se)
	}

	// Nothing listening: retryable, a read is always safe to repeat.
	_, _, err = s.FindSent(ctx, config("http://127.0.0.1:1"), msg, time.Now())
	if se := sendErr(t, err); !se.Temporary() {
		t.Fatalf("refused: %+v", se)
	}
}

// TestFindSentChecksDates uses a server that ignores the filters: FindSent
// must still skip a message created before since minus the skew, and must
// have asked for the right window.
func TestFindSentChecksDates(t *testing.T) {
	since := time.Date(2025, 3, 4, 5, 6, 7, 800_000_000, time.UTC)
	var query string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		query = r.URL.RawQuery
		old := since.Add(-3 * time.Second).Format(time.RFC1123Z)
		recent := since.Add(-time.Second).Format(time.RFC1123Z)
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"messages":[
			{"sid":"SMold","body":"hi","status":"delivered","date_created":%q},
			{"sid":"SMrecent","body":"hi","status":"failed","date_created":%q}
		],"next_page_uri":null,"page":0,"page_size":100,"start":0,"end":1}`, old, recent)
	}))
	t.Cleanup(srv.Close)
	s := newSender(t, twilio.SenderOptions{})

	got, found, err := s.FindSent(context.Background(), config(srv.URL), twilio.Message{To: testTo, Body: "hi"}, since)
	if err != nil || !found || got.SID != "SMrecent" || got.Status != "failed" {
		t.Fatalf("FindSent = %+v, %v, %v; want SMrecent", got, found, err)
	}
	q, _ := url.ParseQuery(query)
	if q.Has("DateSent>") || q.Get("To") != testTo || q.Get("From") != testFrom || q.Get("PageSize") != "100" {
		t.Fatalf("query %q", query)
	}
}
