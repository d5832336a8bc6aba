// Package prompt renders stage prompts: Handlebars templates with Bonsai's
// template variables (docs/guide/templating.md of Bonsai), through the
// maintained Go Handlebars implementation github.com/mailgun/raymond/v2.
//
// A prompt is parsed once (Parse, at save time in the API and once per
// stage version in the engine through Cache) and rendered on every turn
// (Template.Render) with Data.
//
// Differences from Bonsai, on purpose:
//   - nothing is HTML-escaped: {{x}} and {{{x}}} render the same, because
//     a prompt is not HTML and an agent prompt with "You're" must reach the
//     model as written;
//   - a call of a helper that does not exist ({{foo bar}}), and partials,
//     are refused when the prompt is saved, where Handlebars would render
//     nothing at turn time;
//   - the agent's prompt is appended after the stage prompt when the stage
//     prompt does not place {{agent}} itself (Switchboard's behaviour
//     before templates; Bonsai then drops it).
package prompt

import (
	"fmt"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/mailgun/raymond/v2"
	"github.com/mailgun/raymond/v2/ast"
	"github.com/mailgun/raymond/v2/lexer"
	"github.com/mailgun/raymond/v2/parser"
)

// Template is a parsed stage prompt, safe for concurrent Render.
type Template struct {
	tpl *raymond.Template
	// UsesAgent reports whether the prompt places {{agent}} itself; when
	// it does not, the caller appends the agent's prompt.
	UsesAgent bool
	// static is set for a prompt without a single {{, which renders as
	// itself; src is that text.
	static bool
	src    string
	// needsTime is set when the prompt may read time (a path naming it, or
	// one that reaches the whole context): building time's calendar is
	// most of a render's cost, so a prompt that cannot see it skips it.
	needsTime bool
}

// ParseError is a prompt that does not parse or calls what does not exist,
// with where: Line is 1-based, Column (1-based, in characters) is 0 when
// the parser does not tell it.
type ParseError struct {
	Line, Column int
	Reason       string
}

// Error says what is wrong and where.
func (e *ParseError) Error() string {
	if e.Column > 0 {
		return fmt.Sprintf("line %d, column %d: %s", e.Line, e.Column, e.Reason)
	}
	return fmt.Sprintf("line %d: %s", e.Line, e.Reason)
}

// blockNames are the helpers Bonsai documents both as block helpers
// ({{#exists x}}…{{/exists}}) and as values ({{#if (exists x)}}). raymond
// does not tell a helper whether it was called as a block, so a block call
// is renamed, token by token, to its block twin.
var blockNames = map[string]string{
	"exists": "exists__block", "hasItems": "hasItems__block", "contains": "contains__block",
	"eq": "eq__block", "ne": "ne__block", "gt": "gt__block", "gte": "gte__block", "lt": "lt__block", "lte": "lte__block",
	"and": "and__block", "or": "or__block", "not": "not__block",
}

// arity are the helpers a prompt may call, with the least and most
// arguments each takes: Bonsai's (its TemplatingEngine: get, exists,
// hasItems, join, contains, default, json, eq, ne, gt, gte, lt, lte, and,
// or, not) and Handlebars' built-ins. A helper called with another number
// of arguments would fail at turn time, so the prompt is refused when
// saved. and/or take any number of values, but two as a block.
var arity = map[string][2]int{
	"get": {2, 2}, "exists": {1, 1}, "hasItems": {1, 1}, "join": {1, 2}, "contains": {2, 2}, "default": {2, 2}, "json": {1, 2},
	"eq": {2, 2}, "ne": {2, 2}, "gt": {2, 2}, "gte": {2, 2}, "lt": {2, 2}, "lte": {2, 2}, "and": {1, 16}, "or": {1, 16}, "not": {1, 1},
	"if": {1, 1}, "unless": {1, 1}, "with": {1, 1}, "each": {1, 1}, "lookup": {2, 2}, "log": {1, 1},
}

// raymondOnly are helpers raymond registers beyond Handlebars' own; they
// are not part of Bonsai's templates (and log to the server's log on bad
// input), so a prompt may not call them.
var raymondOnly = map[string]bool{
	"equal": true, "ifGt": true, "ifLt": true, "ifEq": true, "ifMatchesRegexStr": true, "pluralize": true,
}

var posRE = regexp.MustCompile(`Pos:(\d+)`)

