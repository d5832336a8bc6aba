package api

import (
	"context"
	"encoding/base64"
	"net/http"
	"strings"
	"testing"

	"switchboard/store"
)

func TestAPIKeyCreateFlatShape(t *testing.T) {
	e := newEnv(t)
	tok := e.setup()
	pid := e.project(tok, "p")

	e.do("POST", "/api/api-keys", tok, map[string]any{"name": "k"}).wantField("projectId")
	e.do("POST", "/api/api-keys", tok, map[string]any{"projectId": "proj_nope", "name": "k"}).wantField("projectId")
	e.do("POST", "/api/api-keys", tok, map[string]any{"projectId": pid}).wantField("name")
	e.do("POST", "/api/api-keys", tok, map[string]any{"projectId": pid, "name": "k", "allowedChannels": []string{"carrier_pigeon"}}).wantField("allowedChannels")
	e.do("POST", "/api/api-keys", tok, map[string]any{"projectId": pid, "name": "k", "allowedFeatures": []string{"telepathy"}}).wantField("allowedFeatures")
	e.do("POST", "/api/api-keys", tok, map[string]any{"projectId": pid, "name": "k", "allowedChannels": "twilio_messaging"}).wantField("allowedChannels")
	e.do("POST", "/api/api-keys", tok, map[string]any{"projectId": pid, "name": "k", "metadata": "x"}).wantField("metadata")

	// Omitted lists mean "all allowed" (null); metadata is kept.
	r := e.do("POST", "/api/api-keys", tok, map[string]any{
		"projectId": pid, "name": "open", "metadata": map[string]any{"owner": "ops"},
	}).want(http.StatusCreated)
	m := r.obj()
	key := r.str("key")
	id := r.str("id")
	if !strings.HasPrefix(id, "akey_") || strings.HasPrefix(id, "akey_live_") {
		t.Fatalf("id = %q", id)
	}
	if m["allowedChannels"] != nil || m["allowedFeatures"] != nil || m["isActive"] != true || m["projectId"] != pid {
		t.Fatalf("create = %s", r.body)
	}
	if md, _ := m["metadata"].(map[string]any); md["owner"] != "ops" {
		t.Fatalf("metadata = %v", m["metadata"])
	}
	if ks, _ := m["keySettings"].(map[string]any); ks == nil || ks["allowedChannels"] != nil {
		t.Fatalf("keySettings = %v", m["keySettings"])
	}
	checkKey(t, key, r.str("keyPreview"))

	// The key is stored hashed and can be found by HashKey.
	k, err := e.st.GetAPIKeyByHash(context.Background(), store.HashKey(key))
	if err != nil || k.ID != id || k.AllowedChannels != nil || k.AllowedFeatures != nil {
		t.Fatalf("GetAPIKeyByHash = %+v, %v", k, err)
	}
	if k.KeyHash == key || strings.Contains(k.KeyHash, key) {
		t.Fatal("key stored in clear")
	}

	// Reads never show the key again.
	for _, path := range []string{"/api/api-keys/" + id, "/api/projects/" + pid + "/api-keys/" + id, "/api/api-keys", "/api/projects/" + pid + "/api-keys"} {
		g := e.do("GET", path, tok, nil).want(http.StatusOK)
		if strings.Contains(string(g.body), key) || strings.Contains(string(g.body), `"key"`) {
			t.Fatalf("GET %s shows the key: %s", path, g.body)
		}
		if !strings.Contains(string(g.body), r.str("keyPreview")) {
			t.Fatalf("GET %s lacks keyPreview: %s", path, g.body)
		}
	}

	// Explicit lists, de-duplicated; empty lists allow nothing (not null).
	r2 := e.do("POST", "/api/api-keys", tok, map[string]any{
		"projectId": pid, "name": "sms",
		"allowedChannels": []string{"twilio_messaging", "twilio_messaging"}, "allowedFeatures": []string{},
	}).want(http.StatusCreated)
	if r2.str("key") == key {
		t.Fatal("two keys with one value")
	}
	m2 := r2.obj()
	if ch := m2["allowedChannels"].([]any); len(ch) != 1 || ch[0] != "twilio_messaging" {
		t.Fatalf("allowedChannels = %v", m2["allowedChannels"])
	}
	if f, ok := m2["allowedFeatures"].([]any); !ok || len(f) != 0 {
		t.Fatalf("allowedFeatures = %#v, want []", m2["allowedFeatures"])
	}
	k2, err := e.st.GetAPIKey(context.Background(), r2.str("id"))
	if err != nil || k2.AllowedFeatures == nil || len(k2.AllowedFeatures) != 0 {
		t.Fatalf("stored features = %#v, %v", k2.AllowedFeatures, err)
	}
}

