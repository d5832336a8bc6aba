package actors

import (
	"context"

	"github.com/prometheus/client_golang/prometheus"

	"switchboard/internal/replyfmt"
	"switchboard/providers/twilio"
)

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
