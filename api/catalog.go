package api

import (
	"net/http"
	"strings"

	"switchboard/providers"
	"switchboard/store"
)

// The provider catalog (GET /api/provider-catalog) tells a client which
// provider types Switchboard accepts: Bonsai's console fills its "API
// Type" list from it. The shape is Bonsai's (its ProviderCatalog contract:
// one array per provider category; an LLM entry lists models, a channel
// entry features); Switchboard adds configFields to each entry, the keys
// of its config with their type, whether required or secret, and default.
// Public, as in Bonsai: it describes the software, not the installation.

// catalogCategories are Bonsai's categories in its order, and channel.
var catalogCategories = []string{"asr", "tts", "llm", "storage", "moderation", store.ProviderTypeChannel}

// catalogEntry is one provider type in Bonsai's shape.
type catalogEntry struct {
	APIType     string `json:"apiType"`
	DisplayName string `json:"displayName"`
	Description string `json:"description,omitempty"`
	// Models is present for LLM entries (required there by Bonsai's
	// contract) and empty: the model is any the endpoint serves, named in
	// the stage's llmSettings.
	Models   *[]struct{} `json:"models,omitempty"`
	Features []string    `json:"features,omitempty"`
	// ConfigFields is Switchboard's addition.
	ConfigFields []providers.Field `json:"configFields"`
}

// catalog returns the catalog: every category, each an array (empty for
// the categories Switchboard has no provider of).
func catalog() map[string][]catalogEntry {
	out := map[string][]catalogEntry{}
	for _, c := range catalogCategories {
		out[c] = []catalogEntry{}
	}
	for _, k := range providers.Catalog() {
		e := catalogEntry{APIType: k.APIType, DisplayName: k.DisplayName, Description: k.Description,
			Features: k.Features, ConfigFields: k.Fields}
		if k.ProviderType == store.ProviderTypeLLM {
			e.Models = &[]struct{}{}
		}
		out[k.ProviderType] = append(out[k.ProviderType], e)
	}
	return out
}

// registerCatalog mounts the catalog routes, public as in Bonsai.
func (s *Server) registerCatalog(a *routes) {
	s.route(a, http.MethodGet, "/provider-catalog", "", s.getCatalog)
	s.route(a, http.MethodGet, "/provider-catalog/{type}", "", s.getCatalogCategory)
	s.route(a, http.MethodGet, "/provider-catalog/{type}/{apiType}", "", s.getCatalogEntry)
}

func (s *Server) getCatalog(w http.ResponseWriter, _ *http.Request) error {
	writeJSON(w, http.StatusOK, catalog())
	return nil
}

// getCatalogCategory serves GET /api/provider-catalog/{type}: Bonsai's
// {"providers": [...]} of one category.
func (s *Server) getCatalogCategory(w http.ResponseWriter, r *http.Request) error {
	entries, err := catalogCategory(pathVar(r, "type"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string][]catalogEntry{"providers": entries})
	return nil
}

// getCatalogEntry serves GET /api/provider-catalog/{type}/{apiType}.
func (s *Server) getCatalogEntry(w http.ResponseWriter, r *http.Request) error {
	entries, err := catalogCategory(pathVar(r, "type"))
	if err != nil {
		return err
	}
	apiType := pathVar(r, "apiType")
	for _, e := range entries {
		if e.APIType == apiType {
			writeJSON(w, http.StatusOK, e)
			return nil
		}
	}
	return store.Errorf(store.ENOTFOUND, "no %s provider type %q in Switchboard (it accepts %s)", pathVar(r, "type"), apiType, strings.Join(providers.APITypes(), ", "))
}

func catalogCategory(category string) ([]catalogEntry, error) {
	entries, ok := catalog()[category]
	if !ok {
		return nil, store.Errorf(store.ENOTFOUND, "no provider category %q (want one of %s)", category, strings.Join(catalogCategories, ", "))
	}
	return entries, nil
}
