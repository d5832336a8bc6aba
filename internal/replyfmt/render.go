package replyfmt

import (
	"bytes"
	"strconv"
	"strings"

	"github.com/yuin/goldmark/ast"
	east "github.com/yuin/goldmark/extension/ast"
	"github.com/yuin/goldmark/util"
)

// renderer writes one parsed answer. Blocks are separated by a line break,
// or by a blank line where the author left one; indent is written after
// every line break inside list items (and "> " quotes on WhatsApp).
type renderer struct {
	src    []byte
	out    []byte
	wa     bool   // WhatsApp formatting, else plain text
	indent string // written after each line break
	bold   int    // depth of bold (WhatsApp markers are not nested)
	italic int
	strike int
	code   int // inside WhatsApp monospace: no markers
	seen   map[string]bool
}

// newline ends the line (dropping its trailing spaces) and starts the next
// at the current indentation; blank adds an empty line first.
func (r *renderer) newline(blank bool) {
	r.trimSpaces()
	r.out = append(r.out, '\n')
	if blank {
		r.out = append(r.out, '\n')
	}
	r.out = append(r.out, r.indent...)
}

// trimSpaces drops spaces and tabs at the end of the output.
func (r *renderer) trimSpaces() {
	for len(r.out) > 0 && (r.out[len(r.out)-1] == ' ' || r.out[len(r.out)-1] == '\t') {
		r.out = r.out[:len(r.out)-1]
	}
}

// blocks renders the block children of n. A block that renders nothing
// (a thematic break, an empty HTML block) leaves no separator behind.
func (r *renderer) blocks(n ast.Node) {
	first := true
	for c := n.FirstChild(); c != nil; c = c.NextSibling() {
		mark := len(r.out)
		if !first {
			// goldmark makes tables from paragraphs and does not carry the
			// blank line over: a table always stands apart.
			_, table := c.(*east.Table)
			r.newline(c.HasBlankPreviousLines() || table)
		}
		start := len(r.out)
		r.block(c)
		if len(r.out) == start {
			r.out = r.out[:mark]
			continue
		}
		first = false
	}
}

func (r *renderer) block(n ast.Node) {
	switch n := n.(type) {
	case *ast.Paragraph, *ast.TextBlock:
		r.inlines(n)
	case *ast.Heading:
		r.emphasis(n, &r.bold, '*')
	case *ast.ThematicBreak:
		// A separator line reads as noise in a text message.
	case *ast.List:
		r.list(n)
	case *ast.Blockquote:
		if !r.wa {
			r.blocks(n)
			return
		}
		save := r.indent
		r.indent += "> "
		r.out = append(r.out, "> "...)
		r.blocks(n)
		r.indent = save
	case *ast.CodeBlock, *ast.FencedCodeBlock:
		r.codeBlock(n)
	case *ast.HTMLBlock:
		r.htmlBlock(n)
	case *east.Table:
		r.table(n)
	default:
		r.blocks(n)
	}
}

// list writes one item per line, "- " or "1. ", nested lists indented by
// their parent's marker width.
func (r *renderer) list(n *ast.List) {
	num := n.Start
	for item := n.FirstChild(); item != nil; item = item.NextSibling() {
		if item != n.FirstChild() {
			r.newline(false)
		}
		marker := "- "
		if n.IsOrdered() {
			marker = strconv.Itoa(num) + ". "
			num++
		}
		r.out = append(r.out, marker...)
		save := r.indent
		r.indent += "      "[:min(len(marker), 6)]
		r.blocks(item)
		r.indent = save
	}
}

func (r *renderer) codeBlock(n ast.Node) {
	lines := n.Lines()
	if r.wa {
		r.out = append(r.out, "```"...)
	}
	start := len(r.out)
	for i := 0; i < lines.Len(); i++ {
		seg := lines.At(i)
		line := bytes.TrimRight(seg.Value(r.src), "\r\n")
		if i > 0 {
			r.newline(false)
		}
		r.out = append(r.out, line...)
	}
	if r.wa {
		if len(r.out) == start {
			r.out = r.out[:start-3]
			return
		}
		r.out = append(r.out, "```"...)
	}
}

// htmlBlock keeps the text of an HTML block without its tags: LLMs write
// HTML rarely, and a tag means nothing in a text message.
func (r *renderer) htmlBlock(n *ast.HTMLBlock) {
	var raw []byte
	lines := n.Lines()
	for i := 0; i < lines.Len(); i++ {
		seg := lines.At(i)
		raw = append(raw, seg.Value(r.src)...)
	}
	if n.HasClosure() {
		raw = append(raw, n.ClosureLine.Value(r.src)...)
	}
	text := strings.TrimSpace(stripTags(string(raw)))
	for i, line := range strings.Split(text, "\n") {
		if i > 0 {
			r.newline(false)
		}
		r.out = append(r.out, strings.TrimSpace(line)...)
	}
}

