package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"slices"
	"strings"
	"time"

	"golang.org/x/crypto/bcrypt"

	"switchboard/api"
	"switchboard/providers"
	"switchboard/store"
)

// The demo line. `serve --demo` creates these records once and finds them by
// name on later starts; `switchboard phone` finds them the same way through
// the API. Each creation (and each later change) is written to the audit log
// as the API writes it, by the demo operator, so that the console's audit
// pages and History tabs show where the demo records came from. The
// operator password and the Twilio credentials are public constants on
// purpose: the demo is for a local machine only, and its channel provider
// talks to the phone emulator, never to Twilio.
const (
	demoOperatorID        = "demo"
	demoOperatorPassword  = "demo-password"
	demoProjectName       = "Switchboard demo"
	demoStageName         = "Demo"
	demoAgentName         = "Switchboard demo agent"
	demoLLMName           = "Switchboard demo LLM"
	demoChannelName       = "Switchboard demo phone"
	demoAPIKeyName        = "demo"
	demoAccountSID        = "ACde000000000000000000000000000000"
	demoAuthToken         = "demoAuthTokenForLocalUseOnly0001" // twilio-go accepts only [A-Za-z0-9]
	demoNumber            = "+15005550006"
	defaultPhoneAddr      = "127.0.0.1:3001"
	defaultOpenAIModel    = "gpt-4o-mini"
	defaultAnthropicModel = "claude-haiku-4-5"
)

// demoScripted is the demo stage's offline LLM: it greets, explains itself,
// and otherwise echoes with the turn number so that a newcomer sees a
// conversation carry on from text to text.
var demoScripted = providers.ScriptedConfig{
	Rules: []providers.ScriptedRule{
		{Match: `(?i)^\W*(hi|hello|hey|hallo|hola)\b`, Reply: "Hello from Switchboard! I am the demo stage, a scripted bot that runs offline. Text me anything and I will echo it; text \"about\" to learn more."},
		// Not "help": HELP (like STOP and START) is a carrier keyword that
		// Twilio answers itself and the engine never passes to the LLM.
		{Match: `(?i)^\W*about\b`, Reply: "This line runs a scripted stage: its rules live in the \"" + demoLLMName + "\" provider. Set OPENAI_API_KEY or ANTHROPIC_API_KEY and start a fresh demo database to talk to a real model."},
		{Match: `(?i)^\W*(bye|goodbye)\b`, Reply: "Bye! This conversation ends after a while of silence; text again any time to start a new one."},
	},
	DefaultReply: ptr("Message {{.Turn}}: you said \"{{.Text}}\""),
}

func ptr[T any](v T) *T { return &v }

// demoLine is what the demo set up (or found).
type demoLine struct {
	Project   *store.Project
	Agent     *store.Agent
	Stage     *store.Stage
	LLM       *store.Provider
	Channel   *store.Provider
	APIKey    *store.APIKey
	KeyValue  string // only when the key was created by this start
	PhoneAddr string
	Created   bool // something was created by this start
}

// setupDemo creates the demo line on first start and reuses it on later
// ones, then prints how to use it.
func (m *Main) setupDemo(ctx context.Context) error {
	l, err := ensureDemo(ctx, m.store, os.LookupEnv, time.Now().UTC())
	if err != nil {
		return err
	}
	base := m.cfg.PublicBaseURL
	if base == "" {
		base = "http://" + dialAddr(m.Addr)
	}
	printDemo(m.stdout, l, base, "http://"+dialAddr(m.Addr))
	return nil
}

// dialAddr turns a listen address into one a local client can dial: an
// unspecified host (":3000", "[::]:3000", "0.0.0.0:3000") becomes 127.0.0.1.
func dialAddr(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port)
}

