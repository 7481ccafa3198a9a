package redistest

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

func ctxT(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestNewIsolatesParallelTests(t *testing.T) {
	t.Setenv("REDIS_URL", "")
	values := []string{"alpha", "beta", "gamma", "delta"}
	var mu sync.Mutex
	held := map[string]bool{} // databases in use right now
	t.Run("group", func(t *testing.T) {
		for _, v := range values {
			t.Run(v, func(t *testing.T) {
				t.Parallel()
				c := New(t)
				o := c.(*goredis.Client).Options()
				id := fmt.Sprintf("%s/%d", o.Addr, o.DB)
				mu.Lock()
				if held[id] {
					t.Errorf("database %s handed to two tests at once", id)
				}
				held[id] = true
				mu.Unlock()
				defer func() {
					mu.Lock()
					delete(held, id)
					mu.Unlock()
				}()
				ctx := ctxT(t)
				if n, err := c.DBSize(ctx).Result(); err != nil || n != 0 {
					t.Fatalf("DBSize at start = %d, %v; want 0, nil", n, err)
				}
				if err := c.Set(ctx, "shared-key", v, 0).Err(); err != nil {
					t.Fatalf("SET: %v", err)
				}
				// Give the others time to write the same key.
				time.Sleep(20 * time.Millisecond)
				got, err := c.Get(ctx, "shared-key").Result()
				if err != nil || got != v {
					t.Fatalf("GET shared-key = %q, %v; want %q, nil", got, err, v)
				}
			})
		}
	})
}

func TestNewFlushesOnCleanup(t *testing.T) {
	t.Setenv("REDIS_URL", "")
	if serverBinary() == "" {
		t.Skip("no redis-server binary: the fallback's store ends with the test, so there is nothing left to flush")
	}
	var addr string
	var db int
	t.Run("writer", func(t *testing.T) {
		c := New(t)
		if err := c.Set(ctxT(t), "left-behind", "x", 0).Err(); err != nil {
			t.Fatalf("SET: %v", err)
		}
		o := c.(*goredis.Client).Options()
		addr, db = o.Addr, o.DB
	})
	c := newClient(&goredis.Options{Addr: addr, DB: db})
	defer c.Close()
	n, err := c.Exists(ctxT(t), "left-behind").Result()
	if err != nil || n != 0 {
		t.Fatalf("EXISTS left-behind after cleanup = %d, %v; want 0, nil", n, err)
	}
}

func TestNewUsesRealServer(t *testing.T) {
	t.Setenv("REDIS_URL", "")
	if serverBinary() == "" {
		t.Skip("no redis-server binary")
	}
	c := New(t)
	info, err := c.Info(ctxT(t), "server").Result()
	if err != nil {
		t.Fatalf("INFO: %v", err)
	}
	if !strings.Contains(info, "redis_version:") {
		t.Fatalf("INFO server = %q; want a real redis-server's redis_version", info)
	}
}

func TestServerStopStart(t *testing.T) {
	tests := []struct {
		name     string
		opts     []Option
		wantKept bool
	}{
		{name: "in memory loses data", wantKept: false},
		{name: "append only keeps data", opts: []Option{WithAppendOnly()}, wantKept: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := NewServer(t, tt.opts...)
			c := s.Client()
			ctx := ctxT(t)
			if err := c.Set(ctx, "k", "v", 0).Err(); err != nil {
				t.Fatalf("SET before stop: %v", err)
			}
			s.Stop()
			if s.Running() {
				t.Fatalf("Running() after Stop = true, want false")
			}
			if err := c.Ping(ctx).Err(); err == nil {
				t.Fatalf("PING while stopped = nil, want an error")
			}
			s.Start()
			if err := c.Ping(ctx).Err(); err != nil {
				t.Fatalf("PING after Start = %v, want nil (same client reconnects)", err)
			}
			got, err := c.Get(ctx, "k").Result()
			switch {
			case tt.wantKept && (err != nil || got != "v"):
				t.Fatalf("GET k after restart = %q, %v; want %q", got, err, "v")
			case !tt.wantKept && !errors.Is(err, goredis.Nil):
				t.Fatalf("GET k after restart = %q, %v; want redis.Nil", got, err)
			}
			if s.Client() != c {
				t.Errorf("Client() returned a different client on the second call")
			}
		})
	}
}