// Parse parses a stage prompt. An empty prompt is valid and renders empty.
// The error, if any, is a *ParseError.
func Parse(src string) (t *Template, err error) {
	defer func() {
		// raymond re-panics runtime errors; a prompt is operator input and
		// must not take the server down.
		if r := recover(); r != nil {
			t, err = nil, &ParseError{Line: 1, Reason: fmt.Sprintf("template cannot be parsed: %v", r)}
		}
	}()
	// raymond's lexer runs in a goroutine that the parser stops reading
	// from at its first error, leaving it blocked for good: find lexical
	// errors and unbalanced blocks on a fully drained token stream first,
	// so that a refused prompt costs nothing after its request.
	if !strings.Contains(src, "{{") {
		return &Template{static: true, src: src}, nil
	}
	if pe := precheck(src, lexer.Collect(src)); pe != nil {
		return nil, pe
	}
	prog, err := parser.Parse(src)
	if err != nil {
		return nil, parseError(src, err)
	}
	w := walker{}
	w.program(prog)
	if w.err != nil {
		return nil, w.err.at(src)
	}
	tpl, err := raymond.Parse(renameBlocks(src))
	if err != nil {
		return nil, parseError(src, err) // not reached: src parsed above
	}
	tpl.RegisterHelpers(helpers)
	return &Template{tpl: tpl, UsesAgent: w.agent, needsTime: w.time || w.whole}, nil
}

// parseError turns a raymond parse error into a ParseError with the
// position of the error.
func parseError(src string, err error) *ParseError {
	msg := err.Error()
	pe := &ParseError{Line: 1, Reason: msg}
	lines := strings.Split(msg, "\n")
	if n, e := fmt.Sscanf(lines[0], "Parse error on line %d:", &pe.Line); n == 1 && e == nil && len(lines) > 1 {
		pe.Reason = lines[1]
	}
	pos := -1
	switch {
	case pe.Reason == "Lexer error":
		toks := lexer.Collect(src)
		if last := toks[len(toks)-1]; last.Kind == lexer.TokenError {
			pe.Reason, pos = last.Val, last.Pos
			if strings.HasPrefix(last.Val, "Unclosed") {
				// Point at what is left open, not at the end.
				for i := len(toks) - 2; i >= 0; i-- {
					if k := toks[i].Kind; k != lexer.TokenID && k != lexer.TokenSep && k != lexer.TokenString &&
						k != lexer.TokenNumber && k != lexer.TokenBoolean && k != lexer.TokenEquals && k != lexer.TokenData {
						pos = toks[i].Pos
						break
					}
				}
			}
		}
	case strings.Contains(pe.Reason, "got: 'EOF'"):
		pos = len(src)
	default:
		if m := posRE.FindStringSubmatch(msg); m != nil {
			pos, _ = strconv.Atoi(m[1])
		}
	}
	if pos >= 0 && pos <= len(src) {
		pe.Line, pe.Column = lineCol(src, pos)
	}
	return pe
}

// precheck reports a lexical error, or a block closed under another name
// or never opened, from the whole token stream (see Parse).
func precheck(src string, toks []lexer.Token) *ParseError {
	if last := toks[len(toks)-1]; last.Kind == lexer.TokenError {
		return parseError(src, fmt.Errorf("Parse error on line %d:\nLexer error", last.Line))
	}
	// name is the path after an opening token (a.b.c), and its offset.
	name := func(i int) (string, int) {
		if i+1 >= len(toks) || toks[i+1].Kind != lexer.TokenID {
			return "", -1
		}
		n, pos := toks[i+1].Val, toks[i+1].Pos
		for j := i + 2; j+1 < len(toks) && toks[j].Kind == lexer.TokenSep && toks[j+1].Kind == lexer.TokenID; j += 2 {
			n += toks[j].Val + toks[j+1].Val
		}
		return n, pos
	}
	var open []string
	for i, t := range toks {
		switch t.Kind {
		case lexer.TokenOpenBlock, lexer.TokenOpenInverse:
			if n, _ := name(i); n != "" {
				open = append(open, n)
			}
		case lexer.TokenOpenEndBlock:
			n, pos := name(i)
			if pos < 0 {
				continue // left to the parser
			}
			if len(open) == 0 {
				l, c := lineCol(src, pos)
				return &ParseError{Line: l, Column: c, Reason: fmt.Sprintf("%s closes a block that was never opened", n)}
			}
			if top := open[len(open)-1]; top != n {
				l, c := lineCol(src, pos)
				return &ParseError{Line: l, Column: c, Reason: fmt.Sprintf("%s doesn't match %s", top, n)}
			}
			open = open[:len(open)-1]
		}
	}
	return nil
}