// ensureDemo creates whatever part of the demo line is missing. It refuses a
// database that has operators but no demo operator: a known password must
// never be added to a real installation.
func ensureDemo(ctx context.Context, st store.Store, env func(string) (string, bool), now time.Time) (*demoLine, error) {
	l := &demoLine{PhoneAddr: defaultPhoneAddr}
	if v, ok := env("PHONE_ADDR"); ok && strings.TrimSpace(v) != "" {
		l.PhoneAddr = strings.TrimSpace(v)
	}
	if err := ensureDemoOperator(ctx, st, now, l); err != nil {
		return nil, err
	}
	var err error
	if l.Project, err = ensureDemoProject(ctx, st, now, l); err != nil {
		return nil, err
	}
	if l.LLM, err = ensureDemoLLM(ctx, st, env, now, l); err != nil {
		return nil, err
	}
	agentCreated := false
	if l.Agent, agentCreated, err = ensureDemoAgent(ctx, st, now, l); err != nil {
		return nil, err
	}
	if l.Stage, err = ensureDemoStage(ctx, st, env, now, l, agentCreated); err != nil {
		return nil, err
	}
	if l.Channel, err = ensureDemoChannel(ctx, st, now, l); err != nil {
		return nil, err
	}
	if l.APIKey, l.KeyValue, err = ensureDemoKey(ctx, st, now, l); err != nil {
		return nil, err
	}
	return l, nil
}

func meta(prefix string, now time.Time) store.Meta {
	return store.Meta{ID: store.NewID(prefix), CreatedAt: now, UpdatedAt: now, Version: 1}
}

// demoUserAgent is the userAgent of the demo's audit entries: where they
// came from (the API's entries carry the client's).
const demoUserAgent = "switchboard serve --demo"

// auditDemo appends e, the API's audit entry for a demo record (see
// api.CreatedEntry), as written by this start at now.
func auditDemo(ctx context.Context, st store.Store, e *store.AuditEntry, now time.Time) error {
	if e == nil {
		return fmt.Errorf("demo: no audit entry") // not reached: every demo record has one
	}
	e.UserAgent, e.CreatedAt = demoUserAgent, now
	if err := st.AppendAudit(ctx, e); err != nil {
		return fmt.Errorf("demo: audit %s %s: %w", e.EntityType, e.EntityID, err)
	}
	return nil
}

// created records the creation of v by the demo operator and marks the
// line as created by this start.
func created(ctx context.Context, st store.Store, now time.Time, l *demoLine, v any) error {
	l.Created = true
	return auditDemo(ctx, st, api.CreatedEntry(demoOperatorID, v), now)
}

func ensureDemoOperator(ctx context.Context, st store.Store, now time.Time, l *demoLine) error {
	_, err := st.GetOperator(ctx, demoOperatorID)
	if err == nil {
		return nil
	}
	if store.ErrorCode(err) != store.ENOTFOUND {
		return fmt.Errorf("demo: get operator: %w", err)
	}
	n, err := st.CountOperators(ctx)
	if err != nil {
		return fmt.Errorf("demo: count operators: %w", err)
	}
	if n > 0 {
		return store.Errorf(store.ECONFLICT, "--demo needs an empty database (or one set up by --demo): operators exist but not the demo operator %q", demoOperatorID)
	}
	hash, err := bcrypt.GenerateFromPassword([]byte(demoOperatorPassword), bcrypt.DefaultCost)
	if err != nil {
		return fmt.Errorf("demo: hash password: %w", err)
	}
	op := &store.Operator{
		Meta:         store.Meta{ID: demoOperatorID, CreatedAt: now, UpdatedAt: now, Version: 1},
		Name:         "Demo operator",
		PasswordHash: string(hash),
		Roles:        []string{api.RoleSuperAdmin},
		IsActive:     true,
	}
	if err := st.CreateFirstOperator(ctx, op); err != nil {
		return fmt.Errorf("demo: create operator: %w", err)
	}
	// As after POST /api/setup/initial-operator: the operator created itself.
	return created(ctx, st, now, l, op)
}

// findByName returns the oldest item of a list whose name is want (nil if
// none), asking the store for that name only.
func findByName[T any](ctx context.Context, list func(context.Context, store.ListOptions) ([]T, int, error), name func(T) string, want string) (T, error) {
	var zero T
	// Of several with the name, the oldest (the one an earlier run made).
	opts := store.ListOptions{Limit: store.MaxListLimit, OrderBy: []store.Order{{Field: "createdAt"}},
		Filters: []store.Filter{{Field: "name", Op: store.OpEq, Values: []string{want}}}}
	for {
		items, total, err := list(ctx, opts)
		if err != nil {
			return zero, err
		}
		for _, it := range items {
			if name(it) == want {
				return it, nil
			}
		}
		opts.Offset += len(items)
		if len(items) == 0 || opts.Offset >= total {
			return zero, nil
		}
	}
}

