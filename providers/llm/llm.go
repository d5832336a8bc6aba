// Package llm holds the clients of Switchboard's LLM providers
// (docs/architecture.md §4): every Bonsai LLM apiType (providers.Vendor):
// openai (the Responses API) and openai-legacy plus the OpenAI-compatible
// vendors through the official openai-go SDK, anthropic through
// anthropic-sdk-go, gemini through Google's genai SDK, ollama's native
// chat API, and scripted, the built-in offline provider that answers from
// rules. Every network client goes through one HTTP client: the
// destination policy, the retry policy (retry.go) and the response cap.
//
// A Client produces one final text per Request; nothing is streamed. The
// total time a call may take comes from the caller's context (the stage's
// llmSettings.timeout), so the shared HTTP client sets only connection-level
// timeouts.
package llm

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"

	"switchboard/providers"
	"switchboard/store"
)

// Message roles.
const (
	RoleSystem    = "system"
	RoleUser      = "user"
	RoleAssistant = "assistant"
)

// Message is one entry of a chat: the system prompt, an earlier turn, or the
// new user text.
type Message struct {
	Role    string `json:"role"` // RoleSystem, RoleUser or RoleAssistant
	Content string `json:"content"`
}

// Request is one AI turn. Model, Messages, Temperature and MaxTokens go to
// network providers; Text, Turn, From and ConversationID are the template
// data of the scripted provider (which ignores the rest).
type Request struct {
	Model       string
	Messages    []Message // [system, …history, user]
	Temperature *float64  // nil: the provider's default
	MaxTokens   *int      // nil: the provider's default

	Text           string // the user's new text
	Turn           int    // 1-based number of this user text in its conversation
	From           string // the sender address
	ConversationID string
}

// Client answers a Request with one final text. Implementations are safe
// for concurrent use. When the answer has no text (ErrEmptyReply), the
// Response still says why (FinishReason, Refusal) and what it cost (Usage).
type Client interface {
	Complete(ctx context.Context, req Request) (Response, error)
}

// ClientFunc adapts a function to Client, for fakes in other packages'
// tests.
type ClientFunc func(ctx context.Context, req Request) (Response, error)

// Complete calls f.
func (f ClientFunc) Complete(ctx context.Context, req Request) (Response, error) {
	return f(ctx, req)
}

// Finish reasons, the same for every vendor (Bonsai's finishReason values
// plus other): why the model stopped.
const (
	FinishStop          = "stop"           // it was done (or hit a stop sequence)
	FinishLength        = "length"         // the output token limit cut it off
	FinishContentFilter = "content_filter" // it refused, or a safety filter blocked it
	FinishToolCalls     = "tool_calls"     // it asked for a tool (Switchboard offers none)
	FinishOther         = "other"          // a reason of the vendor's not listed above
)

// Usage is the tokens one call used, as the vendor counted them: prompt
// (input, with cached input) and completion (output, with reasoning).
type Usage struct {
	PromptTokens     int `json:"promptTokens"`
	CompletionTokens int `json:"completionTokens"`
}

// Response is the answer to a Request.
type Response struct {
	Text string
	// FinishReason is one of the Finish constants; "" when the vendor
	// gave none.
	FinishReason string
	// VendorReason is the vendor's own word for it (finish_reason,
	// stop_reason, finishReason, done_reason, incomplete_details.reason).
	VendorReason string
	// Refusal is the model's refusal message, when it refused with one
	// (OpenAI's refusal); FinishReason is then FinishContentFilter.
	Refusal string
	Usage   Usage
}

// DefaultMaxResponseBytes caps the body of an LLM response that is read,
// so a broken or hostile endpoint cannot exhaust memory.
const DefaultMaxResponseBytes = 4 << 20

// Options configure the clients New builds.
type Options struct {
	// HTTPClient is used by network providers. Share one between all
	// clients so connections are pooled. Nil means a process-wide default
	// from DefaultHTTPClient.
	HTTPClient *http.Client
	// MaxResponseBytes caps a response body; <= 0 means
	// DefaultMaxResponseBytes.
	MaxResponseBytes int64
	// Destinations decides which configured base URLs a client may call
	// (PROVIDER_URL_ALLOWLIST), checked when the client is built; nil is
	// the default policy. When HTTPClient is nil the client built for it
	// also refuses, at dial time and on redirects, what the policy refuses.
	Destinations *providers.DestinationPolicy
	// OnRetry, when set, is called before each retry of an LLM request
	// (a 429 or 5xx answer, see MaxAttempts) with the answer's status:
	// the engine counts retries in a metric.
	OnRetry func(status int)
}

