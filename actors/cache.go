package actors

import (
	"context"
	"sync"
	"time"

	"switchboard/store"
)

// configCache keeps stages, agents and providers for a short TTL so a turn
// does not read them from the database every time. Edits through the API
// take effect within the TTL.
type configCache struct {
	st  store.Store
	ttl time.Duration
	mu  sync.Mutex
	m   map[string]cacheEntry
}

type cacheEntry struct {
	v   any
	exp time.Time
}

func newConfigCache(st store.Store, ttl time.Duration) *configCache {
	return &configCache{st: st, ttl: ttl, m: map[string]cacheEntry{}}
}

func (c *configCache) get(key string, load func() (any, error)) (any, error) {
	now := time.Now()
	c.mu.Lock()
	e, ok := c.m[key]
	c.mu.Unlock()
	if ok && now.Before(e.exp) {
		return e.v, nil
	}
	v, err := load()
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	if len(c.m) > 10000 {
		clear(c.m)
	}
	c.m[key] = cacheEntry{v: v, exp: now.Add(c.ttl)}
	c.mu.Unlock()
	return v, nil
}

func (c *configCache) stage(ctx context.Context, projectID, id string) (*store.Stage, error) {
	v, err := c.get("s\x00"+projectID+"\x00"+id, func() (any, error) { return c.st.GetStage(ctx, projectID, id) })
	if err != nil {
		return nil, err
	}
	return v.(*store.Stage), nil
}

func (c *configCache) agent(ctx context.Context, projectID, id string) (*store.Agent, error) {
	v, err := c.get("a\x00"+projectID+"\x00"+id, func() (any, error) { return c.st.GetAgent(ctx, projectID, id) })
	if err != nil {
		return nil, err
	}
	return v.(*store.Agent), nil
}

func (c *configCache) provider(ctx context.Context, id string) (*store.Provider, error) {
	v, err := c.get("p\x00"+id, func() (any, error) { return c.st.GetProvider(ctx, id) })
	if err != nil {
		return nil, err
	}
	return v.(*store.Provider), nil
}