// lineCol is the 1-based line and column of the byte offset pos.
func lineCol(src string, pos int) (int, int) {
	before := src[:pos]
	line := strings.Count(before, "\n") + 1
	col := len([]rune(before[strings.LastIndexByte(before, '\n')+1:])) + 1
	return line, col
}

// renameBlocks rewrites the prompt, token by token, into what raymond
// runs: the block calls of blockNames renamed to their block twins, and
// every {{x}} made {{&x}} (unescaped, see the package doc).
func renameBlocks(src string) string {
	toks := lexer.Collect(src)
	var b strings.Builder
	last := 0
	for i := 0; i < len(toks); i++ {
		if t := toks[i]; t.Kind == lexer.TokenOpen && (t.Val == "{{" || t.Val == "{{~") && strings.HasPrefix(src[t.Pos:], t.Val) {
			end := t.Pos + len(t.Val)
			b.WriteString(src[last:end])
			b.WriteString("&")
			last = end
			continue
		}
		if i == 0 {
			continue
		}
		t, prev := toks[i], toks[i-1].Kind
		if t.Kind != lexer.TokenID || (prev != lexer.TokenOpenBlock && prev != lexer.TokenOpenEndBlock &&
			prev != lexer.TokenOpenInverse && prev != lexer.TokenOpenInverseChain) {
			continue
		}
		if twin, ok := blockNames[t.Val]; ok && strings.HasPrefix(src[t.Pos:], t.Val) {
			b.WriteString(src[last:t.Pos])
			b.WriteString(twin)
			last = t.Pos + len(t.Val)
		}
	}
	b.WriteString(src[last:])
	return b.String()
}

// walker checks a parsed prompt: no partials, no call of an unknown
// helper; and notes whether {{agent}} is used.
type walker struct {
	agent bool
	// time is set when a path names time anywhere; whole when a path can
	// reach the whole context (this, ../, a data variable such as @root).
	time, whole bool
	err         *nodeError
}

type nodeError struct {
	pos    int
	reason string
}

func (e *nodeError) at(src string) *ParseError {
	l, c := lineCol(src, min(max(e.pos, 0), len(src)))
	return &ParseError{Line: l, Column: c, Reason: e.reason}
}

func (w *walker) fail(pos int, format string, args ...any) {
	if w.err == nil {
		w.err = &nodeError{pos: pos, reason: fmt.Sprintf(format, args...)}
	}
}

func (w *walker) program(p *ast.Program) {
	if p == nil {
		return
	}
	for _, n := range p.Body {
		switch n := n.(type) {
		case *ast.MustacheStatement:
			w.expr(n.Expression, false)
		case *ast.BlockStatement:
			w.expr(n.Expression, true)
			w.program(n.Program)
			w.program(n.Inverse)
		case *ast.PartialStatement:
			w.fail(n.Pos, "partials ({{> name}}) are not supported in a prompt")
		}
	}
}

func (w *walker) expr(e *ast.Expression, isBlock bool) {
	if e == nil {
		return
	}
	if name := e.HelperName(); name != "" {
		n, ok := arity[name]
		if isBlock && (name == "and" || name == "or") {
			n = [2]int{2, 2}
		}
		switch {
		case raymondOnly[name] || (!ok && (len(e.Params) > 0 || e.Hash != nil)):
			w.fail(e.Path.Location().Pos, "unknown helper %q", name)
		case ok && (len(e.Params) < n[0] || len(e.Params) > n[1]):
			want := strconv.Itoa(n[0])
			if n[1] != n[0] {
				want += " to " + strconv.Itoa(n[1])
			}
			w.fail(e.Path.Location().Pos, "helper %q takes %s argument(s), got %d", name, want, len(e.Params))
		}
	}
	w.node(e.Path)
	for _, p := range e.Params {
		w.node(p)
	}
	if e.Hash != nil {
		for _, p := range e.Hash.Pairs {
			w.node(p.Val)
		}
	}
}

func (w *walker) node(n ast.Node) {
	switch n := n.(type) {
	case *ast.PathExpression:
		if !n.Data && n.Depth == 0 && !n.Scoped && len(n.Parts) > 0 && n.Parts[0] == "agent" {
			w.agent = true
		}
		if n.Data || n.Depth > 0 || len(n.Parts) == 0 {
			w.whole = true
		}
		if slices.Contains(n.Parts, "time") {
			w.time = true
		}
	case *ast.SubExpression:
		w.expr(n.Expression, false)
	case *ast.Expression:
		w.expr(n, false)
	}
}

