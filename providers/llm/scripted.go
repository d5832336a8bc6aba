package llm

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"text/template"
	"text/template/parse"

	"switchboard/providers"
	"switchboard/store"
)

// scriptedClient is the offline provider of docs/architecture.md §4. It is
// the load-test hot path, so everything is compiled in New and most
// templates (text and plain {{.Field}} actions) are rendered without
// text/template's reflection.
type scriptedClient struct {
	rules []scriptedRule
	def   *replyTemplate
}

var _ Client = (*scriptedClient)(nil)

type scriptedRule struct {
	match *regexp.Regexp
	reply *replyTemplate
}

// scriptField names a field of scriptData in a fast-path segment.
type scriptField uint8

const (
	fieldNone scriptField = iota // the segment is literal text
	fieldText
	fieldTurn
	fieldFrom
	fieldConversationID
)

var scriptFields = map[string]scriptField{
	"Text":           fieldText,
	"Turn":           fieldTurn,
	"From":           fieldFrom,
	"ConversationID": fieldConversationID,
}

type segment struct {
	field scriptField
	text  string // literal text when field == fieldNone
}

// replyTemplate is a compiled reply: either fast segments or, for
// templates using anything beyond {{.Field}}, a text/template.
type replyTemplate struct {
	segments []segment // used when tmpl == nil
	constant bool      // segments hold only literal text, joined in lit
	lit      string
	litLen   int // total length of the literal segments
	tmpl     *template.Template
}

func newScripted(raw json.RawMessage) (*scriptedClient, error) {
	var cfg providers.ScriptedConfig
	if err := decodeConfig(raw, &cfg); err != nil {
		return nil, err
	}
	c := &scriptedClient{rules: make([]scriptedRule, 0, len(cfg.Rules))}
	for i, r := range cfg.Rules {
		field := fmt.Sprintf("config.rules[%d]", i)
		re, err := regexp.Compile(r.Match)
		if err != nil {
			return nil, store.FieldError(field+".match", "invalid regexp: %v", err)
		}
		reply, err := compileReply(r.Reply)
		if err != nil {
			return nil, store.FieldError(field+".reply", "%v", err)
		}
		c.rules = append(c.rules, scriptedRule{match: re, reply: reply})
	}
	def := providers.DefaultScriptedReply
	if cfg.DefaultReply != nil {
		def = *cfg.DefaultReply
	}
	var err error
	if c.def, err = compileReply(def); err != nil {
		return nil, store.FieldError("config.defaultReply", "%v", err)
	}
	return c, nil
}

// Complete answers with the first rule whose regexp matches req.Text, else
// the default reply. It does no I/O.
// It uses no tokens: its Usage is zero and it always finishes with
// FinishStop.
func (c *scriptedClient) Complete(ctx context.Context, req Request) (Response, error) {
	if err := ctx.Err(); err != nil {
		return Response{}, fmt.Errorf("llm: scripted: %w", err)
	}
	reply := c.def
	for i := range c.rules {
		if c.rules[i].match.MatchString(req.Text) {
			reply = c.rules[i].reply
			break
		}
	}
	text, err := reply.render(&req)
	if err != nil {
		return Response{}, err
	}
	return Response{Text: text, FinishReason: FinishStop, VendorReason: FinishStop}, nil
}

// MaxScriptedReplyBytes bounds the text one scripted reply may produce
// (providers.MaxReplyTemplateOutput): beyond it the turn fails with an
// error instead of building an arbitrarily large reply.
const MaxScriptedReplyBytes = providers.MaxReplyTemplateOutput

// errReplyTooLong is the error of a reply beyond MaxScriptedReplyBytes.
var errReplyTooLong = fmt.Errorf("llm: scripted: %w", providers.ErrReplyTooLong)

// compileReply parses a reply template (providers.ParseReplyTemplate, the
// same check the API applies when the provider is saved) and picks its
// fast path when it has one.
func compileReply(text string) (*replyTemplate, error) {
	t, err := providers.ParseReplyTemplate(text)
	if err != nil {
		return nil, err
	}
	if t.Tree == nil || t.Tree.Root == nil {
		return &replyTemplate{constant: true}, nil
	}
	if segs, ok := fastSegments(t.Tree.Root); ok {
		rt := &replyTemplate{segments: segs, constant: true}
		var lit strings.Builder
		for _, s := range segs {
			if s.field != fieldNone {
				rt.constant = false
			}
			rt.litLen += len(s.text)
			lit.WriteString(s.text)
		}
		if rt.constant {
			rt.lit = lit.String()
		}
		return rt, nil
	}
	return &replyTemplate{tmpl: t}, nil
}

// fastSegments turns a template of literal text and bare {{.Field}}
// actions into segments; ok is false for anything else.
func fastSegments(root *parse.ListNode) (segs []segment, ok bool) {
	for _, n := range root.Nodes {
		switch n := n.(type) {
		case *parse.TextNode:
			segs = append(segs, segment{text: string(n.Text)})
		case *parse.ActionNode:
			p := n.Pipe
			if len(p.Decl) != 0 || len(p.Cmds) != 1 || len(p.Cmds[0].Args) != 1 {
				return nil, false
			}
			f, isField := p.Cmds[0].Args[0].(*parse.FieldNode)
			if !isField || len(f.Ident) != 1 {
				return nil, false
			}
			sf, known := scriptFields[f.Ident[0]]
			if !known {
				return nil, false
			}
			segs = append(segs, segment{field: sf})
		default:
			return nil, false
		}
	}
	return segs, true
}

// render executes the reply for req.
func (t *replyTemplate) render(req *Request) (string, error) {
	if t.tmpl == nil {
		if t.constant {
			return t.lit, nil
		}
		size := t.litLen
		for _, s := range t.segments {
			switch s.field {
			case fieldText:
				size += len(req.Text)
			case fieldTurn:
				size += 20
			case fieldFrom:
				size += len(req.From)
			case fieldConversationID:
				size += len(req.ConversationID)
			}
		}
		if size > providers.MaxReplyTemplateOutput {
			return "", errReplyTooLong
		}
		var b strings.Builder
		b.Grow(size)
		for _, s := range t.segments {
			switch s.field {
			case fieldNone:
				b.WriteString(s.text)
			case fieldText:
				b.WriteString(req.Text)
			case fieldTurn:
				var num [20]byte
				b.Write(strconv.AppendInt(num[:0], int64(req.Turn), 10))
			case fieldFrom:
				b.WriteString(req.From)
			case fieldConversationID:
				b.WriteString(req.ConversationID)
			}
		}
		return b.String(), nil
	}
	data := providers.ScriptData{Text: req.Text, Turn: req.Turn, From: req.From, ConversationID: req.ConversationID}
	out, err := providers.ExecuteReply(t.tmpl, &data)
	if errors.Is(err, providers.ErrReplyTooLong) {
		return "", errReplyTooLong
	}
	if err != nil {
		return "", fmt.Errorf("llm: scripted: reply template: %w", err)
	}
	return out, nil
}