// stripTags removes "<…>" sequences.
func stripTags(s string) string {
	var b strings.Builder
	for {
		i := strings.IndexByte(s, '<')
		if i < 0 {
			break
		}
		j := strings.IndexByte(s[i:], '>')
		if j < 0 {
			break
		}
		b.WriteString(s[:i])
		s = s[i+j+1:]
	}
	b.WriteString(s)
	return b.String()
}

// table flattens a table to one line per row: "Plan: Basic, Price: $5"
// (header: value) when that is at most 1.5 times as long as the plain cells
// ("Basic, $5"), else a header line and the rows as cells. Empty cells are
// left out.
func (r *renderer) table(n *east.Table) {
	var header []string
	var rows [][]string
	for row := n.FirstChild(); row != nil; row = row.NextSibling() {
		var cells []string
		for cell := row.FirstChild(); cell != nil; cell = cell.NextSibling() {
			start := len(r.out)
			r.inlines(cell)
			// A cell is one line: a <br> in it becomes a space.
			cells = append(cells, strings.Join(strings.Fields(string(r.out[start:])), " "))
			r.out = r.out[:start]
		}
		if _, ok := row.(*east.TableHeader); ok {
			header = cells
		} else {
			rows = append(rows, cells)
		}
	}
	var kv, grid strings.Builder
	line := func(b *strings.Builder, cells []string, keys []string) {
		if b.Len() > 0 {
			b.WriteByte('\n')
		}
		sep := false
		for i, c := range cells {
			if c == "" {
				continue
			}
			if sep {
				b.WriteString(", ")
			}
			sep = true
			if keys != nil && i < len(keys) && keys[i] != "" {
				b.WriteString(keys[i])
				b.WriteString(": ")
			}
			b.WriteString(c)
		}
	}
	line(&grid, header, nil)
	for _, row := range rows {
		line(&grid, row, nil)
		line(&kv, row, header)
	}
	out := grid.String()
	if kv.Len() > 0 && 2*kv.Len() <= 3*grid.Len() {
		out = kv.String()
	}
	for i, l := range strings.Split(out, "\n") {
		if i > 0 {
			r.newline(false)
		}
		r.out = append(r.out, l...)
	}
}

// inlines renders the inline children of n.
func (r *renderer) inlines(n ast.Node) {
	for c := n.FirstChild(); c != nil; c = c.NextSibling() {
		r.inline(c)
	}
}

func (r *renderer) inline(n ast.Node) {
	switch n := n.(type) {
	case *ast.Text:
		v := n.Value(r.src)
		if !n.IsRaw() {
			v = unescape(v)
		}
		r.out = append(r.out, v...)
		if (n.HardLineBreak() || n.SoftLineBreak()) && n.NextSibling() != nil {
			r.newline(false)
		}
	case *ast.String:
		r.out = append(r.out, n.Value...)
	case *ast.CodeSpan:
		r.codeSpan(n)
	case *ast.Emphasis:
		if n.Level >= 2 {
			r.emphasis(n, &r.bold, '*')
		} else {
			r.emphasis(n, &r.italic, '_')
		}
	case *east.Strikethrough:
		r.emphasis(n, &r.strike, '~')
	case *ast.Link:
		r.link(n)
	case *ast.Image:
		r.image(n)
	case *ast.AutoLink:
		r.remember(string(n.URL(r.src)))
		r.out = append(r.out, n.Label(r.src)...)
	case *ast.RawHTML:
		r.rawHTML(n)
	case *east.TaskCheckBox:
		if n.IsChecked {
			r.out = append(r.out, "[x] "...)
		} else {
			r.out = append(r.out, "[ ] "...)
		}
	default:
		r.inlines(n)
	}
}

// unescape resolves backslash escapes and entities, as an HTML renderer
// would; text without either is returned as is.
func unescape(v []byte) []byte {
	if bytes.IndexByte(v, '\\') < 0 && bytes.IndexByte(v, '&') < 0 {
		return v
	}
	v = util.UnescapePunctuations(v)
	v = util.ResolveNumericReferences(v)
	return util.ResolveEntityNames(v)
}

