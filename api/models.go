package api

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"switchboard/providers/llm"
	"switchboard/store"
)

// modelsTimeout bounds GET /api/providers/{id}/models: the vendor's
// models endpoint, retries of a 429 or 5xx included.
const modelsTimeout = 20 * time.Second

// providerModels serves GET /api/providers/{id}/models, Bonsai's "Enumerate
// LLM models": {"models": [LlmModelInfo…]} listed live from the vendor's
// models endpoint (a static list for perplexity, which has none; scripted
// lists its one model). A channel provider is a 400; a provider whose API
// refuses or fails is a 502 with the vendor's own message (never its
// key), where Bonsai would fall back to its static catalog: a bad key or
// base URL should show when an operator looks.
func (s *Server) providerModels(w http.ResponseWriter, r *http.Request) error {
	p, err := s.st.GetProvider(r.Context(), pathVar(r, "id"))
	if err != nil {
		return fmt.Errorf("api: get provider: %w", err)
	}
	if p.ProviderType != store.ProviderTypeLLM {
		return store.Errorf(store.EINVALID, "provider %s is not an LLM provider (providerType %q): only LLM providers list models", p.ID, p.ProviderType)
	}
	client, err := s.opts.LLM.Get(p)
	if err != nil {
		return err // EINVALID naming the config field
	}
	ctx, cancel := context.WithTimeout(r.Context(), modelsTimeout)
	defer cancel()
	models, err := llm.ListModels(ctx, client)
	if err != nil {
		if r.Context().Err() != nil {
			return fmt.Errorf("api: list models: %w", err)
		}
		// Every error of a client's ListModels is the vendor's answer or
		// a failure to reach it, already free of the key.
		return &store.Error{Code: store.EBADGATEWAY, Message: "listing the models of provider " + p.ID + " failed: " + err.Error(),
			Details: map[string]string{"providerId": p.ID, "apiType": p.APIType}}
	}
	if models == nil {
		models = []llm.ModelInfo{}
	}
	writeJSON(w, http.StatusOK, map[string][]llm.ModelInfo{"models": models})
	return nil
}
