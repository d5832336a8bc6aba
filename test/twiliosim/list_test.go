package twiliosim_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"testing"
	"time"

	"switchboard/test/twiliosim"
)

// listAnswer is the part of Twilio's list JSON the tests read.
type listAnswer struct {
	Messages []struct {
		SID         string `json:"sid"`
		To          string `json:"to"`
		From        string `json:"from"`
		Body        string `json:"body"`
		DateCreated string `json:"date_created"`
	} `json:"messages"`
	Start           int     `json:"start"`
	End             int     `json:"end"`
	Page            int     `json:"page"`
	PageSize        int     `json:"page_size"`
	FirstPageURI    string  `json:"first_page_uri"`
	NextPageURI     *string `json:"next_page_uri"`
	PreviousPageURI *string `json:"previous_page_uri"`
	URI             string  `json:"uri"`
}

// list makes a raw GET Messages.json call with the query q, or follows uri
// when it is not empty.
func list(t *testing.T, sim *twiliosim.Server, pass string, q url.Values, uri string) (int, listAnswer) {
	t.Helper()
	if uri == "" {
		uri = "/2010-04-01/Accounts/" + sid + "/Messages.json?" + q.Encode()
	}
	req, err := http.NewRequest(http.MethodGet, sim.URL()+uri, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.SetBasicAuth(sid, pass)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out listAnswer
	if resp.StatusCode == http.StatusOK {
		if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
			t.Fatal(err)
		}
	}
	return resp.StatusCode, out
}

func sendN(t *testing.T, sim *twiliosim.Server, to string, n int, prefix string) []string {
	t.Helper()
	var sids []string
	for i := range n {
		status, m := post(t, sim, sid, token, url.Values{"To": {to}, "From": {from}, "Body": {prefix + strconv.Itoa(i)}})
		if status != http.StatusCreated {
			t.Fatalf("send %d: status %d: %v", i, status, m)
		}
		sids = append(sids, m["sid"].(string))
	}
	return sids
}

func TestListFilters(t *testing.T) {
	sim := start(t, twiliosim.Options{})
	other := "+15557654321"
	sendN(t, sim, to, 3, "a")
	sendN(t, sim, other, 2, "b")

	day := func(d int) string { return time.Now().UTC().AddDate(0, 0, d).Format(time.DateOnly) }
	at := func(d time.Duration) string { return time.Now().Add(d).UTC().Format(time.RFC3339) }
	cases := []struct {
		name string
		q    url.Values
		want int
	}{
		{"all", url.Values{}, 5},
		{"to", url.Values{"To": {to}}, 3},
		{"to other", url.Values{"To": {other}}, 2},
		{"from", url.Values{"From": {from}}, 5},
		{"from unknown", url.Values{"From": {"+15550000000"}}, 0},
		{"after yesterday", url.Values{"DateSent>": {day(-1)}}, 5},
		{"after tomorrow", url.Values{"DateSent>": {day(1)}}, 0},
		{"after a minute ago", url.Values{"To": {to}, "DateSent>": {at(-time.Minute)}}, 3},
		{"after in a minute", url.Values{"DateSent>": {at(time.Minute)}}, 0},
		{"spelled out >=", url.Values{"DateSent>=": {at(time.Minute)}}, 0},
		{"before yesterday", url.Values{"DateSent<": {day(-1)}}, 0},
		{"before in a minute", url.Values{"DateSent<": {at(time.Minute)}}, 5},
		{"before a minute ago", url.Values{"DateSent<": {at(-time.Minute)}}, 0},
		{"on a past day", url.Values{"DateSent": {day(-2)}}, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			status, got := list(t, sim, token, c.q, "")
			if status != http.StatusOK || len(got.Messages) != c.want {
				t.Fatalf("status %d, %d messages, want %d", status, len(got.Messages), c.want)
			}
			for _, m := range got.Messages {
				if to := c.q.Get("To"); to != "" && m.To != to {
					t.Fatalf("message to %s listed for To=%s", m.To, to)
				}
			}
		})
	}

	if status, _ := list(t, sim, token, url.Values{"DateSent>": {"yesterday"}}, ""); status != http.StatusBadRequest {
		t.Fatalf("bad date: status %d", status)
	}
	if status, _ := list(t, sim, token, url.Values{"PageSize": {"x"}}, ""); status != http.StatusBadRequest {
		t.Fatalf("bad PageSize: status %d", status)
	}
	if status, _ := list(t, sim, "wrong", url.Values{}, ""); status != http.StatusUnauthorized {
		t.Fatalf("bad auth: status %d", status)
	}
	if n := sim.ListCalls(); n != len(cases)+3 {
		t.Fatalf("ListCalls = %d, want %d", n, len(cases)+3)
	}
}

