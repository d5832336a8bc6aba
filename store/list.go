package store

import (
	"slices"
	"strconv"
	"strings"
	"time"
)

// Lists follow Bonsai's pagination and filtering contract (Bonsai's
// docs/api/pagination.md): a page (offset, limit), filters on the fields
// of the listed resource with Bonsai's operators, a text search and an
// order. ListOptions carries them from the API to the stores, which check
// them against each resource's fields (see ListFields) and build the SQL
// from a whitelist of columns, with every value a placeholder.

// Page sizes: Bonsai's default and maximum.
const (
	DefaultListLimit = 100
	MaxListLimit     = 1000
)

// Filter operators: Bonsai's set.
const (
	OpEq      = "eq"
	OpNe      = "ne"
	OpGt      = "gt"
	OpGte     = "gte"
	OpLt      = "lt"
	OpLte     = "lte"
	OpLike    = "like"
	OpIn      = "in"
	OpNin     = "nin"
	OpBetween = "between"
)

// FilterOps lists the operators in Bonsai's order, for messages.
var FilterOps = []string{OpEq, OpNe, OpGt, OpGte, OpLt, OpLte, OpLike, OpIn, OpNin, OpBetween}

// Limits on what one list request may ask for, so that a request cannot
// make the database build an arbitrarily large statement.
const (
	maxFilterValues = 100
	maxOrderFields  = 5
	// MaxFilterValueLen is the longest filter value or text search, in
	// bytes.
	MaxFilterValueLen = 200
)

// Filter keeps the items whose Field compares to Values by Op: one value
// for eq, ne, gt, gte, lt, lte and like (a LIKE pattern: % any run, _ one
// character, \ escapes), one or more for in and nin, two for between (both
// ends included). Field is the API's field name (createdAt, projectId).
type Filter struct {
	Field  string
	Op     string
	Values []string
}

// Order sorts a list on Field, descending when Desc.
type Order struct {
	Field string
	Desc  bool
}

// ListOptions selects a page of a list. Limit <= 0 means DefaultListLimit;
// Normalize caps it at MaxListLimit. Every filter must hold (AND); Search,
// when set, keeps the items whose searched fields contain it (ignoring
// ASCII case; each resource names its searched fields); OrderBy, when
// empty, is the resource's default order (newest first). Ties are broken
// by ID, so pages never overlap.
type ListOptions struct {
	Offset  int
	Limit   int
	Filters []Filter
	Search  string
	OrderBy []Order
}

// Normalize returns opts with defaults and caps applied.
func (o ListOptions) Normalize() ListOptions {
	if o.Offset < 0 {
		o.Offset = 0
	}
	if o.Limit <= 0 {
		o.Limit = DefaultListLimit
	}
	if o.Limit > MaxListLimit {
		o.Limit = MaxListLimit
	}
	return o
}

// With returns a copy of o with more filters (o's own are not changed).
func (o ListOptions) With(fs ...Filter) ListOptions {
	o.Filters = append(slices.Clip(o.Filters), fs...)
	return o
}

// FieldKind is how a list field's filter values are read and compared.
type FieldKind int

// The kinds of list fields.
const (
	// KindText compares strings; like and the text search apply.
	KindText FieldKind = iota
	// KindTime reads RFC 3339 times (or a date: its midnight UTC).
	KindTime
	// KindInt reads integers.
	KindInt
	// KindBool reads true or false.
	KindBool
	// KindList is a list of strings (tags, roles): a filter on it names
	// values the list must all contain (eq), and it cannot be sorted.
	KindList
)

// ListFields are the fields of a list that filters and orderBy may name,
// with their kinds.
type ListFields map[string]FieldKind

// names returns the field names in order, for messages.
func (f ListFields) names(sortable bool) string {
	var ns []string
	for n, k := range f {
		if !sortable || k != KindList {
			ns = append(ns, n)
		}
	}
	slices.Sort(ns)
	return strings.Join(ns, ", ")
}

// FilterName is how a filter on field is named in errors: as the query
// parameter that carries it.
func FilterName(field string) string { return "filters[" + field + "]" }

// Check validates o against the fields of a list: every filter names a
// field of fields with an operator its kind takes and the right number of
// readable values, every order a sortable field, and the search is not
// too long. Its errors are EINVALID FieldErrors naming the parameter
// (filters[createdAt], orderBy, textSearch).
func (o ListOptions) Check(fields ListFields) error {
	for _, f := range o.Filters {
		if err := f.check(fields); err != nil {
			return err
		}
	}
	if len(o.OrderBy) > maxOrderFields {
		return FieldError("orderBy", "at most %d fields", maxOrderFields)
	}
	for _, ob := range o.OrderBy {
		k, ok := fields[ob.Field]
		if !ok || k == KindList {
			return FieldError("orderBy", "cannot order by %q (want one of %s, - before a field for descending)", ob.Field, fields.names(true))
		}
	}
	if len(o.Search) > MaxFilterValueLen {
		return FieldError("textSearch", "must be at most %d characters", MaxFilterValueLen)
	}
	return nil
}

