package sealed

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"

	"switchboard/store"
)

// memProviders is the part of a store the sealing wrapper needs: providers
// kept in memory exactly as written (the "database").
type memProviders struct {
	store.Store
	configs map[string]json.RawMessage
}

func (m *memProviders) CreateProvider(_ context.Context, p *store.Provider) error {
	m.configs[p.ID] = append(json.RawMessage(nil), p.Config...)
	return nil
}

func (m *memProviders) UpdateProvider(_ context.Context, p *store.Provider, _ int64) error {
	return m.CreateProvider(context.Background(), p)
}

func (m *memProviders) GetProvider(_ context.Context, id string) (*store.Provider, error) {
	c, ok := m.configs[id]
	if !ok {
		return nil, store.Errorf(store.ENOTFOUND, "no provider %s", id)
	}
	return &store.Provider{Meta: store.Meta{ID: id, Version: 1}, ProviderType: store.ProviderTypeLLM,
		APIType: store.APITypeOpenAILegacy, Config: append(json.RawMessage(nil), c...)}, nil
}

// FuzzSealUnseal seals arbitrary secrets and then reads them back intact
// and after tampering with the stored value (a byte flipped, a byte
// inserted, the value replaced). Nothing panics; the sealed form never
// contains the secret; a sealed value that was changed in any way never
// opens to the secret.
func FuzzSealUnseal(f *testing.F) {
	f.Add("sk-live-0123456789abcdef", uint16(12), byte(1), byte('\n'), "sealed:v1:AAAA")
	f.Add("topsecrettoken42", uint16(0), byte(0x80), byte('='), "")
	f.Add("", uint16(3), byte(0), byte(0), "sealed:v1:")
	f.Add("\xff\xfe", uint16(999), byte(0xff), byte('\r'), "plain-legacy-secret")
	f.Add(strings.Repeat("€", 300), uint16(40), byte(2), byte('A'), "sealed:v1:"+strings.Repeat("A", 60))
	f.Fuzz(func(t *testing.T, secret string, pos uint16, flip, insert byte, replacement string) {
		if strings.HasPrefix(secret, sealedPrefix) {
			return // a value that already reads as sealed is stored as given
		}
		mem := &memProviders{configs: map[string]json.RawMessage{}}
		st, err := Wrap(mem, bytes.Repeat([]byte{7}, KeySize))
		if err != nil {
			t.Fatal(err)
		}
		cfg, _ := json.Marshal(map[string]string{"apiKey": secret, "baseUrl": "https://api.example.com"})
		var want string // the secret as JSON carries it (invalid UTF-8 replaced)
		_ = json.Unmarshal(cfg, &struct {
			APIKey *string `json:"apiKey"`
		}{&want})
		ctx := context.Background()
		if err := st.CreateProvider(ctx, &store.Provider{Meta: store.Meta{ID: "prov_fuzz"}, Config: cfg}); err != nil {
			t.Fatal(err)
		}
		var stored map[string]string
		if err := json.Unmarshal(mem.configs["prov_fuzz"], &stored); err != nil {
			t.Fatal(err)
		}
		sealedValue := stored["apiKey"]
		if want != "" && (!strings.HasPrefix(sealedValue, sealedPrefix) || (len(want) >= 4 && strings.Contains(sealedValue, want))) {
			t.Fatalf("secret %q stored as %q", want, sealedValue)
		}
		if got := fuzzAPIKeyOf(t, st); got == nil || *got != want {
			t.Fatalf("round trip: %q, want %q", deref(got), want)
		}
		if want == "" {
			return
		}

		flipped := []byte(sealedValue)
		flipped[int(pos)%len(flipped)] ^= flip
		i := int(pos) % (len(sealedValue) + 1)
		inserted := sealedValue[:i] + string([]byte{insert}) + sealedValue[i:]
		for _, tampered := range []string{string(flipped), inserted, replacement, sealedValue + "A", sealedValue[:len(sealedValue)-1]} {
			if tampered == sealedValue {
				continue
			}
			b, _ := json.Marshal(map[string]string{"apiKey": tampered, "baseUrl": "https://api.example.com"})
			mem.configs["prov_fuzz"] = b
			var written map[string]string // as JSON stores it (invalid UTF-8 replaced)
			_ = json.Unmarshal(b, &written)
			got := fuzzAPIKeyOf(t, st)
			if got != nil && *got == want && written["apiKey"] != want {
				t.Fatalf("tampered value %q (sealed %q) opened to the secret", tampered, sealedValue)
			}
			if got != nil && strings.HasPrefix(written["apiKey"], sealedPrefix) {
				t.Fatalf("tampered sealed value %q opened to %q", tampered, *got)
			}
		}
	})
}

// fuzzAPIKeyOf reads the provider through the wrapper: nil when it refuses.
func fuzzAPIKeyOf(t *testing.T, st store.Store) *string {
	t.Helper()
	p, err := st.GetProvider(context.Background(), "prov_fuzz")
	if err != nil {
		if c := store.ErrorCode(err); c != store.EUNAVAILABLE && c != store.EINTERNAL {
			t.Fatalf("refused with %v (code %s)", err, c)
		}
		return nil
	}
	var c struct {
		APIKey *string `json:"apiKey"`
	}
	if err := json.Unmarshal(p.Config, &c); err != nil || c.APIKey == nil {
		t.Fatalf("opened config %s: %v", p.Config, err)
	}
	return c.APIKey
}

func deref(s *string) string {
	if s == nil {
		return "<refused>"
	}
	return *s
}
