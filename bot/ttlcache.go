package bot

import (
	"context"
	"sync"
	"time"

	"github.com/hashicorp/golang-lru/v2/simplelru"
	"golang.org/x/sync/singleflight"
)

// TTLCache is the one bounded cache of look-ups (people by e-mail, users by
// ID, user-group members): at most size entries, least recently used evicted
// first, each entry expiring after its own TTL on the injected Clock, and
// concurrent misses of one key sharing a single load. Safe for concurrent
// use.
//
// It is built on golang-lru's simplelru rather than its expirable package
// because expiry must follow the injected clock: time logic is tested at
// fixed dates, and an entry must expire when the test's clock says so.
type TTLCache[V any] struct {
	clock Clock
	group singleflight.Group

	mu  sync.Mutex
	lru *simplelru.LRU[string, ttlEntry[V]]
}

type ttlEntry[V any] struct {
	v         V
	at, until time.Time
}

// NewTTLCache returns a cache of at most size entries (at least 1) on clock
// (SystemClock when nil).
func NewTTLCache[V any](size int, clock Clock) *TTLCache[V] {
	if clock == nil {
		clock = SystemClock
	}
	l, _ := simplelru.NewLRU[string, ttlEntry[V]](max(size, 1), nil) // only fails for size < 1
	return &TTLCache[V]{clock: clock, lru: l}
}

// Get returns the value cached for key, unless it has expired.
func (c *TTLCache[V]) Get(key string) (V, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.lru.Get(key)
	if !ok {
		var zero V
		return zero, false
	}
	// A clock that stepped back before the entry was stored must not
	// stretch how long it is trusted.
	if now := c.clock.Now(); !now.Before(e.until) || now.Before(e.at) {
		c.lru.Remove(key)
		var zero V
		return zero, false
	}
	return e.v, true
}

// Set caches v for key during ttl; a ttl of zero or less removes key.
func (c *TTLCache[V]) Set(key string, v V, ttl time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if ttl <= 0 {
		c.lru.Remove(key)
		return
	}
	now := c.clock.Now()
	c.lru.Add(key, ttlEntry[V]{v: v, at: now, until: now.Add(ttl)})
}

// Remove forgets key.
func (c *TTLCache[V]) Remove(key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.lru.Remove(key)
}

// Len is the number of entries held, expired ones not yet dropped included.
func (c *TTLCache[V]) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lru.Len()
}

// GetOrLoad returns the cached value of key, or loads it: however many
// callers miss key at once, load runs once and they all get its result.
// load returns the value and how long to keep it (zero or less: do not
// cache, e.g. for an answer that should be asked again soon); an error is
// never cached. A caller whose ctx ends stops waiting; the load goes on for
// the others, with the context of the caller that started it.
func (c *TTLCache[V]) GetOrLoad(ctx context.Context, key string, load func(ctx context.Context) (V, time.Duration, error)) (V, error) {
	if v, ok := c.Get(key); ok {
		return v, nil
	}
	ch := c.group.DoChan(key, func() (any, error) {
		// A caller that was waiting on the previous load may arrive just
		// after it stored its result.
		if v, ok := c.Get(key); ok {
			return v, nil
		}
		v, ttl, err := load(ctx)
		if err != nil {
			return v, err
		}
		c.Set(key, v, ttl)
		return v, nil
	})
	select {
	case r := <-ch:
		v, _ := r.Val.(V)
		return v, r.Err
	case <-ctx.Done():
		var zero V
		return zero, ctx.Err()
	}
}