func (f Filter) check(fields ListFields) error {
	name := FilterName(f.Field)
	kind, ok := fields[f.Field]
	if !ok {
		return FieldError(name, "unknown filter field %q (want one of %s)", f.Field, fields.names(false))
	}
	if !slices.Contains(FilterOps, f.Op) {
		return FieldError(name, "unknown operator %q (want one of %s)", f.Op, strings.Join(FilterOps, ", "))
	}
	switch {
	case kind == KindList && f.Op != OpEq:
		return FieldError(name, "a list field takes values it must contain, not operator %s", f.Op)
	case f.Op == OpLike && kind != KindText:
		return FieldError(name, "operator like applies to text fields only")
	case kind == KindBool && f.Op != OpEq && f.Op != OpNe && f.Op != OpIn && f.Op != OpNin:
		return FieldError(name, "operator %s does not apply to a true/false field", f.Op)
	}
	n := len(f.Values)
	switch f.Op {
	case OpIn, OpNin:
		if n == 0 {
			return FieldError(name, "operator %s needs at least one value", f.Op)
		}
	case OpBetween:
		if n != 2 {
			return FieldError(name, "operator between takes two values (the lower and upper bound), got %d", n)
		}
	case OpEq:
		if n == 0 || n > 1 && kind != KindList {
			return FieldError(name, "operator eq takes one value, got %d (use in for several)", n)
		}
	default:
		if n != 1 {
			return FieldError(name, "operator %s takes one value, got %d", f.Op, n)
		}
	}
	if n > maxFilterValues {
		return FieldError(name, "at most %d values", maxFilterValues)
	}
	vals := make([]any, n)
	for i, v := range f.Values {
		if len(v) > MaxFilterValueLen {
			return FieldError(name, "values must be at most %d characters", MaxFilterValueLen)
		}
		var err error
		if vals[i], err = ParseFilterValue(kind, v); err != nil {
			return FieldError(name, "%v", err)
		}
	}
	if f.Op == OpBetween && compareValues(vals[0], vals[1]) > 0 {
		return FieldError(name, "between needs the lower bound first")
	}
	return nil
}

// compareValues orders two parsed values of one kind.
func compareValues(a, b any) int {
	switch a := a.(type) {
	case time.Time:
		return a.Compare(b.(time.Time))
	case int64:
		return cmpInt(a, b.(int64))
	case string:
		return strings.Compare(a, b.(string))
	}
	return 0
}

func cmpInt(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// ParseFilterValue reads a filter value of a field of kind: a time.Time
// (UTC, microseconds: what the stores keep), an int64, a bool, or the
// string itself (text and list fields).
func ParseFilterValue(kind FieldKind, s string) (any, error) {
	switch kind {
	case KindTime:
		t, err := parseFilterTime(s)
		if err != nil {
			return nil, Errorf(EINVALID, "%q is not a time (want RFC 3339, e.g. 2026-01-02T15:04:05Z, or a date 2026-01-02)", s)
		}
		return t, nil
	case KindInt:
		n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
		if err != nil {
			return nil, Errorf(EINVALID, "%q is not an integer", s)
		}
		return n, nil
	case KindBool:
		switch strings.TrimSpace(s) {
		case "true", "1":
			return true, nil
		case "false", "0":
			return false, nil
		}
		return nil, Errorf(EINVALID, "%q is not true or false", s)
	}
	return s, nil
}

// parseFilterTime reads an RFC 3339 time, one without a zone (UTC), or a
// date, truncated to the stores' microseconds.
func parseFilterTime(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	var t time.Time
	var err error
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999", "2006-01-02"} {
		if t, err = time.Parse(layout, s); err == nil {
			return t.UTC().Truncate(time.Microsecond), nil
		}
	}
	return t, err
}

// LikePattern is the LIKE pattern (with ESCAPE '\') of a text search:
// the text anywhere, its ASCII letters lowered (the stores compare it with
// the column lowered the same way), its own % _ and \ matching themselves.
func LikePattern(text string) string {
	return "%" + likeEscaper.Replace(ASCIILower(text)) + "%"
}

// MatchLike reports whether s matches the LIKE pattern (% any run, _ one
// character, \ escapes the next), ignoring ASCII case as the stores' like
// filter does; the API evaluates filters on fields it derives (a
// conversation's Bonsai status) with it.
func MatchLike(s, pattern string) bool {
	return matchLike([]rune(ASCIILower(s)), []rune(ASCIILower(pattern)))
}

func matchLike(s, p []rune) bool {
	for len(p) > 0 {
		switch p[0] {
		case '%':
			for len(p) > 0 && p[0] == '%' {
				p = p[1:]
			}
			if len(p) == 0 {
				return true
			}
			for i := 0; i <= len(s); i++ {
				if matchLike(s[i:], p) {
					return true
				}
			}
			return false
		case '_':
			if len(s) == 0 {
				return false
			}
		case '\\':
			if len(p) > 1 {
				p = p[1:]
			}
			fallthrough
		default:
			if len(s) == 0 || s[0] != p[0] {
				return false
			}
		}
		s, p = s[1:], p[1:]
	}
	return len(s) == 0
}

// MatchText reports whether the text value s satisfies f, as the stores
// compare a text column (byte order; like ignores ASCII case). f must have
// passed Check.
func (f Filter) MatchText(s string) bool {
	v := f.Values
	switch f.Op {
	case OpEq:
		return s == v[0]
	case OpNe:
		return s != v[0]
	case OpGt:
		return s > v[0]
	case OpGte:
		return s >= v[0]
	case OpLt:
		return s < v[0]
	case OpLte:
		return s <= v[0]
	case OpLike:
		return MatchLike(s, v[0])
	case OpIn:
		return slices.Contains(v, s)
	case OpNin:
		return !slices.Contains(v, s)
	case OpBetween:
		return s >= v[0] && s <= v[1]
	}
	return false
}
