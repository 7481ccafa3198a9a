package redis

import (
	"fmt"
	"testing"
	"time"

	"github.com/opsbot/opsbot/integrations/redis/redistest"
)

// TestBackendsSupportEveryStore runs the stores on the console-mode store,
// which implements Lua, streams and SET NX itself and could differ from
// Redis, and on a real redis-server.
func TestBackendsSupportEveryStore(t *testing.T) {
	tests := []struct {
		name   string
		client func(t *testing.T) Client
	}{
		{name: "embedded", client: func(t *testing.T) Client {
			c, stop, err := Embedded()
			if err != nil {
				t.Fatalf("Embedded() = %v", err)
			}
			t.Cleanup(stop)
			return c
		}},
		{name: "redis-server", client: func(t *testing.T) Client { return redistest.New(t) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { exerciseStores(t, tt.client(t)) })
	}
}

func exerciseStores(t *testing.T, c Client) {
	ctx := testCtx(t)

	d := NewDeduper(c)
	first, err1 := d.Claim(ctx, "k", time.Minute)
	second, err2 := d.Claim(ctx, "k", time.Minute)
	if !first || second || err1 != nil || err2 != nil {
		t.Errorf("Claim twice = (%v, %v), (%v, %v); want (true, nil), (false, nil)", first, err1, second, err2)
	}

	l := NewLocker(c)
	lease, err := l.Lock(ctx, "job", time.Minute)
	if err != nil || lease == nil {
		t.Fatalf("Lock = %v, %v", lease, err)
	}
	if err := lease.Renew(ctx, time.Minute); err != nil {
		t.Errorf("Renew = %v", err)
	}
	if err := lease.Release(ctx); err != nil {
		t.Errorf("Release = %v", err)
	}
	if _, ok, err := l.TryLock(ctx, "job", time.Minute); !ok || err != nil {
		t.Errorf("TryLock after Release = %v, %v; want true, nil", ok, err)
	}

	tl := newTimeline(t, c, t.TempDir())
	// More than one XRANGE page, to exercise paging.
	const n = readPage + 5
	var want []string
	for i := 0; i < n; i++ {
		name := fmt.Sprintf("e%05d", i)
		want = append(want, name)
		mustAppend(t, tl, event("INC-1", name))
	}
	mustAppend(t, tl, event("INC-1", "e00000")) // redelivered
	got := texts(mustEvents(t, tl, "INC-1"))
	if len(got) != n || got[0] != want[0] || got[n-1] != want[n-1] {
		t.Fatalf("Events() = %d events from %v to %v, want %d from %s to %s",
			len(got), got[:1], got[len(got)-1:], n, want[0], want[n-1])
	}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("event %d = %s, want %s", i, got[i], want[i])
		}
	}
}