func ensureDemoProject(ctx context.Context, st store.Store, now time.Time, l *demoLine) (*store.Project, error) {
	p, err := findByName(ctx, st.ListProjects, func(p *store.Project) string { return p.Name }, demoProjectName)
	if err != nil {
		return nil, fmt.Errorf("demo: list projects: %w", err)
	}
	if p != nil {
		return p, nil
	}
	p = &store.Project{Meta: meta(store.PrefixProject, now), Name: demoProjectName,
		Description: "Created by `switchboard serve --demo`: a scripted (or OpenAI, or Anthropic) stage behind a simulated Twilio number."}
	if err := st.CreateProject(ctx, p); err != nil {
		return nil, fmt.Errorf("demo: create project: %w", err)
	}
	return p, created(ctx, st, now, l, p)
}

func ensureDemoLLM(ctx context.Context, st store.Store, env func(string) (string, bool), now time.Time, l *demoLine) (*store.Provider, error) {
	p, err := findByName(ctx, st.ListProviders, func(p *store.Provider) string { return p.Name }, demoLLMName)
	if err != nil {
		return nil, fmt.Errorf("demo: list providers: %w", err)
	}
	if p != nil {
		return p, nil
	}
	apiType := store.APITypeScripted
	var cfg any = demoScripted
	if key, ok := env("OPENAI_API_KEY"); ok && strings.TrimSpace(key) != "" {
		apiType = store.APITypeOpenAILegacy
		oc := providers.OpenAIConfig{APIKey: strings.TrimSpace(key)}
		if base, ok := env("OPENAI_BASE_URL"); ok {
			oc.BaseURL = strings.TrimSpace(base)
		}
		cfg = oc
	} else if key, ok := env("ANTHROPIC_API_KEY"); ok && strings.TrimSpace(key) != "" {
		// OpenAI wins when both are set, as before Anthropic was offered.
		apiType = store.APITypeAnthropic
		kc := providers.KeyConfig{APIKey: strings.TrimSpace(key)}
		if base, ok := env("ANTHROPIC_BASE_URL"); ok {
			kc.BaseURL = strings.TrimSpace(base)
		}
		cfg = kc
	}
	raw, err := json.Marshal(cfg)
	if err != nil {
		return nil, fmt.Errorf("demo: encode llm config: %w", err)
	}
	if raw, err = providers.ValidateConfig(apiType, raw); err != nil {
		return nil, fmt.Errorf("demo: llm config: %w", err)
	}
	p = &store.Provider{Meta: meta(store.PrefixProvider, now), Name: demoLLMName, ProviderType: store.ProviderTypeLLM,
		APIType: apiType, Config: raw, Tags: []string{"demo"}}
	if err := st.CreateProvider(ctx, p); err != nil {
		return nil, fmt.Errorf("demo: create llm provider: %w", err)
	}
	return p, created(ctx, st, now, l, p)
}

// ensureDemoAgent creates the demo stage's agent (Bonsai's console requires
// a stage to have one). isNew says whether this start made it.
func ensureDemoAgent(ctx context.Context, st store.Store, now time.Time, l *demoLine) (a *store.Agent, isNew bool, err error) {
	list := func(ctx context.Context, o store.ListOptions) ([]*store.Agent, int, error) {
		return st.ListAgents(ctx, l.Project.ID, o)
	}
	a, err = findByName(ctx, list, func(a *store.Agent) string { return a.Name }, demoAgentName)
	if err != nil {
		return nil, false, fmt.Errorf("demo: list agents: %w", err)
	}
	if a != nil {
		return a, false, nil
	}
	a = &store.Agent{Meta: meta(store.PrefixAgent, now), ProjectID: l.Project.ID, Name: demoAgentName,
		Description: "Created by `switchboard serve --demo`: the demo stage's persona (its prompt follows the stage's).",
		Prompt: "You are the Switchboard demo assistant, on a phone line that shows how Switchboard answers text " +
			"messages with a language model. Be friendly and helpful."}
	if err := st.CreateAgent(ctx, a); err != nil {
		return nil, false, fmt.Errorf("demo: create agent: %w", err)
	}
	return a, true, created(ctx, st, now, l, a)
}

