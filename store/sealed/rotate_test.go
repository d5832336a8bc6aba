package sealed

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"switchboard/store"
	"switchboard/store/sqlite"
)

func createProviders(t *testing.T, st store.Store, n int) []*store.Provider {
	t.Helper()
	var out []*store.Provider
	for i := range n {
		p := &store.Provider{Name: "p", ProviderType: "llm", APIType: "openai-legacy",
			Config: json.RawMessage(`{"apiKey":"sk-secret-` + strings.Repeat("x", i+1) + `"}`)}
		if err := st.CreateProvider(context.Background(), p); err != nil {
			t.Fatal(err)
		}
		out = append(out, p)
	}
	return out
}

func apiKeyOf(t *testing.T, st store.Store, id string) (string, error) {
	t.Helper()
	p, err := st.GetProvider(context.Background(), id)
	if err != nil {
		return "", err
	}
	var c struct {
		APIKey string `json:"apiKey"`
	}
	_ = json.Unmarshal(p.Config, &c)
	return c.APIKey, nil
}

// TestResealPlaintext: providers stored in clear before a key existed are
// sealed by one Reseal pass; a second pass has nothing to do.
func TestResealPlaintext(t *testing.T) {
	ctx := context.Background()
	raw := open(t)
	ps := createProviders(t, raw, 3)
	c, err := Census(ctx, raw)
	if err != nil || c.Plaintext != 3 || c.Sealed != 0 {
		t.Fatalf("census %+v, %v", c, err)
	}
	st, _ := Wrap(raw, key)
	res, err := Reseal(ctx, st)
	if err != nil || res.Resealed != 3 || len(res.Unopenable) != 0 {
		t.Fatalf("reseal %+v, %v", res, err)
	}
	for i, p := range ps {
		stored, _ := raw.GetProvider(ctx, p.ID)
		if strings.Contains(string(stored.Config), "sk-secret") || !strings.Contains(string(stored.Config), prefixV2+KeyID(key)+":") {
			t.Fatalf("stored %s", stored.Config)
		}
		if k, err := apiKeyOf(t, st, p.ID); err != nil || k != "sk-secret-"+strings.Repeat("x", i+1) {
			t.Fatalf("opened %q, %v", k, err)
		}
	}
	if res, err := Reseal(ctx, st); err != nil || res.Resealed != 0 {
		t.Fatalf("second pass %+v, %v", res, err)
	}
	if c, _ := Census(ctx, st); c.Plaintext != 0 || c.Sealed != 3 || c.Unopenable != 0 {
		t.Fatalf("census after %+v", c)
	}
}

// TestRotation: after re-sealing under a new key with the old one as an
// opener, the new key alone opens everything and the old key nothing. An
// interrupted rotation (half the providers done) is finished by running
// it again.
func TestRotation(t *testing.T) {
	ctx := context.Background()
	raw := open(t)
	oldKey, newKey := bytes.Repeat([]byte{1}, KeySize), bytes.Repeat([]byte{2}, KeySize)
	st, _ := Wrap(raw, oldKey)
	ps := createProviders(t, st, 4)

	// A crash midway: only the first two were rewritten.
	rot, _ := WrapWith(raw, newKey, Options{OldKeys: [][]byte{oldKey}})
	for _, p := range ps[:2] {
		if _, err := unwrap(rot).resealOne(ctx, mustRaw(t, raw, p.ID)); err != nil {
			t.Fatal(err)
		}
	}
	onlyNew, _ := Wrap(raw, newKey)
	if _, err := apiKeyOf(t, onlyNew, ps[3].ID); store.ErrorCode(err) != store.EUNAVAILABLE || !strings.Contains(err.Error(), "key id "+KeyID(oldKey)) {
		t.Fatalf("half-rotated: the new key alone on an old value: %v", err)
	}
	// Re-run: finishes the other two.
	res, err := Reseal(ctx, rot)
	if err != nil || res.Resealed != 2 {
		t.Fatalf("re-run %+v, %v", res, err)
	}
	for _, p := range ps {
		if _, err := apiKeyOf(t, onlyNew, p.ID); err != nil {
			t.Fatalf("new key: %v", err)
		}
		if _, err := apiKeyOf(t, st, p.ID); store.ErrorCode(err) != store.EUNAVAILABLE {
			t.Fatalf("old key still opens %s: %v", p.ID, err)
		}
	}
	if res, _ := Reseal(ctx, rot); res.Resealed != 0 {
		t.Fatalf("third run rewrote %d", res.Resealed)
	}
	// A key that opens nothing reports the providers, and changes nothing.
	stranger, _ := Wrap(raw, bytes.Repeat([]byte{3}, KeySize))
	res, err = Reseal(ctx, stranger)
	if err != nil || res.Resealed != 0 || len(res.Unopenable) != 4 {
		t.Fatalf("stranger %+v, %v", res, err)
	}
}

