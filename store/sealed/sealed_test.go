package sealed

import (
	"bytes"
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"switchboard/store"
	"switchboard/store/sqlite"
)

func open(t *testing.T) *sqlite.DB {
	t.Helper()
	db, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "s.db"), sqlite.WithSynchronous("OFF"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

var key = bytes.Repeat([]byte{7}, KeySize)

const cfg = `{"accountSid":"AC0123456789abcdef0123456789abcdef","authToken":"topsecrettoken42","fromNumber":"+15551234567"}`

func TestSealsAtRestAndOpensOnRead(t *testing.T) {
	ctx := context.Background()
	raw := open(t)
	st, err := Wrap(raw, key)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := st.(store.DeferredCommitter); !ok {
		t.Fatal("the wrapper hides the SQLite store's DeferredCommitter")
	}
	if _, ok := st.(store.StatsReporter); !ok {
		t.Fatal("the wrapper hides the SQLite store's StatsReporter")
	}
	if _, ok := st.(store.BatchCommitter); !ok {
		t.Fatal("the wrapper hides the SQLite store's BatchCommitter")
	}
	p := &store.Provider{Name: "tw", ProviderType: "channel", APIType: "twilio_messaging", Config: json.RawMessage(cfg)}
	if err := st.CreateProvider(ctx, p); err != nil {
		t.Fatal(err)
	}
	if string(p.Config) != cfg || p.Version != 1 {
		t.Fatalf("caller's provider changed: %s v%d", p.Config, p.Version)
	}
	stored, err := raw.GetProvider(ctx, p.ID)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(stored.Config), "topsecrettoken42") || !strings.Contains(string(stored.Config), prefixV2+KeyID(key)+":") {
		t.Fatalf("stored config %s", stored.Config)
	}
	if !strings.Contains(string(stored.Config), "AC0123456789abcdef0123456789abcdef") {
		t.Fatal("non-secret fields must stay readable")
	}
	got, err := st.GetProvider(ctx, p.ID)
	if err != nil || !strings.Contains(string(got.Config), `"authToken":"topsecrettoken42"`) {
		t.Fatalf("opened %s, %v", got.Config, err)
	}
	list, _, err := st.ListProviders(ctx, store.ListOptions{})
	if err != nil || !strings.Contains(string(list[0].Config), "topsecrettoken42") {
		t.Fatalf("listed %v, %v", list, err)
	}
	got.Config = json.RawMessage(strings.Replace(cfg, "topsecrettoken42", "rotatedtoken0001", 1))
	if err := st.UpdateProvider(ctx, got, got.Version); err != nil {
		t.Fatal(err)
	}
	stored, _ = raw.GetProvider(ctx, p.ID)
	if strings.Contains(string(stored.Config), "rotatedtoken0001") {
		t.Fatal("updated secret stored in clear")
	}

	// A wrong key, or none, refuses to hand out ciphertext as a credential.
	wrong, _ := Wrap(raw, bytes.Repeat([]byte{8}, KeySize))
	if _, err := wrong.GetProvider(ctx, p.ID); store.ErrorCode(err) != store.EUNAVAILABLE {
		t.Fatalf("wrong key: %v", err)
	}
	none, _ := Wrap(raw, nil)
	if _, err := none.GetProvider(ctx, p.ID); store.ErrorCode(err) != store.EUNAVAILABLE || !strings.Contains(err.Error(), "SWITCHBOARD_SECRET_KEY") {
		t.Fatalf("no key: %v", err)
	}
}

func TestSealedValueBoundToProvider(t *testing.T) {
	ctx := context.Background()
	raw := open(t)
	st, _ := Wrap(raw, key)
	a := &store.Provider{Name: "a", ProviderType: "channel", APIType: "twilio_messaging", Config: json.RawMessage(cfg)}
	b := &store.Provider{Name: "b", ProviderType: "channel", APIType: "twilio_messaging", Config: json.RawMessage(cfg)}
	for _, p := range []*store.Provider{a, b} {
		if err := st.CreateProvider(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	// Copy a's sealed config onto b, as an attacker with database access might.
	sa, _ := raw.GetProvider(ctx, a.ID)
	sb, _ := raw.GetProvider(ctx, b.ID)
	sb.Config = sa.Config
	if err := raw.UpdateProvider(ctx, sb, sb.Version); err != nil {
		t.Fatal(err)
	}
	if _, err := st.GetProvider(ctx, b.ID); err == nil {
		t.Fatal("a sealed secret moved to another provider was accepted")
	}
}

func TestPlaintextFromBeforeTheKeyStillReads(t *testing.T) {
	ctx := context.Background()
	raw := open(t)
	p := &store.Provider{Name: "old", ProviderType: "channel", APIType: "twilio_messaging", Config: json.RawMessage(cfg)}
	if err := raw.CreateProvider(ctx, p); err != nil {
		t.Fatal(err)
	}
	st, _ := Wrap(raw, key)
	got, err := st.GetProvider(ctx, p.ID)
	if err != nil || !strings.Contains(string(got.Config), "topsecrettoken42") {
		t.Fatalf("%s, %v", got.Config, err)
	}
}

func TestParseKey(t *testing.T) {
	for _, s := range []string{
		strings.Repeat("ab", 32),
		"BwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc=",
		"BwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc",
	} {
		if k, err := ParseKey(s); err != nil || len(k) != KeySize {
			t.Errorf("ParseKey(%q) = %d bytes, %v", s, len(k), err)
		}
	}
	for _, s := range []string{"", "short", strings.Repeat("zz", 32), "BwcHBwcH"} {
		if _, err := ParseKey(s); err == nil {
			t.Errorf("ParseKey(%q) accepted", s)
		}
	}
}
