package api

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"switchboard/store"
)

// KnownChannels are the channel names an API key's allowedChannels may
// list. Switchboard serves twilio_messaging; the others are Bonsai's
// channels, accepted so that Bonsai setup scripts work unchanged.
var KnownChannels = []string{"twilio_messaging", "twilio_voice", "web", "websocket", "webrtc", "rest", "sip"}

// KnownFeatures are the feature names an API key's allowedFeatures may
// list (Bonsai's). The Twilio webhook needs conversation_control and
// text_input when a key restricts features.
var KnownFeatures = []string{
	"conversation_control", "text_input", "text_output", "audio_input", "audio_output",
	"image_input", "file_input", "event_subscription",
}

// apiKeyPrefix starts every API key value.
const apiKeyPrefix = "akey_live_"

// NewAPIKeyValue returns a fresh key value: the prefix and 256 random bits,
// base64url.
func NewAPIKeyValue() (string, error) {
	tok, err := randomToken()
	if err != nil {
		return "", err
	}
	return apiKeyPrefix + tok, nil
}

// KeyPreview is what reads show of a key: its first 14 and last 4
// characters.
func KeyPreview(key string) string {
	if len(key) <= 18 {
		return key[:min(len(key), 4)] + "…"
	}
	return key[:14] + "…" + key[len(key)-4:]
}

// keySettings is Bonsai's nested shape of the allowed lists.
type keySettings struct {
	AllowedChannels nullable[[]string] `json:"allowedChannels"`
	AllowedFeatures nullable[[]string] `json:"allowedFeatures"`
}

// apiKeyBody is the body of API key create and update, in either of
// Bonsai's shapes: flat allowedChannels/allowedFeatures, or nested under
// keySettings (which wins when both are present).
type apiKeyBody struct {
	Version         *int64             `json:"version"`
	ProjectID       string             `json:"projectId"`
	Name            *string            `json:"name"`
	IsActive        *bool              `json:"isActive"`
	AllowedChannels nullable[[]string] `json:"allowedChannels"`
	AllowedFeatures nullable[[]string] `json:"allowedFeatures"`
	KeySettings     *keySettings       `json:"keySettings"`
	Metadata        json.RawMessage    `json:"metadata"`
}

// lists returns the effective allowed-list fields of the body.
func (b *apiKeyBody) lists() (channels, features nullable[[]string]) {
	channels, features = b.AllowedChannels, b.AllowedFeatures
	if b.KeySettings != nil {
		if b.KeySettings.AllowedChannels.Set {
			channels = b.KeySettings.AllowedChannels
		}
		if b.KeySettings.AllowedFeatures.Set {
			features = b.KeySettings.AllowedFeatures
		}
	}
	return channels, features
}

// apply merges the present fields of b into k. A null list means "all
// allowed" (nil); an empty list allows nothing.
func (b *apiKeyBody) apply(k *store.APIKey) error {
	var err error
	if b.Name != nil {
		if k.Name, err = requireName("name", *b.Name); err != nil {
			return err
		}
	}
	if b.IsActive != nil {
		k.IsActive = *b.IsActive
	}
	channels, features := b.lists()
	if channels.Set {
		if k.AllowedChannels, err = checkAllowed("allowedChannels", channels, KnownChannels); err != nil {
			return err
		}
	}
	if features.Set {
		if k.AllowedFeatures, err = checkAllowed("allowedFeatures", features, KnownFeatures); err != nil {
			return err
		}
	}
	if b.Metadata != nil {
		if k.Metadata, err = objectOrNull("metadata", b.Metadata); err != nil {
			return err
		}
	}
	return nil
}

// checkAllowed validates an allowed list against the known names; null
// gives nil, a list gives a non-nil de-duplicated copy.
func checkAllowed(field string, n nullable[[]string], known []string) ([]string, error) {
	if n.Null {
		return nil, nil
	}
	out := []string{}
	for _, v := range n.Value {
		if !slices.Contains(known, v) {
			return nil, store.FieldError(field, "unknown name %q (want some of %s)", v, strings.Join(known, ", "))
		}
		if !slices.Contains(out, v) {
			out = append(out, v)
		}
	}
	return out, nil
}

// apiKeyResponse is an API key as the API shows it: the stored record, its
// lists repeated in Bonsai's keySettings shape, and — only in the create
// response — the key value itself.
type apiKeyResponse struct {
	*store.APIKey
	KeySettings struct {
		AllowedChannels []string `json:"allowedChannels"`
		AllowedFeatures []string `json:"allowedFeatures"`
	} `json:"keySettings"`
	Key string `json:"key,omitempty"`
}

func publicAPIKey(k *store.APIKey) *apiKeyResponse {
	r := &apiKeyResponse{APIKey: k}
	r.KeySettings.AllowedChannels = k.AllowedChannels
	r.KeySettings.AllowedFeatures = k.AllowedFeatures
	return r
}