// Render executes the prompt with d.
func (t *Template) Render(d *Data) (out string, err error) {
	defer func() {
		if r := recover(); r != nil {
			out, err = "", fmt.Errorf("prompt: render failed: %v", r)
		}
	}()
	if t.static {
		return t.src, nil
	}
	out, err = t.tpl.Exec(d.context(t.needsTime))
	if err != nil {
		return "", fmt.Errorf("prompt: %w", err)
	}
	return out, nil
}

// Cache keeps one parsed Template per stage (or agent), parsed again only
// when its version or prompt changes: stage prompts are rendered on every
// turn and parsed once per stage version. Safe for concurrent use.
type Cache struct {
	m sync.Map // key → *cacheEntry
}

type cacheEntry struct {
	version int64
	src     string
	tpl     *Template
	err     error
}

// Get returns the parsed prompt src of key (a stage, or an agent: any
// string naming one prompt) at a version. The source is compared too, so
// a key reused for another prompt never gets the wrong template.
func (c *Cache) Get(key string, version int64, src string) (*Template, error) {
	if v, ok := c.m.Load(key); ok {
		if e := v.(*cacheEntry); e.version == version && e.src == src {
			return e.tpl, e.err
		}
	}
	tpl, err := Parse(src)
	c.m.Store(key, &cacheEntry{version: version, src: src, tpl: tpl, err: err})
	return tpl, err
}

// safe marks helper output as not to be escaped (see the package doc).
func safe(s string) raymond.SafeString { return raymond.SafeString(s) }

// isNil reports a missing value (JavaScript's null or undefined).
func isNil(v any) bool {
	if v == nil {
		return true
	}
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Pointer, reflect.Interface, reflect.Map, reflect.Slice:
		return rv.IsNil()
	}
	return false
}

// truthy is JavaScript's truthiness: not null, false, 0, "" (an empty
// list or object is true).
func truthy(v any) bool {
	if isNil(v) {
		return false
	}
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Bool:
		return rv.Bool()
	case reflect.String:
		return rv.Len() > 0
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return rv.Int() != 0
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return rv.Uint() != 0
	case reflect.Float32, reflect.Float64:
		return rv.Float() != 0
	}
	return true
}

// exists is Bonsai's exists: not null, undefined or "".
func exists(v any) bool { return !isNil(v) && !(isString(v) && str(v) == "") }

func isString(v any) bool { return v != nil && reflect.ValueOf(v).Kind() == reflect.String }

// number returns v as a float64 when it is a number.
func number(v any) (float64, bool) {
	if v == nil {
		return 0, false
	}
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return float64(rv.Int()), true
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return float64(rv.Uint()), true
	case reflect.Float32, reflect.Float64:
		return rv.Float(), true
	}
	return 0, false
}

// strictEqual is JavaScript's === on template values: numbers by value,
// strings by text, booleans, and two missing values.
func strictEqual(a, b any) bool {
	if x, ok := number(a); ok {
		y, ok := number(b)
		return ok && x == y
	}
	switch {
	case isString(a) || isString(b):
		return isString(a) && isString(b) && str(a) == str(b)
	case isNil(a) || isNil(b):
		return isNil(a) && isNil(b)
	}
	ab, okA := a.(bool)
	bb, okB := b.(bool)
	return okA && okB && ab == bb
}

// compare orders two numbers, or two strings; ok is false otherwise
// (JavaScript's comparisons are then false).
func compare(a, b any) (c int, ok bool) {
	if x, ok := number(a); ok {
		if y, ok := number(b); ok {
			switch {
			case x < y:
				return -1, true
			case x > y:
				return 1, true
			}
			return 0, true
		}
		return 0, false
	}
	if isString(a) && isString(b) {
		return strings.Compare(str(a), str(b)), true
	}
	return 0, false
}

func cmp(test func(int) bool) func(a, b any) bool {
	return func(a, b any) bool {
		c, ok := compare(a, b)
		return ok && test(c)
	}
}

// items returns v as a list, nil when it is not one.
func items(v any) []any {
	rv := reflect.ValueOf(v)
	if !rv.IsValid() || (rv.Kind() != reflect.Slice && rv.Kind() != reflect.Array) {
		return nil
	}
	out := make([]any, rv.Len())
	for i := range out {
		out[i] = rv.Index(i).Interface()
	}
	return out
}

func str(v any) string {
	if v == nil {
		return ""
	}
	return raymond.Str(v)
}

