package api

import (
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"

	"switchboard/store"
)

// statusFilterKey matches the query keys Bonsai's console uses to filter
// conversations by status (axios serialises nested objects with brackets):
//
//	filters[status]=finished
//	filters[status][]=finished&filters[status][]=failed
//	filters[status][op]=in&filters[status][value][0]=initialized&...
//	filters[status][op]=eq&filters[status][value]=finished
var statusFilterKey = regexp.MustCompile(`^filters\[status\](\[\]|\[op\]|\[value\](\[\d*\])?)?$`)

// conversationStatusFilter reads the status filter of a conversation list
// request (Bonsai's pagination contract: a value, a list, or an op of eq,
// ne, in or nin). It answers the Bonsai statuses asked for and whether a
// filter was given at all. Other filters are not read here.
func conversationStatusFilter(q url.Values) ([]string, bool, error) {
	op := ""
	var values []string
	given := false
	for key, vs := range q {
		m := statusFilterKey.FindStringSubmatch(key)
		if m == nil {
			continue
		}
		given = true
		if m[1] == "[op]" {
			if len(vs) != 1 {
				return nil, true, store.FieldError("filters[status][op]", "must be given once")
			}
			op = vs[0]
			continue
		}
		for _, v := range vs {
			// A comma-separated value is a list too (how some clients
			// serialise arrays).
			for _, s := range strings.Split(v, ",") {
				if s = strings.TrimSpace(s); s != "" {
					values = append(values, s)
				}
			}
		}
	}
	if !given {
		return nil, false, nil
	}
	if len(values) == 0 {
		return nil, true, store.FieldError("filters[status]", "needs a value")
	}
	for _, v := range values {
		if !slices.Contains(bonsaiStatuses, v) {
			return nil, true, store.FieldError("filters[status]", "unknown status %q; one of %s", v, strings.Join(bonsaiStatuses, ", "))
		}
	}
	switch op {
	case "", "eq", "in":
		if op == "eq" && len(values) != 1 {
			return nil, true, store.FieldError("filters[status][value]", "op eq takes one value")
		}
		return values, true, nil
	case "ne", "nin":
		if op == "ne" && len(values) != 1 {
			return nil, true, store.FieldError("filters[status][value]", "op ne takes one value")
		}
		var rest []string
		for _, s := range bonsaiStatuses {
			if !slices.Contains(values, s) {
				rest = append(rest, s)
			}
		}
		return rest, true, nil
	}
	return nil, true, store.FieldError("filters[status][op]", "must be eq, ne, in or nin for status")
}

// conversationListStatus applies a status filter to opts: it answers
// false when no stored conversation can match (the page is empty).
func conversationListStatus(r *http.Request, opts *store.ListOptions) (bool, error) {
	bonsai, given, err := conversationStatusFilter(r.URL.Query())
	if err != nil || !given {
		return true, err
	}
	switch stored := storedStatuses(bonsai); len(stored) {
	case 0:
		return false, nil
	case 1:
		opts.Status = stored[0]
	}
	return true, nil
}
