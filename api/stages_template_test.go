package api

import (
	"net/http"
	"testing"
)

// TestStageWhatsAppTemplate: metadata.whatsappTemplate is checked when a
// stage is created or updated (400 naming the field, nothing stored), and
// a valid one is kept as given.
func TestStageWhatsAppTemplate(t *testing.T) {
	e := newEnv(t)
	tok := e.setup()
	pid := e.project(tok, "p")
	llm := e.scripted(tok)
	base := "/api/projects/" + pid + "/stages"
	const sid = "HX0123456789abcdef0123456789abcdef"

	for _, bad := range []any{"HX1", 1, map[string]any{"contentSid": "HXzz"}, map[string]any{"contentVariables": map[string]any{}},
		map[string]any{"contentSid": sid, "contentVariables": map[string]any{"1": 2}},
		map[string]any{"contentSid": sid, "contentVariables": "not json"},
		map[string]any{"contentSid": sid, "extra": true}} {
		e.do("POST", base, tok, map[string]any{"name": "s", "llmProviderId": llm,
			"metadata": map[string]any{"whatsappTemplate": bad}}).wantField("metadata.whatsappTemplate")
	}
	good := map[string]any{"contentSid": sid, "contentVariables": map[string]any{"1": "Ada"}}
	r := e.do("POST", base, tok, map[string]any{"name": "s", "llmProviderId": llm,
		"metadata": map[string]any{"whatsappTemplate": good}}).want(http.StatusCreated)
	md, _ := r.obj()["metadata"].(map[string]any)
	if tpl, _ := md["whatsappTemplate"].(map[string]any); tpl["contentSid"] != sid {
		t.Fatalf("stored metadata %v", md)
	}
	id := e.stage(tok, pid, llm)
	e.do("PUT", base+"/"+id, tok, map[string]any{"version": 1, "metadata": map[string]any{"whatsappTemplate": map[string]any{"contentSid": "x"}}}).
		wantField("metadata.whatsappTemplate")
	e.do("PUT", base+"/"+id, tok, map[string]any{"version": 1, "metadata": map[string]any{"whatsappTemplate": good}}).want(http.StatusOK)

	for _, bad := range []any{"false", 0, map[string]any{}} {
		e.do("POST", base, tok, map[string]any{"name": "s", "llmProviderId": llm,
			"metadata": map[string]any{"replyMedia": bad}}).wantField("metadata.replyMedia")
	}
	e.do("POST", base, tok, map[string]any{"name": "s", "llmProviderId": llm,
		"metadata": map[string]any{"replyMedia": false}}).want(http.StatusCreated)
}