func (o Options) withDefaults() Options {
	if o.HTTPClient == nil {
		if o.Destinations == nil {
			o.HTTPClient = sharedHTTPClient()
		} else {
			o.HTTPClient = NewHTTPClientFor(o.Destinations)
		}
	}
	if o.MaxResponseBytes <= 0 {
		o.MaxResponseBytes = DefaultMaxResponseBytes
	}
	o.HTTPClient = wrapHTTPClient(o.HTTPClient, o.MaxResponseBytes, o.OnRetry)
	return o
}

// sharedHTTPClient is the default used when Options.HTTPClient is nil: one
// per process, so that clients built without options still share a pool.
var sharedHTTPClient = sync.OnceValue(NewHTTPClient)

// NewHTTPClient returns NewHTTPClientFor the default destination policy.
func NewHTTPClient() *http.Client {
	return NewHTTPClientFor(nil)
}

// NewHTTPClientFor returns an HTTP client suited to LLM calls: a pooled
// transport with many idle connections per host (turns of many sessions go
// to the same endpoint) and dial/TLS timeouts. It has no overall timeout:
// a call is bounded by its context. It refuses to connect to link-local
// and cloud metadata addresses the policy does not allow, whatever name
// resolved to them, and to follow a redirect to a host the policy refuses.
// It honours HTTP(S)_PROXY; through a proxy the connect-time check sees
// the proxy's address only (see providers.ProxyVariable).
func NewHTTPClientFor(policy *providers.DestinationPolicy) *http.Client {
	dialer := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second, Control: policy.Control}
	return &http.Client{CheckRedirect: policy.CheckRedirect, Transport: &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           dialer.DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          256,
		MaxIdleConnsPerHost:   64,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
	}}
}

// New builds the client of the LLM provider p according to its APIType.
// A bad configuration is a store EINVALID error naming the field; scripted
// rules and templates are compiled here, once.
func New(p *store.Provider, opts Options) (Client, error) {
	if p == nil {
		return nil, store.Errorf(store.EINVALID, "llm: no provider")
	}
	if p.ProviderType != "" && p.ProviderType != store.ProviderTypeLLM {
		return nil, store.FieldError("providerType", "provider %s is %q, not an llm provider", p.ID, p.ProviderType)
	}
	opts = opts.withDefaults()
	if p.APIType == store.APITypeScripted {
		return newScripted(p.Config)
	}
	v, ok := providers.Vendor(p.APIType)
	if !ok {
		return nil, store.FieldError("apiType", "unsupported llm apiType %q", p.APIType)
	}
	switch v.Dialect {
	case providers.DialectResponses:
		return newResponses(p.Config, opts)
	case providers.DialectAnthropic:
		return newAnthropic(p.Config, opts)
	case providers.DialectGemini:
		return newGemini(p.Config, opts)
	case providers.DialectOllama:
		return newOllama(p.Config, opts)
	default:
		return newChat(p.APIType, p.Config, opts)
	}
}

// decodeConfig unmarshals a provider config; empty or null means all
// defaults.
func decodeConfig(raw json.RawMessage, v any) error {
	if len(raw) == 0 || string(raw) == "null" {
		return nil
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return &store.Error{
			Code:    store.EINVALID,
			Message: "config: " + err.Error(),
			Details: map[string]string{"field": "config", "reason": err.Error()},
		}
	}
	return nil
}

// Cache hands out one Client per provider, rebuilding it when the
// provider's Version changes. The engine calls Get on every turn, so a hit
// takes no lock. Safe for concurrent use.
type Cache struct {
	opts    Options
	clients sync.Map // provider ID → *cacheEntry
}

type cacheEntry struct {
	version int64
	client  Client
}

// NewCache returns an empty cache whose clients are built with opts.
func NewCache(opts Options) *Cache {
	return &Cache{opts: opts.withDefaults()}
}

// Get returns the client of p, building it on first use and whenever
// p.Version differs from the cached one's. Build errors are not cached.
func (c *Cache) Get(p *store.Provider) (Client, error) {
	if p == nil {
		return nil, store.Errorf(store.EINVALID, "llm: no provider")
	}
	if v, ok := c.clients.Load(p.ID); ok {
		if e := v.(*cacheEntry); e.version == p.Version {
			return e.client, nil
		}
	}
	client, err := New(p, c.opts)
	if err != nil {
		return nil, fmt.Errorf("llm: provider %s: %w", p.ID, err)
	}
	fresh := &cacheEntry{version: p.Version, client: client}
	for {
		v, loaded := c.clients.LoadOrStore(p.ID, fresh)
		if !loaded {
			break
		}
		old := v.(*cacheEntry)
		// A caller holding an older read of the provider must not evict
		// the newer client; it still gets a client for what it read.
		if old.version >= p.Version || c.clients.CompareAndSwap(p.ID, old, fresh) {
			break
		}
	}
	return client, nil
}

// Forget drops the cached client of a provider (for example after it was
// deleted).
func (c *Cache) Forget(providerID string) {
	c.clients.Delete(providerID)
}
