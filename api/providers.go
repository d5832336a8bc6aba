package api

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	"switchboard/providers"
	"switchboard/store"
)

// publicProvider returns a copy of p fit for a response: secret config
// values (authToken, apiKey) are masked as "••••" plus their last four
// characters (providers.MaskSecret) in every response, including the
// create response, and tags are never null. Sending a masked value back
// in a PUT keeps the stored secret.
func publicProvider(p *store.Provider) *store.Provider {
	c := *p
	c.Config = providers.MaskConfig(p.Config)
	if c.Tags == nil {
		c.Tags = []string{}
	}
	return &c
}

// providerTypes resolves and checks apiType and providerType: apiType must
// be known, and providerType, when given, must be the apiType's type.
func providerTypes(providerType, apiType string) (string, error) {
	if apiType == "" {
		return "", store.FieldError("apiType", "required (one of %s)", strings.Join(providers.APITypes(), ", "))
	}
	want, ok := providers.ProviderTypeOf(apiType)
	if !ok {
		return "", store.FieldError("apiType", "unknown apiType %q (want one of %s)", apiType, strings.Join(providers.APITypes(), ", "))
	}
	if providerType != "" && providerType != want {
		return "", store.FieldError("providerType", "must be %q for apiType %q", want, apiType)
	}
	return want, nil
}

// providerConfig keeps the stored values of Switchboard-only keys the
// client did not send (providers.KeepUnsentKeys: Bonsai's console drops
// apiBaseUrl), restores masked secrets from prev (never towards a changed
// destination, see providers.RestoreSecrets), validates config against
// apiType and checks its URLs against the destination policy
// (PROVIDER_URL_ALLOWLIST).
func (s *Server) providerConfig(apiType string, config, prev json.RawMessage) (json.RawMessage, error) {
	config = providers.KeepUnsentKeys(apiType, config, prev)
	config, err := providers.RestoreSecrets(config, prev)
	if err != nil {
		return nil, err
	}
	if config, err = providers.ValidateConfig(apiType, config); err != nil {
		return nil, err
	}
	if err := providers.CheckDestinations(config, s.opts.Destinations); err != nil {
		return nil, err
	}
	return config, nil
}

func checkTags(tags []string) ([]string, error) {
	out := []string{}
	for _, t := range tags {
		t = strings.TrimSpace(t)
		if t == "" {
			return nil, store.FieldError("tags", "must not contain empty tags")
		}
		out = append(out, t)
	}
	return out, nil
}

func (s *Server) createProvider(w http.ResponseWriter, r *http.Request) error {
	var body struct {
		ID           string          `json:"id"`
		Name         string          `json:"name"`
		Description  string          `json:"description"`
		ProviderType string          `json:"providerType"`
		APIType      string          `json:"apiType"`
		Config       json.RawMessage `json:"config"`
		Tags         []string        `json:"tags"`
	}
	if err := decodeBody(r, &body); err != nil {
		return err
	}
	id, err := newID(body.ID, store.PrefixProvider)
	if err != nil {
		return err
	}
	name, err := requireName("name", body.Name)
	if err != nil {
		return err
	}
	ptype, err := providerTypes(body.ProviderType, body.APIType)
	if err != nil {
		return err
	}
	config, err := s.providerConfig(body.APIType, body.Config, nil)
	if err != nil {
		return err
	}
	tags, err := checkTags(body.Tags)
	if err != nil {
		return err
	}
	now := s.now()
	p := &store.Provider{
		Meta:         store.Meta{ID: id, CreatedAt: now, UpdatedAt: now, Version: 1},
		Name:         name,
		Description:  body.Description,
		ProviderType: ptype,
		APIType:      body.APIType,
		Config:       config,
		Tags:         tags,
	}
	if err := s.st.CreateProvider(r.Context(), p); err != nil {
		return fmt.Errorf("api: create provider: %w", err)
	}
	s.recordCreate(r, p)
	writeJSON(w, http.StatusCreated, publicProvider(p))
	return nil
}