// emphasis renders n's inlines, wrapped in marker on WhatsApp unless the
// same marker is already open (WhatsApp does not nest one in itself) or the
// text is monospace.
func (r *renderer) emphasis(n ast.Node, depth *int, marker byte) {
	if !r.wa || *depth > 0 || r.code > 0 {
		*depth++
		r.inlines(n)
		*depth--
		return
	}
	open := len(r.out)
	r.out = append(r.out, marker)
	*depth++
	r.inlines(n)
	*depth--
	inner := r.out[open+1:]
	if len(bytes.TrimSpace(inner)) == 0 {
		// Nothing to format: drop the marker.
		copy(r.out[open:], inner)
		r.out = r.out[:len(r.out)-1]
		return
	}
	r.out = append(r.out, marker)
}

func (r *renderer) codeSpan(n *ast.CodeSpan) {
	wa := r.wa && r.code == 0
	if wa {
		r.out = append(r.out, "```"...)
	}
	start := len(r.out)
	for c := n.FirstChild(); c != nil; c = c.NextSibling() {
		var v []byte
		switch c := c.(type) {
		case *ast.Text:
			v = c.Value(r.src)
		case *ast.String:
			v = c.Value
		}
		if bytes.HasSuffix(v, []byte("\n")) {
			r.out = append(r.out, v[:len(v)-1]...)
			r.out = append(r.out, ' ')
		} else {
			r.out = append(r.out, v...)
		}
	}
	if wa {
		if len(r.out) == start {
			r.out = r.out[:start-3]
			return
		}
		r.out = append(r.out, "```"...)
	}
}

// link writes "text (url)", or the bare URL when the text is the URL, or
// only the text when the URL is relative (it cannot be opened from a
// message) or was already written in this reply.
func (r *renderer) link(n *ast.Link) {
	dest := string(n.Destination)
	start := len(r.out)
	r.inlines(n)
	if !absolute(dest) {
		return
	}
	shown := shownURL(dest)
	label := strings.TrimSpace(string(r.out[start:]))
	switch {
	case label == "" || sameURL(label, dest):
		r.out = r.out[:start]
		if !r.seen[dest] || label == "" {
			r.out = append(r.out, shown...)
		} else {
			r.out = append(r.out, label...)
		}
	case r.seen[dest]:
	default:
		r.out = append(r.out, " ("...)
		r.out = append(r.out, shown...)
		r.out = append(r.out, ')')
	}
	r.remember(dest)
}

// image writes the image's URL (a phone opens it), or its alt text when the
// URL is relative or already written.
func (r *renderer) image(n *ast.Image) {
	dest := string(n.Destination)
	if absolute(dest) && !r.seen[dest] {
		r.remember(dest)
		r.out = append(r.out, shownURL(dest)...)
		return
	}
	r.inlines(n)
}

func (r *renderer) remember(url string) {
	if r.seen == nil {
		r.seen = make(map[string]bool)
	}
	r.seen[url] = true
}

// rawHTML turns <br> into a line break and drops other inline tags.
func (r *renderer) rawHTML(n *ast.RawHTML) {
	var tag []byte
	for i := 0; i < n.Segments.Len(); i++ {
		seg := n.Segments.At(i)
		tag = append(tag, seg.Value(r.src)...)
	}
	t := strings.ToLower(string(tag))
	if strings.HasPrefix(t, "<br") {
		r.newline(false)
	}
}

// absolute reports whether url has a scheme (https:, mailto:, tel:, …) or
// starts with "www.", so it can be opened from a message.
func absolute(url string) bool {
	if strings.HasPrefix(url, "www.") {
		return true
	}
	i := strings.IndexByte(url, ':')
	if i <= 0 || i == len(url)-1 {
		return false
	}
	for j := 0; j < i; j++ {
		c := url[j]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || j > 0 && ('0' <= c && c <= '9' || c == '+' || c == '-' || c == '.')) {
			return false
		}
	}
	return true
}

// shownURL is the URL as written in a message: without "mailto:" and
// "tel:", which phones recognise without them.
func shownURL(dest string) string {
	for _, p := range [...]string{"mailto:", "tel:"} {
		if len(dest) > len(p) && strings.EqualFold(dest[:len(p)], p) {
			return dest[len(p):]
		}
	}
	return dest
}

// sameURL reports whether a link's text is its URL, written with or without
// the scheme or a trailing slash.
func sameURL(label, dest string) bool {
	norm := func(s string) string {
		s = strings.ToLower(s)
		for _, p := range [...]string{"https://", "http://", "mailto:", "tel:"} {
			s = strings.TrimPrefix(s, p)
		}
		return strings.TrimSuffix(s, "/")
	}
	return norm(label) == norm(dest)
}