// ensureDemoStage creates the demo stage with the demo agent. A demo stage
// from before the demo had an agent gets the agent when the agent is new
// (agentCreated); one whose agent an operator removed later keeps it so.
func ensureDemoStage(ctx context.Context, st store.Store, env func(string) (string, bool), now time.Time, l *demoLine, agentCreated bool) (*store.Stage, error) {
	list := func(ctx context.Context, o store.ListOptions) ([]*store.Stage, int, error) {
		return st.ListStages(ctx, l.Project.ID, o)
	}
	s, err := findByName(ctx, list, func(s *store.Stage) string { return s.Name }, demoStageName)
	if err != nil {
		return nil, fmt.Errorf("demo: list stages: %w", err)
	}
	if s != nil {
		if s.AgentID != "" || !agentCreated {
			return s, nil
		}
		before := *s
		s.AgentID = l.Agent.ID
		if err := st.UpdateStage(ctx, s, s.Version); err != nil {
			return nil, fmt.Errorf("demo: give the stage its agent: %w", err)
		}
		// UpdateStage wrote the stored bookkeeping back.
		return s, auditDemo(ctx, st, api.UpdatedEntry(demoOperatorID, &before, s), now)
	}
	model := "demo"
	switch l.LLM.APIType {
	case store.APITypeOpenAILegacy:
		model = defaultOpenAIModel
		if v, ok := env("OPENAI_MODEL"); ok && strings.TrimSpace(v) != "" {
			model = strings.TrimSpace(v)
		}
	case store.APITypeAnthropic:
		model = defaultAnthropicModel
		if v, ok := env("ANTHROPIC_MODEL"); ok && strings.TrimSpace(v) != "" {
			model = strings.TrimSpace(v)
		}
	}
	s = &store.Stage{
		Meta:          meta(store.PrefixStage, now),
		ProjectID:     l.Project.ID,
		Name:          demoStageName,
		Prompt:        "You reply by SMS. Keep every answer short (at most three sentences) and in plain text.",
		AgentID:       l.Agent.ID,
		LLMProviderID: l.LLM.ID,
		LLMSettings:   store.LLMSettings{Model: model, Timeout: ptr(30000)},
		EnterBehavior: store.EnterAwaitUserInput,
	}
	if err := st.CreateStage(ctx, s); err != nil {
		return nil, fmt.Errorf("demo: create stage: %w", err)
	}
	return s, created(ctx, st, now, l, s)
}

// ensureDemoChannel creates the demo Twilio provider, or points the existing
// one at the current PHONE_ADDR when it moved.
func ensureDemoChannel(ctx context.Context, st store.Store, now time.Time, l *demoLine) (*store.Provider, error) {
	want := providers.TwilioConfig{AccountSID: demoAccountSID, AuthToken: demoAuthToken, FromNumber: demoNumber,
		APIBaseURL: "http://" + l.PhoneAddr}
	raw, err := json.Marshal(want)
	if err != nil {
		return nil, fmt.Errorf("demo: encode channel config: %w", err)
	}
	if raw, err = providers.ValidateConfig(store.APITypeTwilioMessaging, raw); err != nil {
		return nil, fmt.Errorf("demo: channel config (PHONE_ADDR %q): %w", l.PhoneAddr, err)
	}
	p, err := findByName(ctx, st.ListProviders, func(p *store.Provider) string { return p.Name }, demoChannelName)
	if err != nil {
		return nil, fmt.Errorf("demo: list providers: %w", err)
	}
	if p != nil {
		cur, err := providers.ParseTwilio(p.Config)
		if err == nil && cur.APIBaseURL == want.APIBaseURL {
			return p, nil
		}
		before := *p
		if err == nil {
			// Keep the operator's own number and credentials; move only the
			// emulator address.
			cur.APIBaseURL = want.APIBaseURL
			if raw, err = json.Marshal(cur); err != nil {
				return nil, fmt.Errorf("demo: encode channel config: %w", err)
			}
		}
		p.Config = raw
		if err := st.UpdateProvider(ctx, p, p.Version); err != nil {
			return nil, fmt.Errorf("demo: update channel provider: %w", err)
		}
		// UpdateProvider wrote the stored bookkeeping back.
		return p, auditDemo(ctx, st, api.UpdatedEntry(demoOperatorID, &before, p), now)
	}
	p = &store.Provider{Meta: meta(store.PrefixProvider, now), Name: demoChannelName, ProviderType: store.ProviderTypeChannel,
		APIType: store.APITypeTwilioMessaging, Config: raw, Tags: []string{"demo"},
		Description: "Simulated Twilio number served by `switchboard phone`."}
	if err := st.CreateProvider(ctx, p); err != nil {
		return nil, fmt.Errorf("demo: create channel provider: %w", err)
	}
	return p, created(ctx, st, now, l, p)
}

