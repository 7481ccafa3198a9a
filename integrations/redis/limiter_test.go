package redis

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/opsbot/opsbot/bot"
	"github.com/opsbot/opsbot/bot/bottest"
	"github.com/opsbot/opsbot/integrations/redis/redistest"
)

func TestLimiterSlidingWindow(t *testing.T) {
	clk := bottest.NewClock(time.Date(2026, 11, 22, 9, 0, 0, 0, time.UTC))
	l := NewLimiter(redistest.New(t), clk)
	ctx := testCtx(t)
	const window = 10 * time.Minute
	steps := []struct {
		name      string
		advance   time.Duration
		wantOK    bool
		wantRetry time.Duration
	}{
		{name: "1st", wantOK: true},
		{name: "2nd a minute later", advance: time.Minute, wantOK: true},
		{name: "3rd", advance: time.Minute, wantOK: true},
		{name: "4th refused until the 1st leaves the window", advance: time.Minute, wantOK: false, wantRetry: 7 * time.Minute},
		{name: "still refused just before", advance: 7*time.Minute - time.Millisecond, wantOK: false, wantRetry: time.Millisecond},
		{name: "allowed once the 1st left", advance: time.Millisecond, wantOK: true},
		{name: "refused again: 2nd and 3rd and 5th in the window", wantOK: false, wantRetry: time.Minute},
	}
	for _, s := range steps {
		clk.Add(s.advance)
		ok, retry, err := l.Allow(ctx, "declare:U1", 3, window)
		if err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		if ok != s.wantOK || retry != s.wantRetry {
			t.Errorf("%s: got ok=%v retry=%s, want ok=%v retry=%s", s.name, ok, retry, s.wantOK, s.wantRetry)
		}
	}
	// Another key has its own budget.
	if ok, _, err := l.Allow(ctx, "declare:U2", 3, window); !ok || err != nil {
		t.Errorf("other key: got %v, %v; want allowed", ok, err)
	}
}

func TestLimiterCap(t *testing.T) {
	c := redistest.New(t)
	l := NewLimiter(c, nil)
	ctx := testCtx(t)
	for i := 1; i <= 3; i++ {
		if ok, _, err := l.Allow(ctx, "timeline:INC-1", 3, 0); !ok || err != nil {
			t.Fatalf("action %d: got %v, %v; want allowed", i, ok, err)
		}
	}
	for i := 0; i < 2; i++ {
		ok, retry, err := l.Allow(ctx, "timeline:INC-1", 3, 0)
		if ok || retry != 0 || err != nil {
			t.Fatalf("over the cap: got %v, %s, %v; want refused, 0, nil", ok, retry, err)
		}
	}
	// A refused action is not counted: raising the cap lets exactly one more in.
	if ok, _, _ := l.Allow(ctx, "timeline:INC-1", 4, 0); !ok {
		t.Errorf("raised cap refused the 4th action")
	}
	if ok, _, _ := l.Allow(ctx, "timeline:INC-1", 4, 0); ok {
		t.Errorf("raised cap allowed a 5th action")
	}
	if ttl, err := c.PTTL(ctx, LimitPrefix+"timeline:INC-1").Result(); err != nil || ttl <= 0 {
		t.Errorf("cap key TTL = %s, %v; want one so it is removed eventually", ttl, err)
	}
}

// TestLimiterSharedAcrossReplicas races two limiters (two replicas) on one
// key: exactly the limit is allowed, however the calls interleave.
func TestLimiterSharedAcrossReplicas(t *testing.T) {
	c := redistest.New(t)
	replicas := []*Limiter{NewLimiter(c, nil), NewLimiter(c, nil)}
	ctx := testCtx(t)
	for _, window := range []time.Duration{time.Hour, 0} {
		var allowed atomic.Int64
		var wg sync.WaitGroup
		key := "race:" + window.String()
		for i := 0; i < 40; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				ok, _, err := replicas[i%2].Allow(ctx, key, 5, window)
				if err != nil {
					t.Error(err)
				}
				if ok {
					allowed.Add(1)
				}
			}()
		}
		wg.Wait()
		if n := allowed.Load(); n != 5 {
			t.Errorf("window %s: %d actions allowed, want 5", window, n)
		}
	}
}

func TestLimiterRefusesBadArguments(t *testing.T) {
	l := NewLimiter(redistest.New(t), nil)
	ctx := testCtx(t)
	for _, tt := range []struct {
		name   string
		key    string
		limit  int
		window time.Duration
	}{
		{"empty key", "", 1, time.Minute},
		{"zero limit", "k", 0, time.Minute},
		{"negative window", "k", 1, -time.Second},
	} {
		if _, _, err := l.Allow(ctx, tt.key, tt.limit, tt.window); err == nil {
			t.Errorf("%s: no error", tt.name)
		}
	}
}

func TestLimiterRedisDown(t *testing.T) {
	c := goredis.NewClient(&goredis.Options{Addr: closedAddr(t), DialTimeout: 200 * time.Millisecond, MaxRetries: -1})
	t.Cleanup(func() { _ = c.Close() })
	l := NewLimiter(c, bot.SystemClock)
	if _, _, err := l.Allow(testCtx(t), "k", 1, time.Minute); err == nil {
		t.Fatal("Allow against a closed port returned no error")
	}
}

func TestSecretsSharedAndStable(t *testing.T) {
	c := redistest.New(t)
	a, b := NewSecrets(c), NewSecrets(c)
	ctx := testCtx(t)
	first, err := a.Secret(ctx, "seal", 32)
	if err != nil || len(first) != 32 {
		t.Fatalf("first Secret = %d bytes, %v; want 32", len(first), err)
	}
	for i, s := range []*Secrets{a, b} {
		got, err := s.Secret(ctx, "seal", 32)
		if err != nil || string(got) != string(first) {
			t.Errorf("replica %d: got a different secret (%v)", i, err)
		}
	}
	other, err := b.Secret(ctx, "other", 32)
	if err != nil || string(other) == string(first) {
		t.Errorf("another name gave the same secret (%v)", err)
	}
	if _, err := a.Secret(ctx, "", 32); err == nil {
		t.Error("empty name accepted")
	}
}