func (s *Server) listProviders(w http.ResponseWriter, r *http.Request) error {
	opts, err := listOptions(r)
	if err != nil {
		return err
	}
	ps, total, err := s.st.ListProviders(r.Context(), opts)
	if err != nil {
		return fmt.Errorf("api: list providers: %w", err)
	}
	items := make([]*store.Provider, len(ps))
	for i, p := range ps {
		items[i] = publicProvider(p)
	}
	writeList(w, items, total, opts)
	return nil
}

func (s *Server) getProvider(w http.ResponseWriter, r *http.Request) error {
	p, err := s.st.GetProvider(r.Context(), pathVar(r, "id"))
	if err != nil {
		return fmt.Errorf("api: get provider: %w", err)
	}
	writeJSON(w, http.StatusOK, publicProvider(p))
	return nil
}

// updateProvider changes the fields present in the body. The resulting
// config is validated against the resulting apiType, so changing apiType
// requires a config that fits it.
func (s *Server) updateProvider(w http.ResponseWriter, r *http.Request) error {
	var body struct {
		Version      *int64          `json:"version"`
		Name         *string         `json:"name"`
		Description  *string         `json:"description"`
		ProviderType *string         `json:"providerType"`
		APIType      *string         `json:"apiType"`
		Config       json.RawMessage `json:"config"`
		Tags         []string        `json:"tags"`
	}
	if err := decodeBody(r, &body); err != nil {
		return err
	}
	version, err := requireVersion(body.Version)
	if err != nil {
		return err
	}
	id := pathVar(r, "id")
	p, err := s.st.GetProvider(r.Context(), id)
	if err != nil {
		return fmt.Errorf("api: get provider: %w", err)
	}
	old := snapshot(publicProvider(p))
	if body.Name != nil {
		if p.Name, err = requireName("name", *body.Name); err != nil {
			return err
		}
	}
	if body.Description != nil {
		p.Description = *body.Description
	}
	prevAPIType, prevConfig := p.APIType, p.Config
	if body.APIType != nil {
		p.APIType = *body.APIType
	}
	ptype := ""
	if body.ProviderType != nil {
		ptype = *body.ProviderType
	}
	if p.ProviderType, err = providerTypes(ptype, p.APIType); err != nil {
		return err
	}
	config := prevConfig
	if body.Config != nil {
		config = body.Config
	}
	if p.APIType != prevAPIType {
		// Nothing of another apiType's config is carried over: its
		// secrets would go to the new type's (default) destination.
		if body.Config == nil {
			return store.FieldError("config", "required when apiType changes (secrets are never carried over to another apiType)")
		}
		prevConfig = nil
	}
	if p.Config, err = s.providerConfig(p.APIType, config, prevConfig); err != nil {
		return err
	}
	if body.Tags != nil {
		if p.Tags, err = checkTags(body.Tags); err != nil {
			return err
		}
	}
	p.UpdatedAt = s.now()
	if err := s.st.UpdateProvider(r.Context(), p, version); err != nil {
		return fmt.Errorf("api: update provider: %w", err)
	}
	if p, err = s.st.GetProvider(r.Context(), id); err != nil {
		return fmt.Errorf("api: get provider: %w", err)
	}
	s.record(r, store.AuditUpdate, store.AuditProvider, id, "", old, publicProvider(p))
	writeJSON(w, http.StatusOK, publicProvider(p))
	return nil
}

func (s *Server) deleteProvider(w http.ResponseWriter, r *http.Request) error {
	version, err := deleteVersion(r)
	if err != nil {
		return err
	}
	p, err := s.st.GetProvider(r.Context(), pathVar(r, "id"))
	if err != nil {
		return fmt.Errorf("api: get provider: %w", err)
	}
	if err := s.st.DeleteProvider(r.Context(), p.ID, version); err != nil {
		return fmt.Errorf("api: delete provider: %w", err)
	}
	s.record(r, store.AuditDelete, store.AuditProvider, p.ID, "", publicProvider(p), nil)
	w.WriteHeader(http.StatusNoContent)
	return nil
}
