// Package ttlcache is a small map cache whose entries expire after a fixed
// time. The engine and the webhook keep stages, agents, providers and API
// keys in one for a second, so the hot path does not read them from the
// database on every message, and edits take effect within that second.
package ttlcache

import (
	"sync"
	"time"
)

// maxEntries bounds the cache; when full it starts over.
const maxEntries = 10000

// Cache maps keys to values (and, when Keep says so, errors) for TTL.
type Cache struct {
	ttl  time.Duration
	keep func(error) bool
	mu   sync.Mutex
	m    map[string]entry
}

type entry struct {
	v   any
	err error
	exp time.Time
}

// New returns a cache whose entries live for ttl. keep reports which load
// errors are cached too (say, "not found"); nil caches none.
func New(ttl time.Duration, keep func(error) bool) *Cache {
	if keep == nil {
		keep = func(error) bool { return false }
	}
	return &Cache{ttl: ttl, keep: keep, m: map[string]entry{}}
}

// Get returns the cached value for key, or calls load and caches its
// result.
func (c *Cache) Get(key string, load func() (any, error)) (any, error) {
	now := time.Now()
	c.mu.Lock()
	e, ok := c.m[key]
	c.mu.Unlock()
	if ok && now.Before(e.exp) {
		return e.v, e.err
	}
	v, err := load()
	if err != nil && !c.keep(err) {
		return nil, err
	}
	c.mu.Lock()
	if len(c.m) >= maxEntries {
		clear(c.m)
	}
	c.m[key] = entry{v: v, err: err, exp: now.Add(c.ttl)}
	c.mu.Unlock()
	return v, err
}
