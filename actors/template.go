package actors

import (
	"context"

	"switchboard/providers/twilio"
	"switchboard/store"
)

// WhatsAppTemplate returns the Content template a message that opens (or
// reopens) a conversation of stage with recipient to must be sent as, or
// nil to send free-form text. Outside WhatsApp's 24-hour window (the
// recipient has not written to the sender for 24 hours) Twilio refuses
// free-form messages with 63016 and only a template goes through, so a
// business-started WhatsApp conversation uses the stage's
// metadata.whatsappTemplate when it names one. SMS recipients never get a
// template. A stage whose metadata no longer parses (written before
// validation) has none.
//
// The caller puts the template on the outbox part (ContentSID,
// ContentVariables) with a Body that describes the send for the history;
// Twilio sends the template instead of the Body.
func WhatsAppTemplate(stage *store.Stage, to string) *twilio.Template {
	if stage == nil {
		return nil
	}
	if a, err := twilio.ParseAddress(to); err != nil || !a.IsWhatsApp() {
		return nil
	}
	t, err := twilio.TemplateFromMetadata(stage.Metadata)
	if err != nil {
		return nil
	}
	return t
}

// StageTemplate is WhatsAppTemplate for a stage read through the engine's
// configuration cache.
func (e *Engine) StageTemplate(ctx context.Context, projectID, stageID, to string) (*twilio.Template, error) {
	st, err := e.cfg.stage(ctx, projectID, stageID)
	if err != nil {
		return nil, err
	}
	return WhatsAppTemplate(st, to), nil
}
