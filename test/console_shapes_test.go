package test

import (
	"fmt"
	"net/url"
	"strconv"
	"testing"
	"time"

	"switchboard/internal/testutil"
	"switchboard/test/twiliosim"
)

// TestConsoleConversationShapes: conversations and events made by real
// texts read in Bonsai's shapes, as Bonsai's console reads them — the
// dashboard's counts by status (its "active" tile asks for Bonsai's five
// live states with op in), a finished conversation's ending stage and
// reason, events with string IDs, a timestamp and their project, and the
// event detail route.
func TestConsoleConversationShapes(t *testing.T) {
	sim := newSim(t, twiliosim.Options{})
	s := startServer(t, "", nil)
	l := setupLine(t, s, sim, lineOptions{})
	l.mustText(t, "+15553000001", "hello")
	l.waitReplies(t, "+15553000001", 1, 10*time.Second)
	l.mustText(t, "+15553000002", "STOP") // starts a conversation and ends it (opt-out)

	base := "/api/projects/" + l.ProjectID + "/conversations"
	type conv struct {
		ID              string  `json:"id"`
		Status          string  `json:"status"`
		StatusDetails   *string `json:"statusDetails"`
		Direction       string  `json:"direction"`
		StartingStageID *string `json:"startingStageId"`
		EndingStageID   *string `json:"endingStageId"`
	}
	type page struct {
		Items []conv `json:"items"`
		Total int    `json:"total"`
	}
	count := func(q url.Values) page {
		var p page
		s.mustAPI("GET", base+"?"+q.Encode(), l.token, nil, &p, 200)
		return p
	}
	live := url.Values{"limit": {"1"}, "filters[status][op]": {"in"}}
	for i, st := range []string{"initialized", "awaiting_user_input", "receiving_user_voice", "processing_user_input", "generating_response"} {
		live.Set("filters[status][value]["+strconv.Itoa(i)+"]", st)
	}
	var done conv
	testutil.CheckFor(t, 10*time.Second, func() error {
		f := count(url.Values{"limit": {"1"}, "filters[status]": {"finished"}})
		if f.Total != 1 {
			return fmt.Errorf("finished: %+v", f)
		}
		done = f.Items[0]
		return nil
	})
	if a := count(live); a.Total != 1 || a.Items[0].Status != "awaiting_user_input" || a.Items[0].Direction != "incoming" ||
		a.Items[0].StartingStageID == nil || *a.Items[0].StartingStageID != l.StageID || a.Items[0].EndingStageID != nil {
		t.Fatalf("active: %+v", a)
	}
	if done.StatusDetails == nil || *done.StatusDetails != "opt_out" || done.EndingStageID == nil || *done.EndingStageID != l.StageID {
		t.Fatalf("finished: %+v", done)
	}
	for _, st := range []string{"aborted", "failed"} {
		if p := count(url.Values{"limit": {"1"}, "filters[status]": {st}}); p.Total != 0 {
			t.Fatalf("%s: %+v", st, p)
		}
	}

	evs := l.events(t, done.ID)
	if len(evs) < 2 {
		t.Fatalf("events %+v", evs)
	}
	for _, e := range evs {
		if _, err := strconv.ParseInt(e.ID, 10, 64); err != nil {
			t.Fatalf("event id %q is not Bonsai's string id", e.ID)
		}
		if _, err := time.Parse(time.RFC3339Nano, e.Timestamp); err != nil {
			t.Fatalf("event timestamp %q: %v", e.Timestamp, err)
		}
	}
	var one struct {
		ID        string `json:"id"`
		ProjectID string `json:"projectId"`
		EventType string `json:"eventType"`
	}
	s.mustAPI("GET", base+"/"+done.ID+"/events/"+evs[0].ID, l.token, nil, &one, 200)
	if one.ID != evs[0].ID || one.ProjectID != l.ProjectID || one.EventType != evs[0].EventType {
		t.Fatalf("event detail %+v, list %+v", one, evs[0])
	}
}
