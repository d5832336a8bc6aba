package providers

import (
	"errors"
	"fmt"
	"reflect"
	"sort"
	"strings"
	"text/template"
	"text/template/parse"
)

// ScriptData is the data a scripted provider's reply template is executed
// with: {{.Text}}, {{.Turn}}, {{.From}}, {{.ConversationID}}. It is the one
// definition both save-time validation and the provider's client use, so a
// template accepted when saved cannot fail on a field at turn time.
type ScriptData struct {
	Text           string // the user's new text
	Turn           int    // 1-based number of this user text in its conversation
	From           string // the sender address
	ConversationID string
}

// sampleScriptData is what a reply template is tried on when it is saved.
var sampleScriptData = ScriptData{
	Text:           "Hello! Is anyone there? I would like to know my order status, please.",
	Turn:           1,
	From:           "+15551234567",
	ConversationID: "conv_0123456789abcdef",
}

// MaxReplyTemplateOutput caps what one reply template may produce (and
// the length of the template itself). A reply is cut into at most
// MAX_REPLY_PARTS messages of 1600 characters anyway; the cap stops a
// template from exhausting memory before that.
const MaxReplyTemplateOutput = 32 << 10

// maxTemplateArgs bounds the arguments of one command (print .Text .Text …
// builds its whole result in memory before it is written).
const maxTemplateArgs = 16

// ErrReplyTooLong is the error of a reply beyond MaxReplyTemplateOutput.
var ErrReplyTooLong = fmt.Errorf("reply longer than %d bytes", MaxReplyTemplateOutput)

// scriptDataFields are the field names of ScriptData.
var scriptDataFields = func() map[string]bool {
	m := map[string]bool{}
	t := reflect.TypeFor[ScriptData]()
	for i := range t.NumField() {
		m[t.Field(i).Name] = true
	}
	return m
}()

// ParseReplyTemplate parses a scripted reply template and proves it usable
// and bounded: it must parse, reference only fields of ScriptData (in every
// branch, not only the one the sample takes), use no construct whose cost
// is not bounded by the template and the message (see checkTemplate), and
// execute on sample data within MaxReplyTemplateOutput. Missing map keys
// are errors. The template is operator input run on every turn: a
// template accepted here cannot stall or fail a turn on its own.
func ParseReplyTemplate(text string) (*template.Template, error) {
	if len(text) > MaxReplyTemplateOutput {
		return nil, fmt.Errorf("invalid template: longer than %d bytes", MaxReplyTemplateOutput)
	}
	t, err := template.New("reply").Funcs(boundedPrint).Option("missingkey=error").Parse(text)
	if err != nil {
		return nil, fmt.Errorf("invalid template: %w", err)
	}
	if len(t.Templates()) > 1 {
		return nil, errors.New("invalid template: {{define}} and {{block}} are not supported in a reply")
	}
	if t.Tree == nil || t.Tree.Root == nil {
		return t, nil
	}
	if err := checkTemplate(t.Tree.Root, true); err != nil {
		return nil, fmt.Errorf("invalid template: %w", err)
	}
	if _, err := ExecuteReply(t, &sampleScriptData); err != nil {
		return nil, fmt.Errorf("template fails on sample data: %w", err)
	}
	return t, nil
}

// ExecuteReply executes a template from ParseReplyTemplate; output beyond
// MaxReplyTemplateOutput is an error.
func ExecuteReply(t *template.Template, data *ScriptData) (string, error) {
	w := &cappedWriter{max: MaxReplyTemplateOutput}
	if err := t.Execute(w, data); err != nil {
		if w.over {
			return "", ErrReplyTooLong
		}
		return "", err
	}
	return w.b.String(), nil
}

type cappedWriter struct {
	b    strings.Builder
	max  int
	over bool
}

var errTooLong = errors.New("reply too long")

func (w *cappedWriter) Write(p []byte) (int, error) {
	if w.b.Len()+len(p) > w.max {
		w.over = true
		return 0, errTooLong
	}
	return w.b.Write(p)
}

// boundedPrint replaces text/template's print, printf and println with
// versions whose result may not exceed MaxReplyTemplateOutput. The output
// cap alone does not bound a template: a variable or a {{with}} can hold a
// printf result that feeds the next printf ({{$a := printf "%s%s" .Text
// .Text}}…), each level multiplying the size, without anything being
// written until the end. With every intermediate string capped, one call
// builds at most maxTemplateArgs such strings.
var boundedPrint = template.FuncMap{
	"print":   func(args ...any) (string, error) { return capped(fmt.Sprint(args...)) },
	"printf":  func(format string, args ...any) (string, error) { return capped(fmt.Sprintf(format, args...)) },
	"println": func(args ...any) (string, error) { return capped(fmt.Sprintln(args...)) },
}

