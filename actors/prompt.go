package actors

import (
	"context"
	"fmt"

	"switchboard/providers/prompt"
	"switchboard/providers/twilio"
	"switchboard/store"
)

// systemPrompt renders the stage's prompt (a Handlebars template, see
// providers/prompt) for a turn: {{agent}} is the agent's prompt, which is
// appended after the stage prompt when the template does not place it;
// {{userProfile}} the sender; {{userInput}} the new text; {{time}} now in
// UTC (Switchboard projects have no timezone). The template is parsed once
// per stage version.
func (e *Engine) systemPrompt(ctx context.Context, stage *store.Stage, agentID, text string, sender *store.InboundMessage) (string, error) {
	tpl, err := e.prompts.Get(stage.ID, stage.Version, stage.Prompt)
	if err != nil {
		return "", fmt.Errorf("stage %s prompt: %w", stage.ID, err)
	}
	agent := ""
	if agentID != "" {
		if a, err := e.cfg.agent(ctx, stage.ProjectID, agentID); err == nil {
			agent = a.Prompt
		}
	}
	channel := twilio.ChannelSMS
	if a, err := twilio.ParseAddress(sender.From); err == nil {
		channel = a.Channel
	}
	system, err := tpl.Render(&prompt.Data{
		Agent:       agent,
		UserInput:   text,
		UserProfile: prompt.Profile(sender.From, channel, sender.ProfileName),
		Now:         e.opts.Now(),
	})
	if err != nil {
		return "", fmt.Errorf("stage %s: %w", stage.ID, err)
	}
	if !tpl.UsesAgent && agent != "" {
		if system != "" {
			system += "\n\n"
		}
		system += agent
	}
	return system, nil
}
