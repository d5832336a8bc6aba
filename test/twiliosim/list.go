package twiliosim

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Page sizes of the message list, as Twilio's.
const (
	defaultPageSize = 50
	maxPageSize     = 1000
)

// pageMeta is the paging part every Twilio list JSON carries beside its
// items.
type pageMeta struct {
	End             int     `json:"end"`
	FirstPageURI    string  `json:"first_page_uri"`
	NextPageURI     *string `json:"next_page_uri"`
	Page            int     `json:"page"`
	PageSize        int     `json:"page_size"`
	PreviousPageURI *string `json:"previous_page_uri"`
	Start           int     `json:"start"`
	URI             string  `json:"uri"`
}

// listPage is Twilio's list JSON for messages.
type listPage struct {
	Messages []messageResource `json:"messages"`
	pageMeta
}

// listFilter is the filter of a message list call. A zero time is no bound;
// bounds are inclusive and compared at Twilio's granularity of one second.
type listFilter struct {
	to, from  string
	notBefore time.Time
	notAfter  time.Time
}

// dateKeys are the date filters Twilio accepts. A query written
// "DateSent>=2024-01-02" reaches the server as key "DateSent>", so ">" and
// "<" mean "on or after" and "on or before"; the spelled-out keys are
// accepted too, for clients that escape the "=".
var dateKeys = []string{"DateSent", "DateSent>", "DateSent>=", "DateSent<", "DateSent<="}

// parseListFilter reads the filters of q.
func parseListFilter(q url.Values) (listFilter, error) {
	f := listFilter{to: q.Get("To"), from: q.Get("From")}
	for _, key := range dateKeys {
		v := q.Get(key)
		if v == "" {
			continue
		}
		first, last, err := parseDateBound(v)
		if err != nil {
			return f, fmt.Errorf("twiliosim: invalid %s %q: %w", key, v, err)
		}
		switch key {
		case "DateSent":
			f.notBefore, f.notAfter = laterOf(f.notBefore, first), earlierOf(f.notAfter, last)
		case "DateSent>", "DateSent>=":
			f.notBefore = laterOf(f.notBefore, first)
		default:
			f.notAfter = earlierOf(f.notAfter, last)
		}
	}
	return f, nil
}

// parseDateBound reads a YYYY-MM-DD date (the whole UTC day: its first and
// last second) or an RFC 3339 date-time (that second).
func parseDateBound(v string) (first, last time.Time, err error) {
	if d, err := time.Parse(time.DateOnly, v); err == nil {
		return d, d.Add(24*time.Hour - time.Second), nil
	}
	t, err := time.Parse(time.RFC3339, v)
	if err != nil {
		return time.Time{}, time.Time{}, fmt.Errorf("want YYYY-MM-DD or an RFC 3339 date-time: %w", err)
	}
	t = t.UTC().Truncate(time.Second)
	return t, t, nil
}

func laterOf(a, b time.Time) time.Time {
	if a.IsZero() || b.After(a) {
		return b
	}
	return a
}

func earlierOf(a, b time.Time) time.Time {
	if a.IsZero() || b.Before(a) {
		return b
	}
	return a
}

// match reports whether m passes the filter. The simulated Twilio sends a
// message the moment it accepts it, so its send date is its creation date.
func (f listFilter) match(m Message) bool {
	if (f.to != "" && m.To != f.to) || (f.from != "" && m.From != f.from) {
		return false
	}
	at := m.Received.Truncate(time.Second)
	if !f.notBefore.IsZero() && at.Before(f.notBefore) {
		return false
	}
	if !f.notAfter.IsZero() && at.After(f.notAfter) {
		return false
	}
	return true
}

// listMessages handles GET Messages.json: the account's messages matching
// the filters, newest first, one page at a time. Like Twilio's, a page token
// ("PA" + the SID of the previous page's last message) keeps paging stable
// while new messages arrive.
func (s *Server) listMessages(w http.ResponseWriter, r *http.Request, sid string) {
	s.mu.Lock()
	s.listCalls++
	s.changedLocked()
	s.mu.Unlock()
	if _, ok := s.authenticate(w, r, sid); !ok {
		return
	}
	q := r.URL.Query()
	att := Attempt{AccountSID: sid, From: q.Get("From"), To: q.Get("To")}

	s.mu.Lock()
	var spec *failSpec
	if len(s.listFails) > 0 {
		spec = &s.listFails[0]
		s.listFails = s.listFails[1:]
	}
	s.mu.Unlock()
	if spec != nil {
		if spec.status == 0 {
			s.hold(w, r, att)
			return
		}
		s.reject(w, att, spec.status, spec.code, faultMessage(spec.code), true)
		return
	}

	filter, err := parseListFilter(q)
	if err != nil {
		s.reject(w, att, http.StatusBadRequest, 20001, err.Error(), false)
		return
	}
	pageSize := defaultPageSize
	if v := q.Get("PageSize"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			s.reject(w, att, http.StatusBadRequest, 20001, "Invalid PageSize "+strconv.Quote(v), false)
			return
		}
		pageSize = min(n, maxPageSize)
	}
	page := 0
	if v := q.Get("Page"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			s.reject(w, att, http.StatusBadRequest, 20001, "Invalid Page "+strconv.Quote(v), false)
			return
		}
		page = n
	}

	s.mu.Lock()
	var matches []int
	for i := len(s.messages) - 1; i >= 0; i-- {
		if m := s.messages[i]; m.AccountSID == sid && filter.match(m) {
			matches = append(matches, i)
		}
	}

	first := min(page*pageSize, len(matches))
	if token := q.Get("PageToken"); token != "" {
		first = len(matches) // an unknown token: the messages are gone
		if after, ok := strings.CutPrefix(token, "PA"); ok {
			for i, idx := range matches {
				if s.messages[idx].SID == after {
					first = i + 1
					break
				}
			}
		}
	}
	last := min(first+pageSize, len(matches))
	msgs := make([]messageResource, 0, last-first)
	for _, idx := range matches[first:last] {
		msgs = append(msgs, messageJSON(s.messages[idx]))
	}
	lastSID := ""
	if last > 0 {
		lastSID = s.messages[matches[last-1]].SID
	}
	s.mu.Unlock()

	path := apiPrefix + sid + "/Messages.json"
	pageURI := func(page int, token string) string {
		v := url.Values{}
		for _, k := range append([]string{"To", "From"}, dateKeys...) {
			if x := q.Get(k); x != "" {
				v.Set(k, x)
			}
		}
		v.Set("PageSize", strconv.Itoa(pageSize))
		v.Set("Page", strconv.Itoa(page))
		if token != "" {
			v.Set("PageToken", token)
		}
		return path + "?" + v.Encode()
	}
	out := listPage{Messages: msgs, pageMeta: pageMeta{
		FirstPageURI: pageURI(0, ""),
		Page:         page,
		PageSize:     pageSize,
		Start:        page * pageSize,
		URI:          pageURI(page, q.Get("PageToken")),
	}}
	if last < len(matches) {
		next := pageURI(page+1, "PA"+lastSID)
		out.NextPageURI = &next
	}
	out.End = out.Start + max(len(out.Messages)-1, 0)
	s.writeJSON(w, http.StatusOK, out)
}
