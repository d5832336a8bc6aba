// Package sealed encrypts provider secrets at rest. Wrap returns a Store
// that seals the secret fields of a provider's config (authToken, apiKey,
// apiKeySecret)
// with AES-256-GCM before they reach the database and opens them when
// providers are read, so a copy of the database (a backup, a stolen disk)
// does not hold usable Twilio or LLM credentials.
//
// A sealed value reads "sealed:v2:" + key id + ":" + base64(nonce ‖
// ciphertext). The key id (KeyID, a truncated hash of the key) says which
// key sealed it, so values sealed under an old and a new key are told apart
// during a rotation and a wrong key is reported as such. The provider id
// and field name are authenticated with the value, so a sealed value cannot
// be moved to another provider or field. Values of the earlier format
// "sealed:v1:" + base64 (no key id) still open and are rewritten as v2 by
// Reseal. Plaintext values written before a key was configured stay
// readable until Reseal seals them (the server does so at start-up).
package sealed

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"switchboard/store"
)

// secretFields are the config keys that hold credentials.
var secretFields = []string{"authToken", "apiKey", "apiKeySecret"}

// Prefixes of sealed values: any value starting with sealedPrefix is
// ciphertext, never a credential.
const (
	sealedPrefix = "sealed:"
	prefixV1     = "sealed:v1:"
	prefixV2     = "sealed:v2:"
)

// KeySize is the length of a key in bytes (AES-256).
const KeySize = 32

// KeyID returns the id of a key written into the values it seals: the
// first 12 hex digits of a SHA-256 of the key under a fixed label. It
// identifies a key without revealing anything usable about it.
func KeyID(key []byte) string {
	h := sha256.Sum256(append([]byte("switchboard sealed key id\x00"), key...))
	return hex.EncodeToString(h[:6])
}

// Options configure WrapWith.
type Options struct {
	// OldKeys also open values sealed under earlier keys (a rotation in
	// progress); new and rewritten values are always sealed under the
	// primary key.
	OldKeys [][]byte
	// RequireKey refuses, when there is no key, to store a secret in clear
	// (an EUNAVAILABLE error naming SWITCHBOARD_SECRET_KEY) instead of
	// storing it as is.
	RequireKey bool
}

// Wrap is WrapWith with no options.
func Wrap(st store.Store, key []byte) (store.Store, error) {
	return WrapWith(st, key, Options{})
}

// WrapWith returns st with provider secrets sealed under key. A nil key
// seals nothing (or refuses secrets, with RequireKey), but a provider whose
// secrets are sealed then fails to load with a clear error instead of
// handing out ciphertext as a credential. When st has the whole hot path
// (store.DeferredCommitter, which includes store.BatchCommitter, and
// store.StatsReporter and store.TurnFinder, as both of Switchboard's stores do), so does the
// result: the hot path carries no secrets and goes straight through.
func WrapWith(st store.Store, key []byte, opts Options) (store.Store, error) {
	s := &sealedStore{Store: st, requireKey: opts.RequireKey, openers: map[string]cipher.AEAD{}}
	if key != nil {
		aead, err := newAEAD(key)
		if err != nil {
			return nil, err
		}
		s.aead, s.kid = aead, KeyID(key)
		s.openers[s.kid] = aead
	}
	for _, k := range opts.OldKeys {
		aead, err := newAEAD(k)
		if err != nil {
			return nil, fmt.Errorf("old key: %w", err)
		}
		if kid := KeyID(k); s.openers[kid] == nil {
			s.openers[kid] = aead
			s.old = append(s.old, aead)
		}
	}
	if d, ok := st.(hotStore); ok {
		return &sealedHotStore{sealedStore: s, hot: d}, nil
	}
	return s, nil
}

