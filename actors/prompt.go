package actors

import (
	"context"
	"fmt"
	"strings"
	"time"

	"switchboard/providers/prompt"
	"switchboard/providers/twilio"
	"switchboard/store"
)

// systemPrompt renders the stage's prompt (a Handlebars template, see
// providers/prompt) for a turn: {{agent}} is the agent's prompt, which is
// appended after the stage prompt when the template does not place it;
// {{userProfile}} the sender; {{userInput}} the new text; {{time}} now in
// the project's timezone (UTC when it has none), read through the config
// cache, so a changed timezone applies from the next turn after the cache
// period. The template is parsed once per stage version.
func (e *Engine) systemPrompt(ctx context.Context, stage *store.Stage, agentID, text string, sender *store.InboundMessage) (string, error) {
	tpl, err := e.prompts.Get(stage.ProjectID+"\x00"+stage.ID, stage.Version, stage.Prompt)
	if err != nil {
		return "", fmt.Errorf("stage %s prompt: %w", stage.ID, err)
	}
	channel := twilio.ChannelSMS
	if a, err := twilio.ParseAddress(sender.From); err == nil {
		channel = a.Channel
	}
	data := &prompt.Data{
		UserInput:   text,
		UserProfile: prompt.Profile(sender.From, channel, sender.ProfileName),
		Now:         e.opts.Now(),
	}
	var ag *store.Agent
	if agentID != "" {
		if a, err := e.cfg.agent(ctx, stage.ProjectID, agentID); err == nil {
			ag = a
		}
	}
	// Only a prompt with expressions can read the time or the project's
	// timezone: a plain one costs no lookup.
	if strings.Contains(stage.Prompt, "{{") || ag != nil && strings.Contains(ag.Prompt, "{{") {
		if loc := e.cfg.location(ctx, stage.ProjectID); loc != time.UTC {
			data.Location = loc
		}
	}
	agent := ""
	if ag != nil {
		agent = e.agentPrompt(ag, data)
	}
	data.Agent = agent
	system, err := tpl.Render(data)
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

// agentPrompt is an agent's prompt, rendered as a template with the
// turn's data when it has any {{…}} (Bonsai renders a stage prompt's output
// again when it still holds expressions, which is how an agent prompt's
// {{consts.x}} gets filled; rendering the agent prompt alone does the same
// without rendering what the sender wrote). Agent prompts are not checked
// when saved, so one that does not parse or render is used as written.
func (e *Engine) agentPrompt(a *store.Agent, data *prompt.Data) string {
	if !strings.Contains(a.Prompt, "{{") {
		return a.Prompt
	}
	tpl, err := e.prompts.Get("agent\x00"+a.ProjectID+"\x00"+a.ID, a.Version, a.Prompt)
	if err != nil {
		return a.Prompt
	}
	out, err := tpl.Render(data)
	if err != nil {
		return a.Prompt
	}
	return out
}