// getPath follows a dotted path ("a.b.c") through maps and lists.
func getPath(v any, path string) any {
	for _, part := range strings.Split(path, ".") {
		rv := reflect.ValueOf(v)
		for rv.IsValid() && (rv.Kind() == reflect.Interface || rv.Kind() == reflect.Pointer) && !rv.IsNil() {
			rv = rv.Elem()
		}
		switch {
		case rv.IsValid() && rv.Kind() == reflect.Map && rv.Type().Key().Kind() == reflect.String:
			x := rv.MapIndex(reflect.ValueOf(part).Convert(rv.Type().Key()))
			if !x.IsValid() {
				return nil
			}
			v = x.Interface()
		case rv.IsValid() && (rv.Kind() == reflect.Slice || rv.Kind() == reflect.Array):
			i, err := strconv.Atoi(part)
			if err != nil || i < 0 || i >= rv.Len() {
				return nil
			}
			v = rv.Index(i).Interface()
		default:
			return nil
		}
	}
	return v
}

func containsValue(list any, v any) bool {
	for _, x := range items(list) {
		if strictEqual(x, v) {
			return true
		}
	}
	return false
}

func block(ok bool, o *raymond.Options) raymond.SafeString {
	if ok {
		return safe(o.Fn())
	}
	return safe(o.Inverse())
}

// blockOf is the block twin of a two-argument test.
func blockOf(test func(a, b any) bool) func(a, b any, o *raymond.Options) raymond.SafeString {
	return func(a, b any, o *raymond.Options) raymond.SafeString { return block(test(a, b), o) }
}

// helpers are Bonsai's, registered on every template (not globally), so
// they also override raymond's own lookup and log: lookup's output is not
// escaped, log writes nothing (a prompt must not write to the server's
// log). Each that Bonsai lets be both a block and a value has a __block
// twin (see blockNames).
var helpers = func() map[string]any {
	eq := strictEqual
	ne := func(a, b any) bool { return !strictEqual(a, b) }
	gt := cmp(func(c int) bool { return c > 0 })
	gte := cmp(func(c int) bool { return c >= 0 })
	lt := cmp(func(c int) bool { return c < 0 })
	lte := cmp(func(c int) bool { return c <= 0 })
	contains := containsValue
	and := func(a, b any) bool { return truthy(a) && truthy(b) }
	or := func(a, b any) bool { return truthy(a) || truthy(b) }
	return map[string]any{
		"get": func(v any, path string) any {
			x := getPath(v, path)
			if !truthy(x) {
				return ""
			}
			return x
		},
		"exists":          func(v any) bool { return exists(v) },
		"exists__block":   func(v any, o *raymond.Options) raymond.SafeString { return block(exists(v), o) },
		"hasItems":        func(v any) bool { return len(items(v)) > 0 },
		"hasItems__block": func(v any, o *raymond.Options) raymond.SafeString { return block(len(items(v)) > 0, o) },
		"contains":        contains,
		"contains__block": blockOf(contains),
		// join and json take an optional second argument: raymond passes
		// no Options to a helper with another number of parameters, so
		// they are variadic (the walker bounds the count).
		"join": func(vs ...any) raymond.SafeString {
			sep := ", "
			if len(vs) > 1 {
				sep = str(vs[1])
			}
			xs := items(vs[0])
			parts := make([]string, len(xs))
			for i, x := range xs {
				parts[i] = str(x)
			}
			return safe(strings.Join(parts, sep))
		},
		"default": func(v, fallback any) any {
			if truthy(v) {
				return v
			}
			return fallback
		},
		"json": func(vs ...any) raymond.SafeString {
			v := vs[0]
			if isNil(v) {
				return ""
			}
			indent := ""
			if len(vs) > 1 && truthy(vs[1]) {
				indent = "  "
			}
			out, err := jsonText(v, indent)
			if err != nil {
				return safe(str(v))
			}
			return safe(out)
		},
		"eq": eq, "eq__block": blockOf(eq),
		"ne": ne, "ne__block": blockOf(ne),
		"gt": gt, "gt__block": blockOf(gt),
		"gte": gte, "gte__block": blockOf(gte),
		"lt": lt, "lt__block": blockOf(lt),
		"lte": lte, "lte__block": blockOf(lte),
		"and": func(vs ...any) bool {
			for _, v := range vs {
				if !truthy(v) {
					return false
				}
			}
			return true
		},
		"or": func(vs ...any) bool {
			for _, v := range vs {
				if truthy(v) {
					return true
				}
			}
			return false
		},
		"and__block": blockOf(and),
		"or__block":  blockOf(or),
		"not":        func(v any) bool { return !truthy(v) },
		"not__block": func(v any, o *raymond.Options) raymond.SafeString { return block(!truthy(v), o) },
		"lookup":     func(v any, key string) any { return getPath(v, key) },
		"log":        func(any) string { return "" },
	}
}()
