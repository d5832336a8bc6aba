package actors

import (
	"encoding/json"
	"time"

	"switchboard/providers/llm"
	"switchboard/store"
)

// DefaultMaxInputTokens is the input budget of an LLM call when the
// stage's llmSettings.maxInputTokens is not set: a few thousand tokens
// hold dozens of SMS exchanges besides a long system prompt, while keeping
// every call's cost bounded.
const DefaultMaxInputTokens = 4000

// Kinds of assistant messages that are not the model's words. They are
// marked in the event's metadata.kind and never sent back to the model as
// something it said.
const (
	kindErrorReply  = "error_reply"  // LLM_ERROR_REPLY, sent when the call failed
	kindMediaNotice = "media_notice" // the answer to a media-only message
)

// messageMeta is the metadata of a message event, as far as the history
// reads it.
type messageMeta struct {
	Metadata struct {
		Kind string `json:"kind"`
	} `json:"metadata"`
}

// historyMessages turns stored message events (oldest first) into chat
// messages: user texts and the model's own replies, without error replies,
// media notices, and messages with no text (media only).
func historyMessages(evs []*store.Event) []llm.Message {
	out := make([]llm.Message, 0, len(evs))
	for _, ev := range evs {
		var d store.MessageData
		if json.Unmarshal(ev.EventData, &d) != nil || d.Text == "" {
			continue
		}
		if d.Role != llm.RoleUser && d.Role != llm.RoleAssistant {
			continue
		}
		if d.Role == llm.RoleAssistant {
			var m messageMeta
			_ = json.Unmarshal(ev.EventData, &m)
			if m.Metadata.Kind == kindErrorReply || m.Metadata.Kind == kindMediaNotice {
				continue
			}
		}
		out = append(out, llm.Message{Role: d.Role, Content: d.Text})
	}
	return out
}

// estimateTokens is the estimated token count of one message: a quarter
// of its UTF-8 bytes, rounded up, plus 4 for the message's framing (role
// and separators). Four bytes a token is the usual rule for English with
// OpenAI's and Anthropic's tokenizers; counting bytes rather than
// characters makes non-Latin text (2–4 bytes a character, about a token
// each) come out closer rather than far under. It is an estimate on
// purpose: stages run on many vendors whose tokenizers differ.
func estimateTokens(s string) int {
	return (len(s)+3)/4 + 4
}

// maxInputTokens is a stage's input budget: its llmSettings.maxInputTokens
// or the project's completion input cap for the stage's provider and model
// (Bonsai's costManagementConfig; 0 for none), the smaller when both are
// set, else DefaultMaxInputTokens.
func maxInputTokens(ls store.LLMSettings, projectCap int) int {
	own := 0
	if ls.MaxInputTokens != nil && *ls.MaxInputTokens > 0 {
		own = *ls.MaxInputTokens
	}
	switch {
	case own > 0 && projectCap > 0:
		return min(own, projectCap)
	case own > 0:
		return own
	case projectCap > 0:
		return projectCap
	}
	return DefaultMaxInputTokens
}

// maxOutputTokens is a call's output cap: the stage's defaultMaxTokens,
// the project's completion output cap (0 for none), or the smaller of the
// two (Bonsai's resolveOutputCap); nil for none.
func maxOutputTokens(stage *int, projectCap int) *int {
	if projectCap <= 0 {
		return stage
	}
	if stage != nil && *stage < projectCap {
		return stage
	}
	return &projectCap
}

// budgetInfo says what fitting the budget did (Bonsai's truncation
// metadata).
type budgetInfo struct {
	Truncated      bool `json:"inputTruncated"`
	Estimated      int  `json:"estimatedInputTokens"`
	EstimatedFinal int  `json:"estimatedFinalInputTokens"`
}

