package llm

import (
	"context"
	"encoding/json"
	"sync"
	"testing"

	"switchboard/store"
)

func TestCacheRebuildsOnVersionChange(t *testing.T) {
	cache := NewCache(Options{})
	p := scriptedProvider(`{"defaultReply":"v1: {{.Text}}"}`)
	a, err := cache.Get(p)
	if err != nil {
		t.Fatal(err)
	}
	b, err := cache.Get(p)
	if err != nil {
		t.Fatal(err)
	}
	if a != b {
		t.Fatal("same provider version built twice")
	}

	p2 := *p
	p2.Version = 2
	p2.Config = json.RawMessage(`{"defaultReply":"v2: {{.Text}}"}`)
	c, err := cache.Get(&p2)
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := c.Complete(context.Background(), Request{Text: "x"}); got.Text != "v2: x" {
		t.Fatalf("after update reply = %q, want v2: x", got.Text)
	}
	// A stale read of version 1 must not evict version 2.
	if _, err := cache.Get(p); err != nil {
		t.Fatal(err)
	}
	if d, _ := cache.Get(&p2); d != c {
		t.Fatal("stale read evicted the newer client")
	}

	cache.Forget(p.ID)
	if e, _ := cache.Get(&p2); e == c {
		t.Fatal("Forget kept the client")
	}
}

func TestCacheErrorsNotCached(t *testing.T) {
	cache := NewCache(Options{})
	bad := scriptedProvider(`{"defaultReply":"{{"}`)
	if _, err := cache.Get(bad); store.ErrorCode(err) != store.EINVALID {
		t.Fatalf("err = %v, want EINVALID", err)
	}
	fixed := *bad
	fixed.Version = 2
	fixed.Config = json.RawMessage(`{}`)
	if _, err := cache.Get(&fixed); err != nil {
		t.Fatalf("fixed provider: %v", err)
	}
	if _, err := cache.Get(nil); err == nil {
		t.Fatal("Get(nil) succeeded")
	}
}

func TestCacheConcurrent(t *testing.T) {
	cache := NewCache(Options{})
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 200 {
				p := scriptedProvider(`{"defaultReply":"R{{.Turn}}"}`)
				p.Version = int64(1 + (g+i)%3)
				c, err := cache.Get(p)
				if err != nil {
					t.Error(err)
					return
				}
				if got, err := c.Complete(context.Background(), Request{Turn: i}); err != nil || got.Text == "" {
					t.Errorf("Complete = %q, %v", got.Text, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	p := scriptedProvider(`{}`)
	p.Version = 3
	a, _ := cache.Get(p)
	b, _ := cache.Get(p)
	if a != b {
		t.Fatal("highest version not cached after concurrent use")
	}
}
