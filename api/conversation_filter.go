package api

import (
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"

	"switchboard/store"
)

// enumFilterKey matches the query keys Bonsai's console uses to filter a
// list on one field (axios serialises nested objects with brackets), e.g.
// for status:
//
//	filters[status]=finished
//	filters[status][]=finished&filters[status][]=failed
//	filters[status][op]=in&filters[status][value][0]=initialized&...
//	filters[status][op]=eq&filters[status][value]=finished
var enumFilterKey = regexp.MustCompile(`^filters\[([A-Za-z]+)\](\[\]|\[op\]|\[value\](\[\d*\])?)?$`)

// conversationStatusFilter reads the status filter of a conversation list
// request; see enumFilter.
func conversationStatusFilter(q url.Values) ([]string, bool, error) {
	return enumFilter(q, "status", bonsaiStatuses)
}

// enumFilter reads the filter on field, whose values are one of allowed
// (Bonsai's pagination contract: a value, a list, or an op of eq, ne, in
// or nin). It answers the values asked for and whether a filter on field
// was given at all. Filters on other fields are not read here.
func enumFilter(q url.Values, field string, allowed []string) ([]string, bool, error) {
	op := ""
	var values []string
	given := false
	for key, vs := range q {
		m := enumFilterKey.FindStringSubmatch(key)
		if m == nil || m[1] != field {
			continue
		}
		m = m[1:]
		given = true
		if m[1] == "[op]" {
			if len(vs) != 1 {
				return nil, true, store.FieldError("filters["+field+"][op]", "must be given once")
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
		return nil, true, store.FieldError("filters["+field+"]", "needs a value")
	}
	for _, v := range values {
		if !slices.Contains(allowed, v) {
			return nil, true, store.FieldError("filters["+field+"]", "unknown %s %q; one of %s", field, v, strings.Join(allowed, ", "))
		}
	}
	switch op {
	case "", "eq", "in":
		if op == "eq" && len(values) != 1 {
			return nil, true, store.FieldError("filters["+field+"][value]", "op eq takes one value")
		}
		return values, true, nil
	case "ne", "nin":
		if op == "ne" && len(values) != 1 {
			return nil, true, store.FieldError("filters["+field+"][value]", "op ne takes one value")
		}
		var rest []string
		for _, s := range allowed {
			if !slices.Contains(values, s) {
				rest = append(rest, s)
			}
		}
		return rest, true, nil
	}
	return nil, true, store.FieldError("filters["+field+"][op]", "must be eq, ne, in or nin for %s", field)
}

// conversationListStatus applies the console's status and direction
// filters to opts: it answers false when no stored conversation can match
// (the page is empty). Every Switchboard conversation is incoming, so a
// direction filter either keeps all or none.
func conversationListStatus(r *http.Request, opts *store.ListOptions) (bool, error) {
	q := r.URL.Query()
	dirs, given, err := enumFilter(q, "direction", []string{"incoming", "outgoing"})
	if err != nil {
		return false, err
	}
	if given && !slices.Contains(dirs, "incoming") {
		return false, nil
	}
	bonsai, given, err := conversationStatusFilter(q)
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