func TestNewOnRedisURLLeasesDatabases(t *testing.T) {
	s := NewServer(t)
	t.Setenv("REDIS_URL", s.URL())
	admin := s.Client()
	ctx := ctxT(t)
	var dbs []int
	t.Run("leases", func(t *testing.T) {
		a, b := New(t), New(t)
		for _, c := range []goredis.UniversalClient{a, b} {
			db := c.(*goredis.Client).Options().DB
			if db < 1 {
				t.Fatalf("leased database %d; want >= 1 (0 holds the leases)", db)
			}
			dbs = append(dbs, db)
		}
		if dbs[0] == dbs[1] {
			t.Fatalf("two clients got the same database %d", dbs[0])
		}
		if err := a.Set(ctx, "k", "a", 0).Err(); err != nil {
			t.Fatalf("SET: %v", err)
		}
		if n, _ := b.Exists(ctx, "k").Result(); n != 0 {
			t.Fatalf("second client sees the first one's key")
		}
		if n, _ := admin.Exists(ctx, leaseKey(dbs[0]), leaseKey(dbs[1])).Result(); n != 2 {
			t.Fatalf("lease keys present = %d, want 2", n)
		}
	})
	if n, _ := admin.Exists(ctx, leaseKey(dbs[0]), leaseKey(dbs[1])).Result(); n != 0 {
		t.Fatalf("lease keys after cleanup = %d, want 0", n)
	}
}

// fakeTB records what New and NewServer do to a test without ending ours.
type fakeTB struct {
	testing.TB
	mu       sync.Mutex
	fatal    string
	skipped  string
	logs     []string
	cleanups []func()
}

func (f *fakeTB) Helper() {}
func (f *fakeTB) Fatalf(format string, args ...any) {
	f.mu.Lock()
	f.fatal = fmt.Sprintf(format, args...)
	f.mu.Unlock()
	runtime.Goexit()
}
func (f *fakeTB) Skip(args ...any) {
	f.mu.Lock()
	f.skipped = fmt.Sprint(args...)
	f.mu.Unlock()
	runtime.Goexit()
}
func (f *fakeTB) Log(args ...any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.logs = append(f.logs, fmt.Sprint(args...))
}
func (f *fakeTB) Logf(format string, args ...any) { f.Log(fmt.Sprintf(format, args...)) }
func (f *fakeTB) Cleanup(fn func()) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.cleanups = append(f.cleanups, fn)
}

// run calls fn as a test body would be called and then runs the cleanups.
func (f *fakeTB) run(fn func(testing.TB)) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn(f)
	}()
	<-done
	for i := len(f.cleanups) - 1; i >= 0; i-- {
		f.cleanups[i]()
	}
}

func TestWithoutBinary(t *testing.T) {
	tests := []struct {
		name        string
		require     string
		useServer   bool
		start       func(testing.TB) // a topology constructor instead of New
		wantFatal   bool
		wantSkip    bool
		wantLogPart string
	}{
		{name: "New falls back to miniredis with a notice", require: "", wantLogPart: "miniredis"},
		{name: "New fails when real redis is required", require: "1", wantFatal: true},
		{name: "NewServer skips", require: "", useServer: true, wantSkip: true},
		{name: "NewServer fails when real redis is required", require: "1", useServer: true, wantFatal: true},
		{name: "NewSentinel skips", start: func(tb testing.TB) { NewSentinel(tb) }, wantSkip: true},
		{name: "NewSentinel fails when real redis is required", require: "1", start: func(tb testing.TB) { NewSentinel(tb) }, wantFatal: true},
		{name: "NewCluster skips", start: func(tb testing.TB) { NewCluster(tb) }, wantSkip: true},
		{name: "NewCluster fails when real redis is required", require: "1", start: func(tb testing.TB) { NewCluster(tb) }, wantFatal: true},
		{name: "shared sentinel skips", start: func(tb testing.TB) { Shared(tb, KindSentinel) }, wantSkip: true},
		{name: "shared cluster fails when real redis is required", require: "1", start: func(tb testing.TB) { Shared(tb, KindCluster) }, wantFatal: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("REDIS_URL", "")
			t.Setenv("REDIS_SERVER_BIN", "/nonexistent/redis-server")
			t.Setenv("OPSBOT_REQUIRE_REAL_REDIS", tt.require)
			f := &fakeTB{TB: t}
			var pingErr error
			f.run(func(tb testing.TB) {
				if tt.start != nil {
					tt.start(tb)
					return
				}
				if tt.useServer {
					NewServer(tb)
					return
				}
				c := New(tb)
				pingErr = c.Ping(ctxT(t)).Err()
			})
			if got := f.fatal != ""; got != tt.wantFatal {
				t.Errorf("failed = %v (%q), want %v", got, f.fatal, tt.wantFatal)
			}
			if got := f.skipped != ""; got != tt.wantSkip {
				t.Errorf("skipped = %v (%q), want %v", got, f.skipped, tt.wantSkip)
			}
			if tt.wantLogPart != "" {
				if pingErr != nil {
					t.Errorf("PING on fallback client = %v, want nil", pingErr)
				}
				if !strings.Contains(strings.Join(f.logs, "\n"), tt.wantLogPart) {
					t.Errorf("logs = %q, want a notice mentioning %q", f.logs, tt.wantLogPart)
				}
			}
		})
	}
}