func newAEAD(key []byte) (cipher.AEAD, error) {
	if len(key) != KeySize {
		return nil, fmt.Errorf("sealed: key must be %d bytes, got %d", KeySize, len(key))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("sealed: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("sealed: %w", err)
	}
	return aead, nil
}

type sealedStore struct {
	store.Store
	aead       cipher.AEAD // nil: no key configured
	kid        string      // KeyID of the primary key
	openers    map[string]cipher.AEAD
	old        []cipher.AEAD // OldKeys, for v1 values without a key id
	requireKey bool
}

// hotStore is a store with the whole hot path: batches, deferred
// durability and counts (both of Switchboard's stores).
type hotStore interface {
	store.DeferredCommitter
	store.StatsReporter
	store.TurnFinder
}

type sealedHotStore struct {
	*sealedStore
	hot hotStore
}

// CommitBatch implements store.BatchCommitter.
func (s *sealedHotStore) CommitBatch(ctx context.Context, msgs []*store.InboundMessage, turns []*store.Turn) ([]store.InboundResult, error) {
	return s.hot.CommitBatch(ctx, msgs, turns)
}

// CommitBatchDeferred implements store.DeferredCommitter.
func (s *sealedHotStore) CommitBatchDeferred(ctx context.Context, msgs []*store.InboundMessage, turns []*store.Turn) ([]store.InboundResult, error) {
	return s.hot.CommitBatchDeferred(ctx, msgs, turns)
}

// Sync implements store.DeferredCommitter.
func (s *sealedHotStore) Sync(ctx context.Context) error { return s.hot.Sync(ctx) }

// Stats implements store.StatsReporter.
func (s *sealedHotStore) Stats() store.Stats { return s.hot.Stats() }

// CommittedTurn implements store.TurnFinder.
func (s *sealedHotStore) CommittedTurn(ctx context.Context, conversationID string, inboundID int64) (int64, bool, error) {
	return s.hot.CommittedTurn(ctx, conversationID, inboundID)
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
	if v == "" {
		return v, nil
	}
	if s.aead == nil {
		if s.requireKey {
			return "", &store.Error{Code: store.EUNAVAILABLE, Message: "refusing to store provider secret config." + field +
				" in clear: SWITCHBOARD_SECRET_KEY is not set (set it, or ALLOW_PLAINTEXT_SECRETS=true to accept plaintext secrets)",
				Details: map[string]string{"field": "config." + field, "reason": "SWITCHBOARD_SECRET_KEY is not set"}}
		}
		return v, nil
	}
	nonce := make([]byte, s.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return "", fmt.Errorf("sealed: %w", err)
	}
	ct := s.aead.Seal(nonce, nonce, []byte(v), aad(id, field))
	return prefixV2 + s.kid + ":" + base64.RawStdEncoding.EncodeToString(ct), nil
}

func aad(id, field string) []byte { return []byte(id + "\x00" + field) }

const errNoKey = "provider secrets are sealed but SWITCHBOARD_SECRET_KEY is not set"

func (s *sealedStore) open(id, field, v string) (string, error) {
	if !strings.HasPrefix(v, sealedPrefix) {
		return v, nil // plaintext from before a key was configured
	}
	if s.aead == nil && len(s.openers) == 0 {
		return "", &store.Error{Code: store.EUNAVAILABLE, Message: errNoKey}
	}
	var candidates []cipher.AEAD
	var enc string
	switch {
	case strings.HasPrefix(v, prefixV2):
		kid, rest, ok := strings.Cut(v[len(prefixV2):], ":")
		if !ok {
			return "", &store.Error{Code: store.EINTERNAL, Message: "sealed provider secret is corrupt"}
		}
		aead := s.openers[kid]
		if aead == nil {
			return "", &store.Error{Code: store.EUNAVAILABLE, Message: fmt.Sprintf(
				"cannot open sealed provider secret: it was sealed under key id %s, the configured SWITCHBOARD_SECRET_KEY has id %s (wrong key, or an unfinished switchboard rotate-secret-key?)", kid, s.kid)}
		}
		candidates, enc = []cipher.AEAD{aead}, rest
	case strings.HasPrefix(v, prefixV1):
		if s.aead != nil {
			candidates = append(candidates, s.aead)
		}
		candidates, enc = append(candidates, s.old...), v[len(prefixV1):]
	default:
		return "", &store.Error{Code: store.EINTERNAL, Message: "sealed provider secret has an unknown format"}
	}
	// Strict, and no line breaks (which the decoder skips): only the
	// canonical encoding of a ciphertext opens, never a variant of it.
	ct, err := base64.RawStdEncoding.Strict().DecodeString(enc)
	if err != nil || strings.ContainsAny(enc, "\r\n") {
		return "", &store.Error{Code: store.EINTERNAL, Message: "sealed provider secret is corrupt"}
	}
	for _, aead := range candidates {
		if len(ct) < aead.NonceSize() {
			break
		}
		if pt, err := aead.Open(nil, ct[:aead.NonceSize()], ct[aead.NonceSize():], aad(id, field)); err == nil {
			return string(pt), nil
		}
	}
	return "", &store.Error{Code: store.EUNAVAILABLE, Message: "cannot open sealed provider secret: wrong SWITCHBOARD_SECRET_KEY, or the value was moved from another provider"}
}

// upToDate reports whether every secret of a stored config is empty or
// sealed (v2) under the primary key.
func (s *sealedStore) upToDate(raw json.RawMessage) bool {
	var m map[string]json.RawMessage
	if len(raw) == 0 || json.Unmarshal(raw, &m) != nil {
		return true
	}
	for _, f := range secretFields {
		var v string
		if json.Unmarshal(m[f], &v) != nil || v == "" {
			continue
		}
		if !strings.HasPrefix(v, prefixV2+s.kid+":") {
			return false
		}
	}
	return true
}

// ResealResult is what Reseal did.
type ResealResult struct {
	Resealed int // providers rewritten under the primary key
	// Unopenable lists the providers whose secrets none of the configured
	// keys opens; they were left as they are.
	Unopenable []string
}

// Reseal rewrites every provider of st (a store returned by Wrap or
// WrapWith, with a key) whose secrets are not all sealed under its primary
// key: plaintext from before a key was set, v1 values, and values sealed
// under one of Options.OldKeys. A provider no configured key opens is
// skipped and listed; the error is for store failures only.
//
// Each provider is rewritten in its own update (the Store has no
// multi-row transaction), so a crash midway leaves some providers under
// the new key and the rest as they were: every value says which key sealed
// it, and running Reseal again with the same keys finishes the job. A
// provider that changed concurrently is re-read and retried.
func Reseal(ctx context.Context, st store.Store) (ResealResult, error) {
	var res ResealResult
	s := unwrap(st)
	if s == nil {
		return res, errors.New("sealed: Reseal needs a store returned by Wrap")
	}
	if s.aead == nil {
		return res, errors.New("sealed: Reseal needs a key")
	}
	err := eachProvider(ctx, s.Store, func(p *store.Provider) error {
		done, err := s.resealOne(ctx, p)
		switch {
		case err != nil && store.ErrorCode(err) == store.EUNAVAILABLE:
			res.Unopenable = append(res.Unopenable, p.ID)
		case err != nil:
			return fmt.Errorf("sealed: provider %s: %w", p.ID, err)
		case done:
			res.Resealed++
		}
		return nil
	})
	return res, err
}

// eachProvider calls fn with every provider of st, as stored, a page at a
// time.
func eachProvider(ctx context.Context, st store.Store, fn func(*store.Provider) error) error {
	const page = 500
	for offset := 0; ; offset += page {
		ps, total, err := st.ListProviders(ctx, store.ListOptions{Offset: offset, Limit: page})
		if err != nil {
			return fmt.Errorf("sealed: list providers: %w", err)
		}
		for _, p := range ps {
			if err := fn(p); err != nil {
				return err
			}
		}
		if len(ps) == 0 || offset+len(ps) >= total {
			return nil
		}
	}
}

// resealOne rewrites one stored provider under the primary key when it
// needs it; done says whether it was rewritten.
func (s *sealedStore) resealOne(ctx context.Context, p *store.Provider) (done bool, err error) {
	for attempt := 0; ; attempt++ {
		if s.upToDate(p.Config) {
			return false, nil
		}
		if err := s.openProvider(p); err != nil {
			return false, err
		}
		err := s.UpdateProvider(ctx, p, p.Version)
		if err == nil {
			return true, nil
		}
		if store.ErrorCode(err) != store.ECONFLICT || attempt == 3 {
			return false, err
		}
		if p, err = s.Store.GetProvider(ctx, p.ID); err != nil {
			return false, err
		}
	}
}

// CensusResult counts providers by the state of their stored secrets.
type CensusResult struct {
	Plaintext int // providers with a secret stored in clear
	Sealed    int // providers with a sealed secret
	// Unopenable counts providers with a secret sealed under a key the
	// store was not given (for a bare store: every sealed one).
	Unopenable int
}

// Census reads every provider of st (a store returned by Wrap, or a bare
// store) and counts the states of their stored secrets.
func Census(ctx context.Context, st store.Store) (CensusResult, error) {
	var c CensusResult
	s := unwrap(st)
	bare := st
	if s != nil {
		bare = s.Store
	}
	err := eachProvider(ctx, bare, func(p *store.Provider) error {
		inClear, sealed := secretStates(p.Config)
		if inClear {
			c.Plaintext++
		}
		if sealed {
			c.Sealed++
			if s == nil || (s.openProvider(&store.Provider{Meta: p.Meta, Config: p.Config}) != nil) {
				c.Unopenable++
			}
		}
		return nil
	})
	return c, err
}

func secretStates(raw json.RawMessage) (inClear, sealed bool) {
	var m map[string]json.RawMessage
	if len(raw) == 0 || json.Unmarshal(raw, &m) != nil {
		return false, false
	}
	for _, f := range secretFields {
		var v string
		if json.Unmarshal(m[f], &v) != nil || v == "" {
			continue
		}
		if strings.HasPrefix(v, sealedPrefix) {
			sealed = true
		} else {
			inClear = true
		}
	}
	return inClear, sealed
}

func unwrap(st store.Store) *sealedStore {
	switch s := st.(type) {
	case *sealedStore:
		return s
	case *sealedHotStore:
		return s.sealedStore
	}
	return nil
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
