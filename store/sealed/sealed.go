// Package sealed encrypts provider secrets at rest. Wrap returns a Store
// that seals the secret fields of a provider's config (authToken, apiKey)
// with AES-256-GCM before they reach the database and opens them when
// providers are read, so a copy of the database (a backup, a stolen disk)
// does not hold usable Twilio or LLM credentials.
//
// A sealed value reads "sealed:v1:" + base64(nonce ‖ ciphertext); the
// provider id and field name are authenticated with it, so a sealed value
// cannot be moved to another provider or field. Plaintext values written
// before a key was configured stay readable and are sealed on the
// provider's next update.
package sealed

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"

	"switchboard/store"
)

// secretFields are the config keys that hold credentials.
var secretFields = []string{"authToken", "apiKey"}

const prefix = "sealed:v1:"

// KeySize is the length of a key in bytes (AES-256).
const KeySize = 32

// Wrap returns st with provider secrets sealed under key. A nil key seals
// nothing, but a provider whose secrets are sealed then fails to load with
// a clear error instead of handing out ciphertext as a credential. The
// result implements store.BatchCommitter exactly when st does.
func Wrap(st store.Store, key []byte) (store.Store, error) {
	s := &sealedStore{Store: st}
	if key != nil {
		if len(key) != KeySize {
			return nil, fmt.Errorf("sealed: key must be %d bytes, got %d", KeySize, len(key))
		}
		block, err := aes.NewCipher(key)
		if err != nil {
			return nil, fmt.Errorf("sealed: %w", err)
		}
		if s.aead, err = cipher.NewGCM(block); err != nil {
			return nil, fmt.Errorf("sealed: %w", err)
		}
	}
	if bc, ok := st.(store.BatchCommitter); ok {
		return &sealedBatchStore{sealedStore: s, bc: bc}, nil
	}
	return s, nil
}

type sealedStore struct {
	store.Store
	aead cipher.AEAD // nil: no key configured
}

type sealedBatchStore struct {
	*sealedStore
	bc store.BatchCommitter
}

// CommitBatch implements store.BatchCommitter.
func (s *sealedBatchStore) CommitBatch(ctx context.Context, msgs []*store.InboundMessage, turns []*store.Turn) ([]store.InboundResult, error) {
	return s.bc.CommitBatch(ctx, msgs, turns)
}

// CreateProvider seals p's secrets for storage; p keeps its plaintext.
func (s *sealedStore) CreateProvider(ctx context.Context, p *store.Provider) error {
	if p.ID == "" {
		p.ID = store.NewID(store.PrefixProvider)
	}
	return s.write(p, func(q *store.Provider) error { return s.Store.CreateProvider(ctx, q) })
}

// UpdateProvider seals p's secrets for storage; p keeps its plaintext.
func (s *sealedStore) UpdateProvider(ctx context.Context, p *store.Provider, version int64) error {
	return s.write(p, func(q *store.Provider) error { return s.Store.UpdateProvider(ctx, q, version) })
}

// write stores a copy of p with sealed secrets and copies the stored
// bookkeeping back into p.
func (s *sealedStore) write(p *store.Provider, fn func(*store.Provider) error) error {
	q := *p
	cfg, err := s.transform(p.ID, p.Config, s.seal)
	if err != nil {
		return err
	}
	q.Config = cfg
	if err := fn(&q); err != nil {
		return err
	}
	p.Meta = q.Meta
	return nil
}

// GetProvider returns the provider with its secrets opened.
func (s *sealedStore) GetProvider(ctx context.Context, id string) (*store.Provider, error) {
	p, err := s.Store.GetProvider(ctx, id)
	if err != nil {
		return nil, err
	}
	return p, s.openProvider(p)
}

// ListProviders returns a page of providers with their secrets opened.
func (s *sealedStore) ListProviders(ctx context.Context, opts store.ListOptions) ([]*store.Provider, int, error) {
	ps, total, err := s.Store.ListProviders(ctx, opts)
	if err != nil {
		return nil, 0, err
	}
	for _, p := range ps {
		if err := s.openProvider(p); err != nil {
			return nil, 0, err
		}
	}
	return ps, total, nil
}

func (s *sealedStore) openProvider(p *store.Provider) error {
	cfg, err := s.transform(p.ID, p.Config, s.open)
	if err != nil {
		return err
	}
	p.Config = cfg
	return nil
}

// transform applies fn to each secret string field of a config object.
func (s *sealedStore) transform(id string, raw json.RawMessage, fn func(id, field, v string) (string, error)) (json.RawMessage, error) {
	if len(raw) == 0 {
		return raw, nil
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		return raw, nil // not an object: nothing to seal (validation is the API's job)
	}
	changed := false
	for _, f := range secretFields {
		v, ok := m[f]
		if !ok {
			continue
		}
		var str string
		if json.Unmarshal(v, &str) != nil {
			continue
		}
		out, err := fn(id, f, str)
		if err != nil {
			return nil, err
		}
		if out != str {
			b, _ := json.Marshal(out)
			m[f] = b
			changed = true
		}
	}
	if !changed {
		return raw, nil
	}
	return json.Marshal(m)
}

func (s *sealedStore) seal(id, field, v string) (string, error) {
	if s.aead == nil || v == "" || strings.HasPrefix(v, prefix) {
		return v, nil
	}
	nonce := make([]byte, s.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return "", fmt.Errorf("sealed: %w", err)
	}
	ct := s.aead.Seal(nonce, nonce, []byte(v), []byte(id+"\x00"+field))
	return prefix + base64.RawStdEncoding.EncodeToString(ct), nil
}

const errNoKey = "provider secrets are sealed but SWITCHBOARD_SECRET_KEY is not set"

func (s *sealedStore) open(id, field, v string) (string, error) {
	enc, ok := strings.CutPrefix(v, prefix)
	if !ok {
		return v, nil // plaintext from before a key was configured
	}
	if s.aead == nil {
		return "", &store.Error{Code: store.EUNAVAILABLE, Message: errNoKey}
	}
	// Strict, and no line breaks (which the decoder skips): only the
	// canonical encoding of a ciphertext opens, never a variant of it.
	ct, err := base64.RawStdEncoding.Strict().DecodeString(enc)
	if err != nil || strings.ContainsAny(enc, "\r\n") || len(ct) < s.aead.NonceSize() {
		return "", &store.Error{Code: store.EINTERNAL, Message: "sealed provider secret is corrupt"}
	}
	pt, err := s.aead.Open(nil, ct[:s.aead.NonceSize()], ct[s.aead.NonceSize():], []byte(id+"\x00"+field))
	if err != nil {
		return "", &store.Error{Code: store.EUNAVAILABLE, Message: "cannot open sealed provider secret: wrong SWITCHBOARD_SECRET_KEY?"}
	}
	return string(pt), nil
}

// ParseKey decodes a key given as 64 hex digits or as base64 (standard or
// URL alphabet, padded or not) of 32 bytes.
func ParseKey(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	if len(s) == 2*KeySize {
		if b, err := hex.DecodeString(s); err == nil {
			return b, nil
		}
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil && len(b) == KeySize {
			return b, nil
		}
	}
	return nil, fmt.Errorf("must be %d bytes as 64 hex digits or base64 (e.g. `openssl rand -base64 32`)", KeySize)
}
