package bot_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/opsbot/opsbot/bot"
	"github.com/opsbot/opsbot/bot/bottest"
)

// TestTTLCacheExpiry steps the injected clock across an entry's TTL.
func TestTTLCacheExpiry(t *testing.T) {
	clk := bottest.NewClock(time.Date(2026, 3, 29, 0, 59, 0, 0, time.UTC))
	c := bot.NewTTLCache[string](10, clk)
	c.Set("a", "hit", time.Hour)
	c.Set("b", "miss", 15*time.Minute)
	steps := []struct {
		advance    time.Duration
		wantA      bool
		wantB      bool
		wantLenMax int
	}{
		{0, true, true, 2},
		{15*time.Minute - time.Nanosecond, true, true, 2},
		{time.Nanosecond, true, false, 2}, // b expires exactly at its TTL
		{45*time.Minute - time.Nanosecond, true, false, 1},
		{time.Nanosecond, false, false, 1},
	}
	for i, s := range steps {
		clk.Add(s.advance)
		_, gotA := c.Get("a")
		_, gotB := c.Get("b")
		if gotA != s.wantA || gotB != s.wantB {
			t.Errorf("step %d at %s: got a=%v b=%v, want a=%v b=%v", i, clk.Now().Format(time.TimeOnly), gotA, gotB, s.wantA, s.wantB)
		}
		if n := c.Len(); n > s.wantLenMax {
			t.Errorf("step %d: %d entries held, want at most %d (expired entries are dropped when read)", i, n, s.wantLenMax)
		}
	}
}

// TestTTLCacheBounded keeps at most size entries, dropping the least
// recently used.
func TestTTLCacheBounded(t *testing.T) {
	c := bot.NewTTLCache[int](2, nil)
	c.Set("a", 1, time.Hour)
	c.Set("b", 2, time.Hour)
	c.Get("a") // b is now the least recently used
	c.Set("c", 3, time.Hour)
	if _, ok := c.Get("b"); ok {
		t.Error("b still cached, want it evicted as least recently used")
	}
	for _, k := range []string{"a", "c"} {
		if _, ok := c.Get(k); !ok {
			t.Errorf("%s evicted, want kept", k)
		}
	}
	if n := c.Len(); n != 2 {
		t.Errorf("len %d, want 2", n)
	}
	clk := bottest.NewClock(time.Date(2026, 10, 25, 2, 30, 0, 0, time.UTC))
	back := bot.NewTTLCache[int](2, clk)
	back.Set("k", 1, time.Hour)
	clk.Add(-time.Second)
	if _, ok := back.Get("k"); ok {
		t.Error("entry still trusted after the clock stepped back before it was stored")
	}
	c.Set("a", 9, 0)
	if _, ok := c.Get("a"); ok {
		t.Error("Set with ttl 0 kept the entry, want it removed")
	}
}

// TestTTLCacheSingleflight: concurrent misses of one key load once; errors
// and zero TTLs are not cached.
func TestTTLCacheSingleflight(t *testing.T) {
	c := bot.NewTTLCache[string](10, nil)
	var loads atomic.Int32
	release := make(chan struct{})
	const callers = 20
	var started, wg sync.WaitGroup
	started.Add(callers)
	wg.Add(callers)
	results := make([]string, callers)
	for i := 0; i < callers; i++ {
		go func() {
			defer wg.Done()
			started.Done()
			v, err := c.GetOrLoad(context.Background(), "k", func(context.Context) (string, time.Duration, error) {
				loads.Add(1)
				<-release
				return "v", time.Hour, nil
			})
			if err != nil {
				t.Errorf("GetOrLoad: %v", err)
			}
			results[i] = v
		}()
	}
	started.Wait()
	close(release)
	wg.Wait()
	if n := loads.Load(); n != 1 {
		t.Errorf("%d loads for %d concurrent callers, want 1", n, callers)
	}
	for i, r := range results {
		if r != "v" {
			t.Errorf("caller %d got %q, want v", i, r)
		}
	}

	boom := errors.New("boom")
	for i := 0; i < 2; i++ {
		if _, err := c.GetOrLoad(context.Background(), "e", func(context.Context) (string, time.Duration, error) {
			loads.Add(1)
			return "", time.Hour, boom
		}); !errors.Is(err, boom) {
			t.Fatalf("got %v, want boom", err)
		}
		if _, err := c.GetOrLoad(context.Background(), "z", func(context.Context) (string, time.Duration, error) {
			loads.Add(1)
			return "x", 0, nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	if n := loads.Load(); n != 5 {
		t.Errorf("%d loads, want 5: errors and zero-TTL answers are loaded again each time", n)
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	block := make(chan struct{})
	defer close(block)
	if _, err := c.GetOrLoad(ctx, "slow", func(context.Context) (string, time.Duration, error) {
		<-block
		return "", 0, nil
	}); !errors.Is(err, context.Canceled) {
		t.Errorf("got %v, want context.Canceled for a caller that stopped waiting", err)
	}
}