func TestListWireFormatAndPaging(t *testing.T) {
	sim := start(t, twiliosim.Options{})
	sids := sendN(t, sim, to, 7, "m")

	status, p := list(t, sim, token, url.Values{"To": {to}, "PageSize": {"3"}}, "")
	if status != http.StatusOK {
		t.Fatalf("status %d", status)
	}
	if p.Page != 0 || p.PageSize != 3 || p.Start != 0 || p.End != 2 || p.PreviousPageURI != nil || p.NextPageURI == nil || p.FirstPageURI == "" || p.URI == "" {
		t.Fatalf("page 0: %+v", p)
	}
	if _, err := time.Parse(time.RFC1123Z, p.Messages[0].DateCreated); err != nil {
		t.Fatalf("date_created: %v", err)
	}
	// Newest first; a message arriving between pages does not shift them.
	sendN(t, sim, to, 1, "late")
	var got []string
	for page := 0; ; page++ {
		for _, m := range p.Messages {
			got = append(got, m.SID)
		}
		if p.NextPageURI == nil {
			break
		}
		if page > 5 {
			t.Fatal("paging does not end")
		}
		if status, p = list(t, sim, token, nil, *p.NextPageURI); status != http.StatusOK {
			t.Fatalf("page %d: status %d", page+1, status)
		}
		if p.Page != page+1 {
			t.Fatalf("page = %d, want %d", p.Page, page+1)
		}
	}
	if len(got) != len(sids) {
		t.Fatalf("listed %d messages, want %d", len(got), len(sids))
	}
	for i, s := range got {
		if want := sids[len(sids)-1-i]; s != want {
			t.Fatalf("message %d = %s, want %s (newest first)", i, s, want)
		}
	}

	// The default and the maximum page size.
	if _, p := list(t, sim, token, url.Values{}, ""); p.PageSize != 50 || len(p.Messages) != 8 || p.NextPageURI != nil {
		t.Fatalf("default page: size %d, %d messages", p.PageSize, len(p.Messages))
	}
	if _, p := list(t, sim, token, url.Values{"PageSize": {"5000"}}, ""); p.PageSize != 1000 {
		t.Fatalf("page size %d, want 1000", p.PageSize)
	}
}

func TestListInjectedFailuresAndDiscard(t *testing.T) {
	sim := start(t, twiliosim.Options{})
	sendN(t, sim, to, 1, "x")
	sim.FailNextList(1, 503, 20500)
	if status, _ := list(t, sim, token, url.Values{}, ""); status != 503 {
		t.Fatalf("status %d, want 503", status)
	}
	if status, p := list(t, sim, token, url.Values{}, ""); status != 200 || len(p.Messages) != 1 {
		t.Fatalf("after the failure: status %d, %d messages", status, len(p.Messages))
	}
	// List failures do not affect sends.
	if status, _ := post(t, sim, sid, token, url.Values{"To": {to}, "From": {from}, "Body": {"y"}}); status != http.StatusCreated {
		t.Fatalf("send: status %d", status)
	}

	discard := start(t, twiliosim.Options{DiscardMessages: true})
	sendN(t, discard, to, 2, "d")
	if status, p := list(t, discard, token, url.Values{}, ""); status != 200 || len(p.Messages) != 0 || p.NextPageURI != nil {
		t.Fatalf("discarding: status %d, %d messages", status, len(p.Messages))
	}
	if discard.Count() != 2 || discard.ListCalls() != 1 {
		t.Fatalf("count %d, list calls %d", discard.Count(), discard.ListCalls())
	}
}