func TestAPIKeyProjectShape(t *testing.T) {
	e := newEnv(t)
	tok := e.setup()
	pid := e.project(tok, "p")
	other := e.project(tok, "other")
	base := "/api/projects/" + pid + "/api-keys"

	e.do("POST", "/api/projects/proj_nope/api-keys", tok, map[string]any{"name": "k"}).wantError(http.StatusNotFound)
	e.do("POST", base, tok, map[string]any{"name": "k", "keySettings": map[string]any{"allowedChannels": []string{"fax"}}}).wantField("allowedChannels")
	e.do("POST", base, tok, map[string]any{"name": "k", "keySettings": []string{}}).wantField("keySettings")

	r := e.do("POST", base, tok, map[string]any{
		"name": "twilio", "keySettings": map[string]any{
			"allowedChannels": []string{"twilio_messaging", "web"},
			"allowedFeatures": []string{"conversation_control", "text_input", "text_output"},
		},
	}).want(http.StatusCreated)
	id := r.str("id")
	checkKey(t, r.str("key"), r.str("keyPreview"))
	m := r.obj()
	ks := m["keySettings"].(map[string]any)
	if len(ks["allowedChannels"].([]any)) != 2 || len(ks["allowedFeatures"].([]any)) != 3 || len(m["allowedChannels"].([]any)) != 2 {
		t.Fatalf("create = %s", r.body)
	}
	// keySettings: null means all allowed.
	n := e.do("POST", base, tok, map[string]any{"name": "all", "keySettings": map[string]any{"allowedChannels": nil, "allowedFeatures": nil}}).want(http.StatusCreated).obj()
	if n["allowedChannels"] != nil || n["allowedFeatures"] != nil {
		t.Fatalf("null lists = %v / %v", n["allowedChannels"], n["allowedFeatures"])
	}

	e.do("GET", base, tok, nil).items(2, 0, 100)
	e.do("GET", "/api/projects/"+other+"/api-keys", tok, nil).items(0, 0, 100)
	e.do("GET", "/api/api-keys", tok, nil).items(2, 0, 100)
	e.do("GET", "/api/api-keys?projectId="+other, tok, nil).items(0, 0, 100)
	e.do("GET", "/api/projects/proj_nope/api-keys", tok, nil).wantError(http.StatusNotFound)
	e.do("GET", "/api/projects/"+other+"/api-keys/"+id, tok, nil).wantError(http.StatusNotFound)
	e.do("GET", base+"/akey_nope", tok, nil).wantError(http.StatusNotFound)

	// Update: name, isActive, keySettings; null resets a list to "all".
	e.do("PUT", base+"/"+id, tok, map[string]any{"name": "x"}).wantField("version")
	e.do("PUT", base+"/"+id, tok, map[string]any{"name": "x", "version": 7}).wantError(http.StatusConflict)
	e.do("PUT", base+"/"+id, tok, map[string]any{"isActive": "yes", "version": 1}).wantField("isActive")
	e.do("PUT", base+"/"+id, tok, map[string]any{"keySettings": map[string]any{"allowedFeatures": []string{"x"}}, "version": 1}).wantField("allowedFeatures")
	e.do("PUT", "/api/projects/"+other+"/api-keys/"+id, tok, map[string]any{"name": "x", "version": 1}).wantError(http.StatusNotFound)
	u := e.do("PUT", base+"/"+id, tok, map[string]any{
		"name": "renamed", "isActive": false, "keySettings": map[string]any{"allowedChannels": nil}, "version": 1,
	}).want(http.StatusOK)
	um := u.obj()
	if um["name"] != "renamed" || um["isActive"] != false || um["allowedChannels"] != nil || len(um["allowedFeatures"].([]any)) != 3 || u.version() != 2 {
		t.Fatalf("update = %s", u.body)
	}
	if strings.Contains(string(u.body), `"key"`) {
		t.Fatalf("update shows the key: %s", u.body)
	}
	u = e.do("PUT", "/api/api-keys/"+id, tok, map[string]any{"allowedChannels": []string{}, "version": 2}).want(http.StatusOK)
	if ch, ok := u.obj()["allowedChannels"].([]any); !ok || len(ch) != 0 {
		t.Fatalf("flat update = %s", u.body)
	}

	e.do("DELETE", "/api/projects/"+other+"/api-keys/"+id+"?version=3", tok, nil).wantError(http.StatusNotFound)
	e.do("DELETE", base+"/"+id+"?version=2", tok, nil).wantError(http.StatusConflict)
	e.do("DELETE", base+"/"+id+"?version=3", tok, nil).want(http.StatusNoContent)
	e.do("GET", "/api/api-keys/"+id, tok, nil).wantError(http.StatusNotFound)
}

// checkKey checks a key value's format and its preview.
func checkKey(t *testing.T, key, preview string) {
	t.Helper()
	rest, ok := strings.CutPrefix(key, "akey_live_")
	if !ok {
		t.Fatalf("key %q lacks akey_live_", key)
	}
	raw, err := base64.RawURLEncoding.DecodeString(rest)
	if err != nil || len(raw) != 32 {
		t.Fatalf("key body %q is not 256 bits of base64url (%v)", rest, err)
	}
	if preview != key[:14]+"…"+key[len(key)-4:] {
		t.Fatalf("preview = %q for key %q", preview, key)
	}
}
