package store

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

func TestParseCostManagementConfig(t *testing.T) {
	c, norm, err := ParseCostManagementConfig(json.RawMessage(`{"limits":{"prov_a":{"gpt-4o":{"inputTokensLimits":{"completion":100},
		"outputTokensLimits":{"completion":50,"filler":9}},"*":{"inputTokensLimits":{"completion":200}}},
		"*":{"*":{"inputTokensLimits":{"completion":300}}}},"extra":true}`))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(norm), "extra") {
		t.Fatalf("unknown keys are dropped, as Bonsai's schema does: %s", norm)
	}
	for _, tc := range []struct {
		provider, model string
		in, out         int
	}{
		{"prov_a", "gpt-4o", 100, 50},     // exact
		{"prov_a", "gpt-4o-mini", 200, 0}, // the provider's "*"
		{"prov_b", "gpt-4o", 300, 0},      // the global "*"
		{"prov_a", "", 200, 0},
	} {
		in, out := c.Resolve(tc.provider, tc.model).CompletionCaps()
		if in != tc.in || out != tc.out {
			t.Errorf("%s/%s: caps %d/%d, want %d/%d", tc.provider, tc.model, in, out, tc.in, tc.out)
		}
	}
	var none *CostManagementConfig
	if in, out := none.Resolve("p", "m").CompletionCaps(); in != 0 || out != 0 {
		t.Errorf("no config: %d/%d", in, out)
	}
	if l := (&CostManagementConfig{Limits: map[string]map[string]ProviderModelLimits{"prov_a": {"m": {}}}}).Resolve("prov_b", "m"); l != nil {
		t.Errorf("no entry for the provider and no global one: %+v", l)
	}

	for _, bad := range []struct{ body, field string }{
		{`{}`, "costManagementConfig.limits"},
		{`[]`, "costManagementConfig"},
		{`{"limits":[]}`, "costManagementConfig.limits"},
		{`{"limits":{"p":{"m":{"inputTokensLimits":{"completion":0}}}}}`, "costManagementConfig.limits.p.m.inputTokensLimits.completion"},
		{`{"limits":{"p":{"m":{"outputTokensLimits":{"tool":-3}}}}}`, "costManagementConfig.limits.p.m.outputTokensLimits.tool"},
		{`{"limits":{"p":{"m":{"inputTokensLimits":{"completion":1.5}}}}}`, "costManagementConfig.limits.inputTokensLimits.completion"},
		{`{"limits":{"p":{"m":{"inputTokensLimits":{"completion":"9"}}}}}`, "costManagementConfig.limits.inputTokensLimits.completion"},
	} {
		_, _, err := ParseCostManagementConfig(json.RawMessage(bad.body))
		var e *Error
		if !errors.As(err, &e) || e.Code != EINVALID || e.Details.(map[string]string)["field"] != bad.field {
			t.Errorf("%s: %v, want EINVALID naming %s", bad.body, err, bad.field)
		}
	}
}