// createAPIKey serves both POST /api/api-keys (projectId in the body) and
// POST /api/projects/{projectId}/api-keys.
func (s *Server) createAPIKey(w http.ResponseWriter, r *http.Request) error {
	var body apiKeyBody
	if err := decodeBody(r, &body); err != nil {
		return err
	}
	projectID := pathVar(r, "projectId")
	if projectID != "" {
		if _, err := s.pathProject(r.Context(), r); err != nil {
			return err
		}
	} else {
		projectID = body.ProjectID
		if projectID == "" {
			return store.FieldError("projectId", "required")
		}
		p, err := s.st.GetProject(r.Context(), projectID)
		if store.ErrorCode(err) == store.ENOTFOUND {
			return store.FieldError("projectId", "project %q not found", projectID)
		}
		if err != nil {
			return fmt.Errorf("api: get project: %w", err)
		}
		if p.Archived() {
			return errArchived(p.ID)
		}
	}
	if body.Name == nil {
		return store.FieldError("name", "required")
	}
	value, err := NewAPIKeyValue()
	if err != nil {
		return err
	}
	now := s.now()
	k := &store.APIKey{
		Meta:       store.Meta{ID: store.NewID(store.PrefixAPIKey), CreatedAt: now, UpdatedAt: now, Version: 1},
		ProjectID:  projectID,
		KeyHash:    store.HashKey(value),
		KeyPreview: KeyPreview(value),
		IsActive:   true,
	}
	if err := body.apply(k); err != nil {
		return err
	}
	if err := s.st.CreateAPIKey(r.Context(), k); err != nil {
		return fmt.Errorf("api: create api key: %w", err)
	}
	s.recordCreate(r, k)
	resp := publicAPIKey(k)
	resp.Key = value
	writeJSON(w, http.StatusCreated, resp)
	return nil
}

// listAPIKeys lists the keys of the route's project, or of the ?projectId
// given to GET /api/api-keys, or of all projects.
func (s *Server) listAPIKeys(w http.ResponseWriter, r *http.Request) error {
	opts, err := listOptions(r)
	if err != nil {
		return err
	}
	projectID := r.URL.Query().Get("projectId")
	if pathVar(r, "projectId") != "" {
		proj, err := s.pathProject(r.Context(), r)
		if err != nil {
			return err
		}
		projectID = proj.ID
	}
	ks, total, err := s.st.ListAPIKeys(r.Context(), projectID, opts)
	if err != nil {
		return fmt.Errorf("api: list api keys: %w", err)
	}
	items := make([]*apiKeyResponse, len(ks))
	for i, k := range ks {
		items[i] = publicAPIKey(k)
	}
	writeList(w, items, total, opts)
	return nil
}

// routeAPIKey returns the key named by the route, checking that it belongs
// to the route's project when the route has one.
func (s *Server) routeAPIKey(r *http.Request) (*store.APIKey, error) {
	k, err := s.st.GetAPIKey(r.Context(), pathVar(r, "id"))
	if err != nil {
		return nil, fmt.Errorf("api: get api key: %w", err)
	}
	if p := pathVar(r, "projectId"); p != "" && k.ProjectID != p {
		return nil, store.Errorf(store.ENOTFOUND, "api key %q not found in project %q", k.ID, p)
	}
	return k, nil
}

func (s *Server) getAPIKey(w http.ResponseWriter, r *http.Request) error {
	k, err := s.routeAPIKey(r)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, publicAPIKey(k))
	return nil
}

func (s *Server) updateAPIKey(w http.ResponseWriter, r *http.Request) error {
	var body apiKeyBody
	if err := decodeBody(r, &body); err != nil {
		return err
	}
	version, err := requireVersion(body.Version)
	if err != nil {
		return err
	}
	k, err := s.routeAPIKey(r)
	if err != nil {
		return err
	}
	if err := s.requireActive(r.Context(), k.ProjectID); err != nil {
		return err
	}
	old := snapshot(publicAPIKey(k))
	if err := body.apply(k); err != nil {
		return err
	}
	k.UpdatedAt = s.now()
	if err := s.st.UpdateAPIKey(r.Context(), k, version); err != nil {
		return fmt.Errorf("api: update api key: %w", err)
	}
	if k, err = s.st.GetAPIKey(r.Context(), k.ID); err != nil {
		return fmt.Errorf("api: get api key: %w", err)
	}
	s.record(r, store.AuditUpdate, store.AuditAPIKey, k.ID, k.ProjectID, old, publicAPIKey(k))
	writeJSON(w, http.StatusOK, publicAPIKey(k))
	return nil
}

func (s *Server) deleteAPIKey(w http.ResponseWriter, r *http.Request) error {
	version, err := deleteVersion(r)
	if err != nil {
		return err
	}
	k, err := s.routeAPIKey(r)
	if err != nil {
		return err
	}
	if err := s.requireActive(r.Context(), k.ProjectID); err != nil {
		return err
	}
	if err := s.st.DeleteAPIKey(r.Context(), k.ID, version); err != nil {
		return fmt.Errorf("api: delete api key: %w", err)
	}
	s.record(r, store.AuditDelete, store.AuditAPIKey, k.ID, k.ProjectID, publicAPIKey(k), nil)
	w.WriteHeader(http.StatusNoContent)
	return nil
}
