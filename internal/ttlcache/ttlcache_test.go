package ttlcache

import (
	"errors"
	"testing"
	"time"
)

func TestCache(t *testing.T) {
	notFound := errors.New("not found")
	c := New(time.Hour, func(err error) bool { return err == notFound })
	loads := 0
	load := func(v any, err error) func() (any, error) {
		return func() (any, error) { loads++; return v, err }
	}
	for i := 0; i < 3; i++ {
		if v, err := c.Get("a", load(1, nil)); v != 1 || err != nil {
			t.Fatalf("%v %v", v, err)
		}
		if _, err := c.Get("nf", load(nil, notFound)); err != notFound {
			t.Fatal(err)
		}
		if _, err := c.Get("boom", load(nil, errors.New("db down"))); err == nil {
			t.Fatal("want error")
		}
	}
	if loads != 1+1+3 {
		t.Fatalf("%d loads: values and kept errors must be cached, others retried", loads)
	}
	short := New(time.Nanosecond, nil)
	short.Get("a", load(1, nil))
	time.Sleep(time.Millisecond)
	short.Get("a", load(1, nil))
	if loads != 7 {
		t.Fatalf("%d loads: an expired entry must be reloaded", loads)
	}
}
