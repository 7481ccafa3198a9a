package redis

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/opsbot/opsbot/integrations/redis/redistest"
)

func TestDeduperClaim(t *testing.T) {
	c := redistest.New(t)
	d := NewDeduper(c)
	ctx := testCtx(t)
	steps := []struct {
		name    string
		key     string
		ttl     time.Duration
		want    bool
		wantErr bool
	}{
		{name: "first claim wins", key: "env-1", ttl: time.Minute, want: true},
		{name: "redelivery loses", key: "env-1", ttl: time.Minute, want: false},
		{name: "other key wins", key: "env-2", ttl: time.Minute, want: true},
		{name: "empty key refused", key: "", ttl: time.Minute, wantErr: true},
		{name: "zero ttl refused", key: "env-3", ttl: 0, wantErr: true},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			got, err := d.Claim(ctx, s.key, s.ttl)
			if (err != nil) != s.wantErr {
				t.Fatalf("Claim(%q) error = %v, want error %v", s.key, err, s.wantErr)
			}
			if got != s.want {
				t.Fatalf("Claim(%q) = %v, want %v", s.key, got, s.want)
			}
		})
	}
	pttl, err := c.PTTL(ctx, DedupePrefix+"env-1").Result()
	if err != nil || pttl <= 0 || pttl > time.Minute {
		t.Fatalf("PTTL of claimed key = %v, %v; want within (0, 1m]", pttl, err)
	}
	if n, _ := c.Exists(ctx, DedupePrefix+"env-3").Result(); n != 0 {
		t.Errorf("refused claim left key behind")
	}
}

func TestDeduperClaimExpires(t *testing.T) {
	d := NewDeduper(redistest.New(t))
	ctx := testCtx(t)
	if ok, err := d.Claim(ctx, "short", 20*time.Millisecond); !ok || err != nil {
		t.Fatalf("first Claim = %v, %v; want true, nil", ok, err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		ok, err := d.Claim(ctx, "short", time.Minute)
		if err != nil {
			t.Fatalf("Claim: %v", err)
		}
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("Claim still refused long after the ttl ran out")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestDeduperConcurrentClaimsOneWinner(t *testing.T) {
	c := redistest.New(t)
	ctx := testCtx(t)
	var wins atomic.Int32
	var wg sync.WaitGroup
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// A Deduper per goroutine, as each replica has its own.
			ok, err := NewDeduper(c).Claim(ctx, "race", time.Minute)
			if err != nil {
				t.Errorf("Claim: %v", err)
			}
			if ok {
				wins.Add(1)
			}
		}()
	}
	wg.Wait()
	if got := wins.Load(); got != 1 {
		t.Fatalf("winners = %d, want 1", got)
	}
}

func TestDeduperRedisDown(t *testing.T) {
	srv := redistest.NewServer(t)
	d := NewDeduper(srv.Client())
	srv.Stop()
	if ok, err := d.Claim(testCtx(t), "k", time.Minute); err == nil || ok {
		t.Fatalf("Claim with redis down = %v, %v; want false and an error", ok, err)
	}
}
