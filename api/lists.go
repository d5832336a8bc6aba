package api

import (
	"cmp"
	"maps"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"switchboard/store"
)

// Every list route reads Bonsai's list parameters (Bonsai's
// docs/api/pagination.md) here, as Bonsai's console sends them (axios
// serialises nested objects with brackets, Bonsai's server reads them with
// qs, dots included):
//
//	offset=0&limit=100
//	textSearch=support
//	orderBy=-createdAt          (orderBy=name&orderBy=-createdAt, orderBy[]=…)
//	filters[status]=active      (one value: eq)
//	filters[status][]=a&filters[status][]=b         (several: in)
//	filters[createdAt][op]=gte&filters[createdAt][value]=2024-01-01
//	filters[createdAt][op]=between&filters[createdAt][value][]=…&filters[createdAt][value][]=…
//
// The syntax is checked here; the fields, operators and values each list
// takes are checked by the store against the list's fields
// (store.ListOptions.Check), so an unknown field or operator is 400 naming
// the parameter.

// listOptions reads a list request's offset, limit, textSearch, orderBy
// and filters.
func listOptions(r *http.Request) (store.ListOptions, error) {
	var o store.ListOptions
	q := r.URL.Query()
	for _, p := range []struct {
		name string
		dst  *int
		min  int
	}{{"offset", &o.Offset, 0}, {"limit", &o.Limit, 1}} {
		s := strings.TrimSpace(q.Get(p.name))
		if s == "" {
			continue
		}
		n, err := strconv.Atoi(s)
		if err != nil || n < p.min {
			if p.min == 0 {
				return o, store.FieldError(p.name, "must be a non-negative integer")
			}
			return o, store.FieldError(p.name, "must be a positive integer")
		}
		if p.name == "limit" && n > store.MaxListLimit {
			return o, store.FieldError(p.name, "must be at most %d", store.MaxListLimit)
		}
		*p.dst = n
	}
	o.Search = strings.TrimSpace(q.Get("textSearch"))
	var err error
	if o.OrderBy, err = orderParams(q); err != nil {
		return o, err
	}
	if o.Filters, err = filterParams(q); err != nil {
		return o, err
	}
	return o.Normalize(), nil
}

// orderParams reads orderBy: one or more fields (repeated, as orderBy[],
// or comma-separated), each descending with a leading -.
func orderParams(q url.Values) ([]store.Order, error) {
	var out []store.Order
	for _, key := range sortedKeys(q) {
		if key != "orderBy" && key != "orderBy[]" && !(strings.HasPrefix(key, "orderBy[") && isIndexKey(key[len("orderBy"):])) {
			continue
		}
		for _, v := range q[key] {
			for _, f := range strings.Split(v, ",") {
				f = strings.TrimSpace(f)
				if f == "" {
					continue
				}
				o := store.Order{Field: strings.TrimPrefix(f, "+")}
				if rest, ok := strings.CutPrefix(f, "-"); ok {
					o = store.Order{Field: rest, Desc: true}
				}
				if o.Field == "" {
					return nil, store.FieldError("orderBy", "%q names no field", f)
				}
				out = append(out, o)
			}
		}
	}
	return out, nil
}

// isIndexKey reports whether s is "[N]".
func isIndexKey(s string) bool {
	return len(s) > 2 && s[0] == '[' && s[len(s)-1] == ']' && isIndex(s[1:len(s)-1])
}

// filterKeyRe splits filters[field][a][b] into its bracketed parts.
var filterKeyRe = regexp.MustCompile(`^filters((?:\[[^\[\]]*\])+)$`)

// filterParam is one field's filter as the query gives it: direct values,
// or an operator and its values.
type filterParam struct {
	values []string
	op     string
	opSet  bool
	opVals []string
}

