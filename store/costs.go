package store

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
)

// CostManagementConfig is a project's caps on LLM tokens (Bonsai's
// costManagementConfig): Limits[providerID][model], where either key may
// be "*". Switchboard's calls are all completions: the completion caps
// bound a stage's input (the history sent is trimmed to fit) and its
// output (the smaller of the cap and the stage's defaultMaxTokens); the
// caps of Bonsai's other request types are kept but have no effect.
type CostManagementConfig struct {
	Limits map[string]map[string]ProviderModelLimits `json:"limits"`
}

// ProviderModelLimits are the caps of one provider and model.
type ProviderModelLimits struct {
	OutputTokensLimits *RequestTypeLimits `json:"outputTokensLimits,omitempty"`
	InputTokensLimits  *RequestTypeLimits `json:"inputTokensLimits,omitempty"`
}

// RequestTypeLimits are token caps per kind of LLM call.
type RequestTypeLimits struct {
	Completion     *int `json:"completion,omitempty"`
	Classification *int `json:"classification,omitempty"`
	Tool           *int `json:"tool,omitempty"`
	Transformation *int `json:"transformation,omitempty"`
	Filler         *int `json:"filler,omitempty"`
}

// ParseCostManagementConfig checks a costManagementConfig as Bonsai's
// schema does (limits required; every cap an integer of at least 1;
// unknown keys dropped) and returns it with its normalised JSON. A bad
// config is EINVALID naming the field (costManagementConfig.limits.….completion).
func ParseCostManagementConfig(raw json.RawMessage) (*CostManagementConfig, json.RawMessage, error) {
	const field = "costManagementConfig"
	var c CostManagementConfig
	dec := json.NewDecoder(bytes.NewReader(raw))
	if err := dec.Decode(&c); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Field != "" {
			return nil, nil, FieldError(field+"."+te.Field, "must be %s", kindName(te.Type.Kind().String()))
		}
		return nil, nil, FieldError(field, "must be an object with limits[providerId][model]")
	}
	if c.Limits == nil {
		return nil, nil, FieldError(field+".limits", "is required (an object keyed by provider id or \"*\")")
	}
	for _, p := range sortedKeys(c.Limits) {
		for _, m := range sortedKeys(c.Limits[p]) {
			l := c.Limits[p][m]
			for kind, caps := range map[string]*RequestTypeLimits{"outputTokensLimits": l.OutputTokensLimits, "inputTokensLimits": l.InputTokensLimits} {
				if caps == nil {
					continue
				}
				for name, v := range map[string]*int{"completion": caps.Completion, "classification": caps.Classification,
					"tool": caps.Tool, "transformation": caps.Transformation, "filler": caps.Filler} {
					if v != nil && *v < 1 {
						return nil, nil, FieldError(fmt.Sprintf("%s.limits.%s.%s.%s.%s", field, p, m, kind, name), "must be an integer of at least 1")
					}
				}
			}
		}
	}
	norm, err := json.Marshal(&c)
	if err != nil {
		return nil, nil, err
	}
	return &c, norm, nil
}

func kindName(k string) string {
	switch k {
	case "int", "int64", "ptr":
		return "an integer"
	case "map", "struct":
		return "an object"
	}
	return "a " + k
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// Resolve returns the caps that apply to a call of model on provider
// providerID, as Bonsai looks them up (the most specific wins, no
// merging): [providerID][model], [providerID]["*"], then ["*"]["*"].
func (c *CostManagementConfig) Resolve(providerID, model string) *ProviderModelLimits {
	if c == nil || c.Limits == nil {
		return nil
	}
	if p, ok := c.Limits[providerID]; ok {
		if l, ok := p[model]; ok && model != "" {
			return &l
		}
		if l, ok := p["*"]; ok {
			return &l
		}
	}
	if l, ok := c.Limits["*"]["*"]; ok {
		return &l
	}
	return nil
}

// CompletionCaps returns the input and output caps of a completion call
// (0 for none).
func (l *ProviderModelLimits) CompletionCaps() (input, output int) {
	if l == nil {
		return 0, 0
	}
	if l.InputTokensLimits != nil && l.InputTokensLimits.Completion != nil {
		input = *l.InputTokensLimits.Completion
	}
	if l.OutputTokensLimits != nil && l.OutputTokensLimits.Completion != nil {
		output = *l.OutputTokensLimits.Completion
	}
	return input, output
}
