package actors

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"
)

// DefaultMaxReplyParts is the default cap on the parts of one reply
// (MAX_REPLY_PARTS): ten 1600-character messages, far beyond a useful
// answer, but a bound on what one inbound text can make the line send (and
// pay for).
const DefaultMaxReplyParts = 10

// ellipsis ends the last part of a cut reply.
const ellipsis = "…"

func newReplyTruncatedCounter(reg prometheus.Registerer) prometheus.Counter {
	if reg == nil {
		return nil
	}
	c := prometheus.NewCounter(prometheus.CounterOpts{
		Name: "switchboard_reply_truncated_total",
		Help: "Replies cut to MAX_REPLY_PARTS parts.",
	})
	reg.MustRegister(c)
	return c
}

// capReply applies MaxReplyParts to the parts of one reply: a reply split
// into more parts keeps the first MaxReplyParts, the last of which ends with
// "…", and the cut is logged and counted.
func (e *Engine) capReply(conversationID string, parts []string) []string {
	max := e.opts.MaxReplyParts
	if len(parts) <= max {
		return parts
	}
	e.log.Warn("turn: reply cut to MAX_REPLY_PARTS", "conversation_id", conversationID,
		"parts", len(parts), "max_reply_parts", max)
	if e.replyTruncated != nil {
		e.replyTruncated.Inc()
	}
	return truncateParts(parts, max, e.opts.Split)
}

// truncateParts keeps the first max parts and ends the last with an
// ellipsis. split is the function that made the parts: the last part is
// shortened until it plus the ellipsis is still one part, so the cap never
// adds a part of its own.
func truncateParts(parts []string, max int, split func(string) []string) []string {
	if max <= 0 || len(parts) <= max {
		return parts
	}
	out := append([]string(nil), parts[:max]...)
	last := out[max-1]
	for last != "" {
		if s := split(last + ellipsis); len(s) == 1 {
			break
		}
		_, size := utf8.DecodeLastRuneInString(last)
		last = strings.TrimRightFunc(last[:len(last)-size], unicode.IsSpace)
	}
	out[max-1] = last + ellipsis
	return out
}
