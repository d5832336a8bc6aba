package llm

import (
	"context"
	"fmt"
)

// ModelInfo is one model a provider offers, in Bonsai's LlmModelInfo
// shape (GET /api/providers/{id}/models). Only what the vendor's models
// endpoint tells is filled in.
type ModelInfo struct {
	ID            string `json:"id"`
	DisplayName   string `json:"displayName"`
	Description   string `json:"description,omitempty"`
	ContextWindow int    `json:"contextWindow,omitempty"`
}

// ModelLister is a Client that can list its provider's models. Every
// client New builds implements it.
type ModelLister interface {
	ListModels(ctx context.Context) ([]ModelInfo, error)
}

// ListModels lists the models of c's provider; the error of a client that
// cannot list is not expected from New's clients.
func ListModels(ctx context.Context, c Client) ([]ModelInfo, error) {
	l, ok := c.(ModelLister)
	if !ok {
		return nil, fmt.Errorf("llm: %T cannot list models", c)
	}
	return l.ListModels(ctx)
}

// namedModels is a model list of bare ids.
func namedModels(ids []string) []ModelInfo {
	out := make([]ModelInfo, len(ids))
	for i, id := range ids {
		out[i] = ModelInfo{ID: id, DisplayName: id}
	}
	return out
}

// ScriptedModel is the one model the scripted provider lists: it ignores
// the stage's model.
const ScriptedModel = "scripted"

// ListModels lists the scripted provider's one model.
func (c *scriptedClient) ListModels(context.Context) ([]ModelInfo, error) {
	return []ModelInfo{{ID: ScriptedModel, DisplayName: "Scripted (offline rules)",
		Description: "Switchboard's built-in offline provider: replies from its rules; any model name is accepted"}}, nil
}
