package llm

import (
	"errors"
	"fmt"
	"strings"
	"text/template/parse"
)

// MaxScriptedReplyBytes bounds the text one scripted reply may produce. A
// reply template is operator input executed on every turn, so its cost
// must be bounded by the template and the message, not by what the
// template computes: beyond this size the turn fails with an error
// instead of building an arbitrarily large reply (which Twilio would
// refuse anyway: 1600 characters per message).
const MaxScriptedReplyBytes = 32 << 10

// maxScriptedArgs bounds the arguments of one command (print .Text .Text …
// builds its whole result in memory before it is written).
const maxScriptedArgs = 16

// errReplyTooLong is the error of a reply beyond MaxScriptedReplyBytes.
var errReplyTooLong = fmt.Errorf("llm: scripted: reply longer than %d bytes", MaxScriptedReplyBytes)

// checkBounded refuses the template constructs whose running time or
// memory is not bounded by the size of the template and of the message:
// range (loops over integers), template/block (recursion), html, js and
// urlquery (nested escapers multiply the size), printf with a format that
// is not a literal or with a width or precision above 999 or taken from
// an argument (%*d), and commands with more than maxScriptedArgs
// arguments.
func checkBounded(n parse.Node) error {
	if n == nil {
		return nil
	}
	switch n := n.(type) {
	case *parse.ListNode:
		if n == nil {
			return nil
		}
		for _, c := range n.Nodes {
			if err := checkBounded(c); err != nil {
				return err
			}
		}
	case *parse.ActionNode:
		return checkBounded(n.Pipe)
	case *parse.PipeNode:
		if n == nil {
			return nil
		}
		for _, c := range n.Cmds {
			if err := checkBounded(c); err != nil {
				return err
			}
		}
	case *parse.CommandNode:
		if len(n.Args) > maxScriptedArgs {
			return fmt.Errorf("a command has %d arguments (at most %d)", len(n.Args), maxScriptedArgs)
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
			if err := checkBounded(a); err != nil {
				return err
			}
		}
	case *parse.ChainNode:
		return checkBounded(n.Node)
	case *parse.IfNode:
		return checkBoundedBranch(&n.BranchNode)
	case *parse.WithNode:
		return checkBoundedBranch(&n.BranchNode)
	case *parse.RangeNode:
		return errors.New("range is not available in scripted replies")
	case *parse.TemplateNode:
		return errors.New("template and block are not available in scripted replies")
	}
	return nil
}

func checkBoundedBranch(b *parse.BranchNode) error {
	for _, n := range []parse.Node{b.Pipe, b.List, b.ElseList} {
		if l, ok := n.(*parse.ListNode); ok && l == nil {
			continue
		}
		if err := checkBounded(n); err != nil {
			return err
		}
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

// limitedWriter collects a reply, failing once it exceeds
// MaxScriptedReplyBytes so a runaway template stops early.
type limitedWriter struct{ b strings.Builder }

func (w *limitedWriter) Write(p []byte) (int, error) {
	if w.b.Len()+len(p) > MaxScriptedReplyBytes {
		return 0, errReplyTooLong
	}
	return w.b.Write(p)
}