// ensureDemoKey creates the demo API key. Its value exists only at creation
// (the store keeps its hash), so it is returned then and "" afterwards.
func ensureDemoKey(ctx context.Context, st store.Store, now time.Time, l *demoLine) (*store.APIKey, string, error) {
	list := func(ctx context.Context, o store.ListOptions) ([]*store.APIKey, int, error) {
		return st.ListAPIKeys(ctx, l.Project.ID, o)
	}
	k, err := findByName(ctx, list, func(k *store.APIKey) string { return k.Name }, demoAPIKeyName)
	if err != nil {
		return nil, "", fmt.Errorf("demo: list api keys: %w", err)
	}
	if k != nil {
		return k, "", nil
	}
	value, err := api.NewAPIKeyValue()
	if err != nil {
		return nil, "", fmt.Errorf("demo: random key: %w", err)
	}
	k = &store.APIKey{
		Meta:            meta(store.PrefixAPIKey, now),
		ProjectID:       l.Project.ID,
		Name:            demoAPIKeyName,
		KeyHash:         store.HashKey(value),
		KeyPreview:      api.KeyPreview(value),
		IsActive:        true,
		AllowedChannels: []string{store.APITypeTwilioMessaging},
	}
	if err := st.CreateAPIKey(ctx, k); err != nil {
		return nil, "", fmt.Errorf("demo: create api key: %w", err)
	}
	return k, value, created(ctx, st, now, l, k)
}

// printDemo tells the newcomer what exists and what to run next.
func printDemo(w io.Writer, l *demoLine, publicBase, serverURL string) {
	what := "created"
	if !l.Created {
		what = "reused"
	}
	kind := l.LLM.APIType
	if l.LLM.APIType != store.APITypeScripted {
		kind += ", model " + l.Stage.LLMSettings.Model
	}
	number := demoNumber
	if c, err := providers.ParseTwilio(l.Channel.Config); err == nil {
		number = c.FromNumber
	}
	key := l.KeyValue
	keyNote := "(shown once: only its hash is stored)"
	if key == "" {
		key = "<the demo key printed at the first start>"
		keyNote = "(" + l.APIKey.KeyPreview + ", shown only at the first start)"
	}
	// Key values are base64url and IDs are [a-z0-9_], so nothing needs
	// escaping; the placeholder stays readable.
	webhook := publicBase + "/api/twilio/messaging/webhook?apiKey=" + key +
		"&stageId=" + url.QueryEscape(l.Stage.ID) + "&channelProviderId=" + url.QueryEscape(l.Channel.ID)
	lines := []string{
		"switchboard: demo line " + what + " (FOR LOCAL USE ONLY: the demo login and Twilio credentials are public)",
		"  operator login:   id \"" + demoOperatorID + "\", password \"" + demoOperatorPassword + "\"  (POST /api/auth/login)",
		"  project:          " + l.Project.ID + "  " + l.Project.Name,
		"  stage:            " + l.Stage.ID + "  " + l.Stage.Name + " (" + kind + ")",
		"  agent:            " + l.Agent.ID + "  " + l.Agent.Name,
		"  llm provider:     " + l.LLM.ID,
		"  channel provider: " + l.Channel.ID + "  Twilio number " + number + " -> phone emulator http://" + l.PhoneAddr,
		"  api key:          " + l.APIKey.ID + "  " + keyNote,
		"  webhook:          " + webhook,
		"  open the phone:   switchboard phone --server " + serverURL,
	}
	if l.KeyValue != "" {
		lines = slices.Insert(lines, 8, "  api key value:    "+l.KeyValue)
	}
	fmt.Fprintln(w, strings.Join(lines, "\n"))
}
