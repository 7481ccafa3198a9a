package redis

import (
	"errors"
	"testing"
	"time"

	"github.com/opsbot/opsbot/integrations/redis/redistest"
)

func TestLockerTryLock(t *testing.T) {
	c := redistest.New(t)
	a, b := NewLocker(c), NewLocker(c) // two replicas
	ctx := testCtx(t)

	releaseA, ok, err := a.TryLock(ctx, "pd-sync", time.Minute)
	if err != nil || !ok {
		t.Fatalf("first TryLock = %v, %v; want true, nil", ok, err)
	}
	if _, ok, err := b.TryLock(ctx, "pd-sync", time.Minute); err != nil || ok {
		t.Fatalf("TryLock while held = %v, %v; want false, nil", ok, err)
	}
	if _, ok, err := b.TryLock(ctx, "other", time.Minute); err != nil || !ok {
		t.Fatalf("TryLock of another key = %v, %v; want true, nil", ok, err)
	}
	releaseA()
	releaseA() // safe twice
	releaseB, ok, err := b.TryLock(ctx, "pd-sync", time.Minute)
	if err != nil || !ok {
		t.Fatalf("TryLock after release = %v, %v; want true, nil", ok, err)
	}
	releaseB()
}

func TestLockerValidation(t *testing.T) {
	l := NewLocker(redistest.New(t))
	tests := []struct {
		name string
		key  string
		ttl  time.Duration
	}{
		{name: "empty key", key: "", ttl: time.Minute},
		{name: "zero ttl", key: "k", ttl: 0},
		{name: "negative ttl", key: "k", ttl: -time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			release, ok, err := l.TryLock(testCtx(t), tt.key, tt.ttl)
			if err == nil || ok {
				t.Fatalf("TryLock(%q, %s) = %v, %v; want false and an error", tt.key, tt.ttl, ok, err)
			}
			release() // callers may always call it
		})
	}
}

func TestLeaseReleaseAndRenewOnlyByOwner(t *testing.T) {
	c := redistest.New(t)
	l := NewLocker(c)
	ctx := testCtx(t)

	old, err := l.Lock(ctx, "handoff", time.Minute)
	if err != nil || old == nil {
		t.Fatalf("Lock = %v, %v; want a lease", old, err)
	}
	if err := old.Renew(ctx, 2*time.Minute); err != nil {
		t.Fatalf("Renew while held = %v, want nil", err)
	}
	if pttl := c.PTTL(ctx, LockPrefix+"handoff").Val(); pttl <= time.Minute {
		t.Fatalf("PTTL after Renew = %v, want more than 1m", pttl)
	}
	// The old holder's lease runs out and another replica takes it.
	c.Del(ctx, LockPrefix+"handoff")
	current, err := l.Lock(ctx, "handoff", time.Minute)
	if err != nil || current == nil {
		t.Fatalf("Lock after expiry = %v, %v; want a lease", current, err)
	}
	if err := old.Renew(ctx, time.Minute); !errors.Is(err, ErrLeaseLost) {
		t.Fatalf("stale Renew = %v, want ErrLeaseLost", err)
	}
	if err := old.Release(ctx); err != nil {
		t.Fatalf("stale Release = %v, want nil", err)
	}
	if n := c.Exists(ctx, LockPrefix+"handoff").Val(); n != 1 {
		t.Fatalf("stale Release deleted the current holder's lease")
	}
	if err := current.Release(ctx); err != nil {
		t.Fatalf("Release = %v", err)
	}
	if n := c.Exists(ctx, LockPrefix+"handoff").Val(); n != 0 {
		t.Fatalf("lease still present after its owner released it")
	}
}

func TestLockerRedisDown(t *testing.T) {
	srv := redistest.NewServer(t)
	l := NewLocker(srv.Client())
	srv.Stop()
	release, ok, err := l.TryLock(testCtx(t), "k", time.Minute)
	if err == nil || ok {
		t.Fatalf("TryLock with redis down = %v, %v; want false and an error", ok, err)
	}
	release()
}