// filterParams reads the filters[...] parameters into filters, one per
// field, in field order.
func filterParams(q url.Values) ([]store.Filter, error) {
	params := map[string]*filterParam{}
	for _, key := range sortedKeys(q) {
		vals := q[key]
		if strings.HasPrefix(key, "filters.") { // qs reads dots as brackets
			key = "filters[" + strings.ReplaceAll(key[len("filters."):], ".", "][") + "]"
		}
		if key == "filters" {
			return nil, store.FieldError("filters", "must be written filters[field]=value")
		}
		if !strings.HasPrefix(key, "filters[") {
			continue
		}
		m := filterKeyRe.FindStringSubmatch(key)
		if m == nil {
			return nil, store.FieldError(key, "malformed filter parameter")
		}
		parts := strings.Split(strings.TrimSuffix(strings.TrimPrefix(m[1], "["), "]"), "][")
		field := parts[0]
		if field == "" {
			return nil, store.FieldError(key, "names no field")
		}
		p := params[field]
		if p == nil {
			p = &filterParam{}
			params[field] = p
		}
		switch {
		case len(parts) == 1 || (len(parts) == 2 && isIndex(parts[1])):
			p.values = append(p.values, vals...)
		case len(parts) == 2 && parts[1] == "op":
			p.op, p.opSet = strings.TrimSpace(vals[len(vals)-1]), true
		case parts[1] == "value" && (len(parts) == 2 || (len(parts) == 3 && isIndex(parts[2]))):
			p.opVals = append(p.opVals, vals...)
		default:
			return nil, store.FieldError(key, "malformed filter parameter")
		}
	}
	var out []store.Filter
	for _, field := range slices.Sorted(maps.Keys(params)) {
		f, err := params[field].filter(field)
		if err != nil {
			return nil, err
		}
		out = append(out, f)
	}
	return out, nil
}

// filter turns one field's parameters into a filter: a direct value is
// eq, several are in; an op takes its value(s), and for in, nin and
// between one comma-separated value is a list too.
func (p *filterParam) filter(field string) (store.Filter, error) {
	name := store.FilterName(field)
	if !p.opSet {
		if len(p.opVals) > 0 {
			return store.Filter{}, store.FieldError(name, "a value needs an op")
		}
		if len(p.values) == 0 {
			return store.Filter{}, store.FieldError(name, "needs a value")
		}
		op := store.OpEq
		if len(p.values) > 1 {
			op = store.OpIn
		}
		return store.Filter{Field: field, Op: op, Values: p.values}, nil
	}
	if len(p.values) > 0 {
		return store.Filter{}, store.FieldError(name, "give either a value or an op and value, not both")
	}
	vals := p.opVals
	if len(vals) == 1 && (p.op == store.OpIn || p.op == store.OpNin || p.op == store.OpBetween) && strings.Contains(vals[0], ",") {
		vals = strings.Split(vals[0], ",")
		for i := range vals {
			vals[i] = strings.TrimSpace(vals[i])
		}
	}
	return store.Filter{Field: field, Op: p.op, Values: vals}, nil
}

// sortedKeys returns the query's keys in order, keys that differ only in a
// trailing array index ([2] before [10]) by that index, so that
// filters[f][value][0] and [1] keep their order.
func sortedKeys(q url.Values) []string {
	keys := slices.Collect(maps.Keys(q))
	slices.SortFunc(keys, compareFilterKeys)
	return keys
}

// compareFilterKeys orders query keys by name, and keys that differ only
// in a trailing array index by that index.
func compareFilterKeys(a, b string) int {
	split := func(k string) (string, int) {
		i := strings.LastIndexByte(k, '[')
		if i < 0 || !strings.HasSuffix(k, "]") {
			return k, -1
		}
		n, err := strconv.Atoi(k[i+1 : len(k)-1])
		if err != nil {
			return k, -1
		}
		return k[:i], n
	}
	pa, na := split(a)
	pb, nb := split(b)
	if c := strings.Compare(pa, pb); c != 0 {
		return c
	}
	return cmp.Compare(na, nb)
}

// isIndex reports whether a bracket part is an array index ("" or digits).
func isIndex(s string) bool {
	if s == "" {
		return true
	}
	_, err := strconv.Atoi(s)
	return err == nil
}

// takeFilters removes the filters on field from opts and returns them.
func takeFilters(opts *store.ListOptions, field string) []store.Filter {
	var taken, rest []store.Filter
	for _, f := range opts.Filters {
		if f.Field == field {
			taken = append(taken, f)
		} else {
			rest = append(rest, f)
		}
	}
	opts.Filters = rest
	return taken
}

// archivedParam reads the archived parameter of the projects list
// (Bonsai's: true lists archived projects, false or absent active ones).
func archivedParam(r *http.Request) (bool, error) {
	switch v := r.URL.Query().Get("archived"); v {
	case "", "false":
		return false, nil
	case "true":
		return true, nil
	default:
		return false, store.FieldError("archived", "must be true or false, not %q", v)
	}
}