func mustRaw(t *testing.T, st store.Store, id string) *store.Provider {
	t.Helper()
	p, err := st.GetProvider(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestV1ValuesStillOpen: values of the format without a key id open with
// the key and are rewritten as v2 by Reseal.
func TestV1ValuesStillOpen(t *testing.T) {
	ctx := context.Background()
	raw := open(t)
	p := createProviders(t, raw, 1)[0]
	aead, _ := newAEAD(key)
	nonce := make([]byte, aead.NonceSize())
	ct := aead.Seal(nonce, nonce, []byte("sk-v1-secret"), aad(p.ID, "apiKey"))
	stored := mustRaw(t, raw, p.ID)
	stored.Config = json.RawMessage(`{"apiKey":"` + prefixV1 + b64(ct) + `"}`)
	if err := raw.UpdateProvider(ctx, stored, stored.Version); err != nil {
		t.Fatal(err)
	}
	st, _ := Wrap(raw, key)
	if k, err := apiKeyOf(t, st, p.ID); err != nil || k != "sk-v1-secret" {
		t.Fatalf("v1: %q, %v", k, err)
	}
	if res, _ := Reseal(ctx, st); res.Resealed != 1 {
		t.Fatalf("v1 not rewritten: %+v", res)
	}
	if !strings.Contains(string(mustRaw(t, raw, p.ID).Config), prefixV2) {
		t.Fatal("still v1")
	}
}

// TestRequireKey: without a key and with RequireKey, a secret is refused
// with an error naming SWITCHBOARD_SECRET_KEY and nothing is stored; a
// config without secrets is accepted.
func TestRequireKey(t *testing.T) {
	ctx := context.Background()
	raw := open(t)
	st, _ := WrapWith(raw, nil, Options{RequireKey: true})
	p := &store.Provider{Name: "p", ProviderType: "llm", APIType: "openai-legacy", Config: json.RawMessage(`{"apiKey":"sk-1"}`)}
	err := st.CreateProvider(ctx, p)
	if store.ErrorCode(err) != store.EUNAVAILABLE || !strings.Contains(err.Error(), "SWITCHBOARD_SECRET_KEY") || !strings.Contains(err.Error(), "ALLOW_PLAINTEXT_SECRETS") {
		t.Fatalf("err = %v", err)
	}
	if _, total, _ := raw.ListProviders(ctx, store.ListOptions{}); total != 0 {
		t.Fatalf("%d providers stored", total)
	}
	q := &store.Provider{Name: "s", ProviderType: "llm", APIType: "scripted", Config: json.RawMessage(`{"defaultReply":"hi"}`)}
	if err := st.CreateProvider(ctx, q); err != nil {
		t.Fatal(err)
	}
	o := &store.Provider{Name: "o", ProviderType: "llm", APIType: "ollama", Config: json.RawMessage(`{"apiKey":""}`)}
	if err := st.CreateProvider(ctx, o); err != nil {
		t.Fatalf("an empty secret is no secret: %v", err)
	}
}

// TestCopiedDatabaseHoldsNoSecret greps the raw bytes of the database
// files: sealed secrets never appear in clear.
func TestCopiedDatabaseHoldsNoSecret(t *testing.T) {
	dir := t.TempDir()
	raw := openAt(t, filepath.Join(dir, "s.db"))
	st, _ := Wrap(raw, key)
	createProviders(t, st, 1)
	if err := raw.Close(); err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "s.db*"))
	if len(files) == 0 {
		t.Fatal("no database files")
	}
	for _, f := range files {
		b, _ := os.ReadFile(f)
		if bytes.Contains(b, []byte("sk-secret-x")) {
			t.Fatalf("%s holds the secret in clear", f)
		}
	}
}

func TestKeyFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "db.key")
	k1, created, err := LoadOrCreateKeyFile(path)
	if err != nil || !created || len(k1) != KeySize {
		t.Fatalf("create: %v %v", created, err)
	}
	fi, _ := os.Stat(path)
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %04o, want 0600", fi.Mode().Perm())
	}
	b, _ := os.ReadFile(path)
	if k, err := ParseKey(string(b)); err != nil || !bytes.Equal(k, k1) {
		t.Fatalf("key file is not in the SWITCHBOARD_SECRET_KEY format: %v", err)
	}
	k2, created, err := LoadOrCreateKeyFile(path)
	if err != nil || created || !bytes.Equal(k1, k2) {
		t.Fatalf("reload: %v %v", created, err)
	}
	if err := CreateKeyFile(path, k1); err == nil {
		t.Fatal("CreateKeyFile overwrote an existing key file")
	}
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := LoadOrCreateKeyFile(path); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Fatalf("a world-readable key file was accepted: %v", err)
	}
	// Replace is atomic: the new key is in place, the pending file gone.
	_ = os.Chmod(path, 0o600)
	k3, _ := NewKey()
	if err := CreateKeyFile(path+".new", k3); err != nil {
		t.Fatal(err)
	}
	if err := ReplaceKeyFile(path+".new", path); err != nil {
		t.Fatal(err)
	}
	if k, err := ReadKeyFile(path); err != nil || !bytes.Equal(k, k3) {
		t.Fatalf("replaced: %v", err)
	}
	if _, err := os.Stat(path + ".new"); !os.IsNotExist(err) {
		t.Fatalf("pending key file left: %v", err)
	}
}

func openAt(t *testing.T, path string) *sqlite.DB {
	t.Helper()
	db, err := sqlite.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	return db
}

func b64(b []byte) string { return base64.RawStdEncoding.EncodeToString(b) }
