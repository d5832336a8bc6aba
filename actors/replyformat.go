package actors

import (
	"context"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"switchboard/internal/replyfmt"
	"switchboard/providers/llm"
	"switchboard/providers/twilio"
	"switchboard/store"
)

// outReply is one reply as it is sent: its text, formatted for the
// channel, and the media taken out of it.
type outReply struct {
	text  string
	media []string
}

func (r outReply) empty() bool { return r.text == "" && len(r.media) == 0 }

// parts splits the reply into the bodies of its outbox parts (capped at
// MaxReplyParts). A media-only reply is one part without a body.
func (r outReply) parts(e *Engine, conversationID string) []string {
	if r.text == "" {
		return []string{""}
	}
	return e.capReply(conversationID, e.opts.Split(r.text))
}

// event is the reply's assistant event: the text as sent, with its media.
func (r outReply) event(convID string, meta map[string]any, at time.Time) store.Event {
	if len(r.media) == 0 {
		return assistantEvent(convID, r.text, meta, at)
	}
	return jsonEvent(convID, store.EventMessage, assistantData{
		MessageData: store.MessageData{Role: llm.RoleAssistant, Text: r.text, MediaURL: r.media}, Metadata: meta,
	}, at)
}

// prepareReply turns one reply (the AI's answer, the opening message, the
// media reply or the LLM error reply) into what is sent: its Markdown
// images become media (replyfmt.ExtractMedia: at most 10 http(s) URLs,
// sent on the reply's first part as MMS or WhatsApp media), then the text
// left is formatted (formatReply). A stage with metadata.replyMedia false
// keeps its images in the text.
func (e *Engine) prepareReply(ctx context.Context, projectID, stageID, to, text string) outReply {
	var media []string
	if strings.Contains(text, "![") && e.cfg.replyMedia(ctx, projectID, stageID) { // no image: no lookup
		text, media = replyfmt.ExtractMedia(text)
	}
	return outReply{text: e.formatReply(ctx, projectID, stageID, to, text), media: media}
}

// replyMedia returns a stage's metadata.replyMedia (default true), parsed
// once per cache period. A stage that cannot be read, or holds a value the
// API would refuse, extracts media.
func (c *configCache) replyMedia(ctx context.Context, projectID, stageID string) bool {
	v, err := c.get("m\x00"+projectID+"\x00"+stageID, func() (any, error) {
		st, err := c.stage(ctx, projectID, stageID)
		if err != nil {
			return nil, err
		}
		on, err := replyfmt.MediaFromMetadata(st.Metadata)
		return on || err != nil, nil
	})
	return err != nil || v.(bool)
}

// formatReply formats one reply (the AI's answer, the opening message, the
// media reply or the LLM error reply) for its recipient, as the stage's
// metadata.replyFormat says: LLMs answer in Markdown, which SMS shows as
// asterisks and WhatsApp formats its own way. It runs before the reply is
// split and stored, so the assistant event records the text as sent.
func (e *Engine) formatReply(ctx context.Context, projectID, stageID, to, text string) string {
	if text == "" {
		return ""
	}
	mode := e.cfg.replyFormat(ctx, projectID, stageID)
	whatsApp := false
	if a, err := twilio.ParseAddress(to); err == nil {
		whatsApp = a.Channel == twilio.ChannelWhatsApp
	}
	out := replyfmt.Format(mode, whatsApp, text)
	e.m.replyFormatted(mode, whatsApp, out != text)
	return out
}

// replyFormat returns a stage's metadata.replyFormat, parsed once per cache
// period rather than per turn. A stage that cannot be read, or holds a
// value the API would refuse (written before validation existed), gets
// ModeAuto: a reply is never held back for its formatting.
func (c *configCache) replyFormat(ctx context.Context, projectID, stageID string) replyfmt.Mode {
	v, err := c.get("f\x00"+projectID+"\x00"+stageID, func() (any, error) {
		st, err := c.stage(ctx, projectID, stageID)
		if err != nil {
			return nil, err
		}
		m, err := replyfmt.FromMetadata(st.Metadata)
		if err != nil {
			return replyfmt.ModeAuto, nil
		}
		return m, nil
	})
	if err != nil {
		return replyfmt.ModeAuto
	}
	return v.(replyfmt.Mode)
}

// newReplyFormatMetric is switchboard_reply_format_total: replies by the
// format applied and whether formatting changed them, which shows how
// much of what the LLMs write is Markdown.
func newReplyFormatMetric(reg prometheus.Registerer) *prometheus.CounterVec {
	c := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "switchboard_reply_format_total",
		Help: "Replies by the format applied (plain, whatsapp, none) and whether formatting changed the text."},
		[]string{"format", "changed"})
	reg.MustRegister(c)
	return c
}

func (m *metrics) replyFormatted(mode replyfmt.Mode, whatsApp, changed bool) {
	if m == nil {
		return
	}
	format := string(mode)
	if mode == replyfmt.ModeAuto || mode == "" {
		format = string(replyfmt.ModePlain)
		if whatsApp {
			format = string(replyfmt.ModeWhatsApp)
		}
	}
	ch := "false"
	if changed {
		ch = "true"
	}
	m.replyFormats.WithLabelValues(format, ch).Inc()
}
