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

// MaxReplyTemplateOutput caps what one reply template may produce. A reply
// is cut into at most MAX_REPLY_PARTS messages anyway; the cap stops a
// template from exhausting memory before that.
const MaxReplyTemplateOutput = 64 << 10

// maxRangeCount bounds a {{range N}} over a constant: more iterations than
// a message has characters cannot be useful, and a save must not spin.
const maxRangeCount = 1600

// scriptDataFields are the field names of ScriptData.
var scriptDataFields = func() map[string]bool {
	m := map[string]bool{}
	t := reflect.TypeFor[ScriptData]()
	for i := range t.NumField() {
		m[t.Field(i).Name] = true
	}
	return m
}()

// ParseReplyTemplate parses a scripted reply template and proves it usable:
// it must parse, reference only fields of ScriptData (in every branch, not
// only the one the sample takes), define no sub-templates, not nest
// {{range}}, range only over a constant up to 1600 or a field, and execute
// on sample data within MaxReplyTemplateOutput. Missing map keys are
// errors.
func ParseReplyTemplate(text string) (*template.Template, error) {
	t, err := template.New("reply").Option("missingkey=error").Parse(text)
	if err != nil {
		return nil, fmt.Errorf("invalid template: %w", err)
	}
	if len(t.Templates()) > 1 {
		return nil, errors.New("invalid template: {{define}} and {{block}} are not supported in a reply")
	}
	if t.Tree == nil || t.Tree.Root == nil {
		return t, nil
	}
	if err := checkTemplate(t.Tree.Root, true, 0); err != nil {
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
			return "", fmt.Errorf("reply longer than %d bytes", MaxReplyTemplateOutput)
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

// checkTemplate walks a template's tree. dotIsData is false inside
// range/with bodies, where dot is something else; ranges counts the
// enclosing {{range}}s.
func checkTemplate(n parse.Node, dotIsData bool, ranges int) error {
	switch n := n.(type) {
	case *parse.ListNode:
		if n == nil {
			return nil
		}
		for _, c := range n.Nodes {
			if err := checkTemplate(c, dotIsData, ranges); err != nil {
				return err
			}
		}
	case *parse.ActionNode:
		return checkTemplate(n.Pipe, dotIsData, ranges)
	case *parse.PipeNode:
		if n == nil {
			return nil
		}
		for _, c := range n.Cmds {
			if err := checkTemplate(c, dotIsData, ranges); err != nil {
				return err
			}
		}
	case *parse.CommandNode:
		for _, a := range n.Args {
			if err := checkTemplate(a, dotIsData, ranges); err != nil {
				return err
			}
		}
	case *parse.ChainNode:
		return checkTemplate(n.Node, dotIsData, ranges)
	case *parse.FieldNode:
		if dotIsData {
			return knownScriptField(n.Ident[0])
		}
	case *parse.VariableNode:
		if n.Ident[0] == "$" && len(n.Ident) > 1 {
			return knownScriptField(n.Ident[1])
		}
	case *parse.IfNode:
		return checkBranch(&n.BranchNode, dotIsData, dotIsData, ranges, ranges)
	case *parse.RangeNode:
		if ranges > 0 {
			return errors.New("{{range}} inside {{range}} is not supported in a reply")
		}
		if err := checkRangeCount(n.Pipe); err != nil {
			return err
		}
		return checkBranch(&n.BranchNode, dotIsData, false, ranges, ranges+1)
	case *parse.WithNode:
		return checkBranch(&n.BranchNode, dotIsData, false, ranges, ranges)
	case *parse.TemplateNode:
		return fmt.Errorf("{{template %q}} is not supported in a reply", n.Name)
	}
	return nil
}

func checkBranch(b *parse.BranchNode, dotIsData, bodyDotIsData bool, ranges, bodyRanges int) error {
	if err := checkTemplate(b.Pipe, dotIsData, ranges); err != nil {
		return err
	}
	if err := checkTemplate(b.List, bodyDotIsData, bodyRanges); err != nil {
		return err
	}
	if b.ElseList != nil {
		return checkTemplate(b.ElseList, dotIsData, ranges)
	}
	return nil
}

// checkRangeCount allows {{range}} only over a constant of at most
// maxRangeCount or over a field of the data, so the number of iterations
// is bounded by something a reviewer can see.
func checkRangeCount(p *parse.PipeNode) error {
	if p != nil && len(p.Cmds) == 1 && len(p.Cmds[0].Args) == 1 {
		switch a := p.Cmds[0].Args[0].(type) {
		case *parse.NumberNode:
			if !a.IsInt || a.Int64 > maxRangeCount {
				return fmt.Errorf("{{range %s}}: at most %d iterations", a.Text, maxRangeCount)
			}
			return nil
		case *parse.FieldNode:
			return nil
		case *parse.VariableNode:
			if a.Ident[0] == "$" && len(a.Ident) > 1 {
				return nil
			}
		}
	}
	return errors.New("{{range}} must go over a number (at most 1600) or a field of the data")
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