// fitBudget builds the messages of a call: the system prompt (if any),
// then as much of the history as fits the budget, newest kept, then the
// new user texts. The system prompt and the new texts are never dropped,
// even when they alone exceed the budget; history goes oldest first.
func fitBudget(system string, hist []llm.Message, user []string, budget int) ([]llm.Message, budgetInfo) {
	fixed := 0
	if system != "" {
		fixed += estimateTokens(system)
	}
	for _, u := range user {
		fixed += estimateTokens(u)
	}
	total := fixed
	for _, m := range hist {
		total += estimateTokens(m.Content)
	}
	info := budgetInfo{Estimated: total}
	start := 0
	for start < len(hist) && total > budget {
		total -= estimateTokens(hist[start].Content)
		start++
	}
	// A history that starts with the model's words would answer nothing:
	// drop a leading assistant message left by the cut.
	for start > 0 && start < len(hist) && hist[start].Role == llm.RoleAssistant {
		total -= estimateTokens(hist[start].Content)
		start++
	}
	info.Truncated, info.EstimatedFinal = start > 0, total
	msgs := make([]llm.Message, 0, 1+len(hist)-start+len(user))
	if system != "" {
		msgs = append(msgs, llm.Message{Role: llm.RoleSystem, Content: system})
	}
	msgs = append(msgs, hist[start:]...)
	for _, u := range user {
		msgs = append(msgs, llm.Message{Role: llm.RoleUser, Content: u})
	}
	return msgs, info
}

// assistantData is the EventData of an assistant message: Bonsai's
// message data, whose metadata says what kind of message it is (kind:
// error_reply, media_notice; absent for the model's words) and, for the
// model's words, how the call went (finishReason, refusal, llmUsage).
type assistantData struct {
	store.MessageData
	Metadata map[string]any `json:"metadata,omitempty"`
}

// assistantEvent is the message event of an assistant reply with its
// metadata (nil: none).
func assistantEvent(convID, text string, meta map[string]any, at time.Time) store.Event {
	return jsonEvent(convID, store.EventMessage, assistantData{
		MessageData: store.MessageData{Role: llm.RoleAssistant, Text: text}, Metadata: meta,
	}, at)
}

// llmResult is what one LLM call gave a turn: the response and the
// assistant event's metadata describing the call.
type llmResult struct {
	resp llm.Response
	meta map[string]any
}

// llmOutcome records a call's tokens (switchboard_llm_tokens_total) and
// finish reason (switchboard_llm_finish_total), logs a reply cut off or
// refused, and builds the assistant event's metadata: finishReason (one
// of llm's Finish constants), vendorFinishReason (the vendor's word, when
// it differs), refusal (the model's refusal text), and llmUsage as Bonsai
// records it (promptTokens, completionTokens, totalTokens, providerId,
// providerApiType, model, inputTruncated, estimatedInputTokens,
// estimatedFinalInputTokens). The scripted provider uses no tokens and
// gets no llmUsage.
func (e *Engine) llmOutcome(prov *store.Provider, model string, resp llm.Response, budget budgetInfo, convID string) llmResult {
	meta := map[string]any{}
	if resp.FinishReason != "" {
		meta["finishReason"] = resp.FinishReason
		e.m.llmFinish(prov.APIType, resp.FinishReason)
	}
	if resp.VendorReason != "" && resp.VendorReason != resp.FinishReason {
		meta["vendorFinishReason"] = resp.VendorReason
	}
	if resp.Refusal != "" {
		meta["refusal"] = resp.Refusal
	}
	switch resp.FinishReason {
	case llm.FinishLength:
		e.log.Warn("turn: reply cut off by the token limit", "conversation_id", convID, "provider_type", prov.APIType, "model", model, "reason", resp.VendorReason)
	case llm.FinishContentFilter:
		e.log.Warn("turn: the model refused or was filtered", "conversation_id", convID, "provider_type", prov.APIType, "model", model, "reason", resp.VendorReason)
	}
	if prov.APIType != store.APITypeScripted {
		u := resp.Usage
		meta["llmUsage"] = map[string]any{
			"promptTokens": u.PromptTokens, "completionTokens": u.CompletionTokens, "totalTokens": u.PromptTokens + u.CompletionTokens,
			"providerId": prov.ID, "providerApiType": prov.APIType, "model": model,
			"inputTruncated": budget.Truncated, "estimatedInputTokens": budget.Estimated, "estimatedFinalInputTokens": budget.EstimatedFinal,
		}
		e.m.llmTokens(prov.APIType, model, u)
	}
	if len(meta) == 0 {
		meta = nil
	}
	return llmResult{resp: resp, meta: meta}
}
