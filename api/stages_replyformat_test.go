package api

import (
	"net/http"
	"testing"
)

// TestStageReplyFormat: metadata.replyFormat is checked when a stage is
// created or updated (400 naming the field), and a valid one is stored
// with the rest of the metadata.
func TestStageReplyFormat(t *testing.T) {
	e := newEnv(t)
	tok := e.setup()
	pid := e.project(tok, "p")
	llm := e.scripted(tok)
	base := "/api/projects/" + pid + "/stages"

	for _, bad := range []any{"markdown", "Plain", 1, true, map[string]any{"sms": "plain"}} {
		e.do("POST", base, tok, map[string]any{"name": "s", "llmProviderId": llm,
			"metadata": map[string]any{"replyFormat": bad}}).wantField("metadata.replyFormat")
	}
	for _, good := range []any{"auto", "plain", "whatsapp", "none", nil} {
		r := e.do("POST", base, tok, map[string]any{"name": "s", "llmProviderId": llm,
			"metadata": map[string]any{"replyFormat": good, "mediaReply": "Text only, please."}}).want(http.StatusCreated)
		md, _ := r.obj()["metadata"].(map[string]any)
		if md["replyFormat"] != good || md["mediaReply"] != "Text only, please." {
			t.Fatalf("stored metadata %v, want replyFormat %v kept", md, good)
		}
	}
	id := e.stage(tok, pid, llm)
	e.do("PUT", base+"/"+id, tok, map[string]any{"version": 1, "metadata": map[string]any{"replyFormat": "html"}}).wantField("metadata.replyFormat")
	e.do("PUT", base+"/"+id, tok, map[string]any{"version": 1, "metadata": map[string]any{"replyFormat": "plain"}}).want(http.StatusOK)
}