func capped(s string) (string, error) {
	if len(s) > MaxReplyTemplateOutput {
		return "", ErrReplyTooLong
	}
	return s, nil
}

// checkTemplate walks a template's tree and refuses unknown fields and
// the constructs whose running time or memory is not bounded by the size
// of the template and of the message: range (loops), template and block
// (recursion), html, js and urlquery (nested escapers multiply the size),
// printf with a format that is not a literal or with a width or precision
// above 999 or taken from an argument (%*d), and commands with more than
// maxTemplateArgs arguments. dotIsData is false inside {{with}} bodies,
// where dot is something else.
func checkTemplate(n parse.Node, dotIsData bool) error {
	switch n := n.(type) {
	case *parse.ListNode:
		if n == nil {
			return nil
		}
		for _, c := range n.Nodes {
			if err := checkTemplate(c, dotIsData); err != nil {
				return err
			}
		}
	case *parse.ActionNode:
		return checkTemplate(n.Pipe, dotIsData)
	case *parse.PipeNode:
		if n == nil {
			return nil
		}
		for _, c := range n.Cmds {
			if err := checkTemplate(c, dotIsData); err != nil {
				return err
			}
		}
	case *parse.CommandNode:
		if len(n.Args) > maxTemplateArgs {
			return fmt.Errorf("a command has %d arguments (at most %d)", len(n.Args), maxTemplateArgs)
		}
		if id, ok := n.Args[0].(*parse.IdentifierNode); ok {
			switch id.Ident {
			case "html", "js", "urlquery":
				return fmt.Errorf("%s is not available in scripted replies", id.Ident)
			case "printf":
				if err := checkPrintf(n.Args[1:]); err != nil {
					return err
				}
			}
		}
		for _, a := range n.Args {
			if err := checkTemplate(a, dotIsData); err != nil {
				return err
			}
		}
	case *parse.ChainNode:
		return checkTemplate(n.Node, dotIsData)
	case *parse.FieldNode:
		if dotIsData {
			return knownScriptField(n.Ident[0])
		}
	case *parse.VariableNode:
		if n.Ident[0] == "$" && len(n.Ident) > 1 {
			return knownScriptField(n.Ident[1])
		}
	case *parse.IfNode:
		return checkBranch(&n.BranchNode, dotIsData, dotIsData)
	case *parse.WithNode:
		return checkBranch(&n.BranchNode, dotIsData, false)
	case *parse.RangeNode:
		return errors.New("{{range}} is not available in scripted replies")
	case *parse.TemplateNode:
		return fmt.Errorf("{{template %q}} is not available in scripted replies", n.Name)
	}
	return nil
}

func checkBranch(b *parse.BranchNode, dotIsData, bodyDotIsData bool) error {
	if err := checkTemplate(b.Pipe, dotIsData); err != nil {
		return err
	}
	if err := checkTemplate(b.List, bodyDotIsData); err != nil {
		return err
	}
	if b.ElseList != nil {
		return checkTemplate(b.ElseList, dotIsData)
	}
	return nil
}

// checkPrintf requires a literal format whose widths and precisions are
// literal numbers of at most three digits.
func checkPrintf(args []parse.Node) error {
	if len(args) == 0 {
		return nil
	}
	f, ok := args[0].(*parse.StringNode)
	if !ok {
		return errors.New("printf needs a literal format string")
	}
	format := f.Text
	for i := 0; i < len(format); i++ {
		if format[i] != '%' {
			continue
		}
		digits := 0
		for i++; i < len(format); i++ {
			c := format[i]
			switch {
			case c == '*':
				return errors.New("printf widths must be literal (no *)")
			case c >= '0' && c <= '9':
				digits++
				if digits > 3 {
					return errors.New("printf widths and precisions must be at most 999")
				}
				continue
			case strings.IndexByte("+-# .[]", c) >= 0:
				digits = 0
				continue
			}
			break // the verb
		}
	}
	return nil
}

func knownScriptField(name string) error {
	if scriptDataFields[name] {
		return nil
	}
	have := make([]string, 0, len(scriptDataFields))
	for f := range scriptDataFields {
		have = append(have, "."+f)
	}
	sort.Strings(have)
	return fmt.Errorf("unknown field .%s (have %s)", name, strings.Join(have, ", "))
}
