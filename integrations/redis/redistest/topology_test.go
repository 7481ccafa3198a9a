package redistest

import (
	"context"

	"fmt"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

func topoCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// TestSentinelFailover kills the primary of a Sentinel topology: a write
// every replica confirmed survives, the Sentinel-aware client follows the
// promotion, and the old primary comes back as a replica with the data.
func TestSentinelFailover(t *testing.T) {
	s := NewSentinel(t)
	ctx := topoCtx(t)
	c := s.Client(0)
	// WAIT counts the replicas that have this connection's writes, so it
	// goes down the same connection as the SET.
	var wait *goredis.Cmd
	if _, err := c.Pipelined(ctx, func(p goredis.Pipeliner) error {
		p.Set(ctx, "k", "v", 0)
		wait = p.Do(ctx, "WAIT", 2, 1000)
		return nil
	}); err != nil {
		t.Fatalf("SET + WAIT: %v", err)
	}
	if n, _ := wait.Int(); n != 2 {
		t.Fatalf("WAIT 2 = %d, want 2 replicas", n)
	}
	old, err := s.KillPrimary(ctx)
	if err != nil {
		t.Fatal(err)
	}
	promoted, err := s.WaitFailover(ctx, old)
	if err != nil {
		t.Fatal(err)
	}
	if promoted == old {
		t.Fatalf("WaitFailover returned the killed primary %s", old)
	}
	if got, err := c.Get(ctx, "k").Result(); err != nil || got != "v" {
		t.Fatalf("GET k after failover = %q, %v; want v", got, err)
	}
	if err := s.Restart(ctx, old); err != nil {
		t.Fatal(err)
	}
	rc := nodeClient(old)
	defer rc.Close()
	// The restarted node rejoins as a replica. On a loaded machine Sentinel
	// (whose down-after is short to keep these tests quick) may fail over
	// again and may even pick the restarted node: then it is the primary
	// all Sentinels agree on. Anything else is a split topology.
	for {
		role, err := rc.Do(ctx, "ROLE").Slice()
		if err == nil && len(role) > 0 && role[0] == "slave" {
			break
		}
		if err == nil && len(role) > 0 && role[0] == "master" {
			if agreed, aerr := s.agreedPrimary(ctx); aerr == nil && agreed == old {
				break
			}
		}
		select {
		case <-ctx.Done():
			t.Fatalf("ROLE of the restarted old primary = %v, %v; want slave (or the primary all Sentinels agree on)", role, err)
		case <-time.After(100 * time.Millisecond):
		}
	}
	// A replica answers once its sync from the primary is done.
	for {
		got, err := rc.Get(ctx, "k").Result()
		if err == nil && got == "v" {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("GET k on the restarted old primary = %q, %v; want v (synced from %s)", got, err, promoted)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// TestClusterMoveSlot checks that the cluster spreads keys over its three
// primaries and that a client keeps reading and writing a slot while it
// moves (ASK) and after (MOVED).
func TestClusterMoveSlot(t *testing.T) {
	c := NewCluster(t)
	ctx := topoCtx(t)
	cc := c.Client()
	owners := map[string]bool{}
	for i := 0; i < 30; i++ {
		key := fmt.Sprintf("{k%d}", i)
		slot, err := c.Slot(ctx, key)
		if err != nil {
			t.Fatal(err)
		}
		owner, err := c.SlotOwner(ctx, slot)
		if err != nil {
			t.Fatal(err)
		}
		owners[owner] = true
	}
	if len(owners) != clusterPrimaries {
		t.Fatalf("30 keys landed on %d nodes, want %d", len(owners), clusterPrimaries)
	}

	const key, other = "{moving}list", "{moving}other"
	for i := 0; i < 5; i++ {
		if err := cc.RPush(ctx, key, i).Err(); err != nil {
			t.Fatal(err)
		}
	}
	if err := cc.Set(ctx, other, "x", 0).Err(); err != nil {
		t.Fatal(err)
	}
	slot, _ := c.Slot(ctx, key)
	from, _ := c.SlotOwner(ctx, slot)
	var to string
	for _, a := range c.Addrs() {
		if a != from {
			to = a
			break
		}
	}
	var during error
	err := c.MoveSlot(ctx, slot, to, func() {
		// One key has moved, the other not: reads of either are redirected
		// as needed.
		if n, err := cc.LLen(ctx, key).Result(); err != nil || n != 5 {
			during = fmt.Errorf("LLEN while moving = %d, %v; want 5", n, err)
		} else if v, err := cc.Get(ctx, other).Result(); err != nil || v != "x" {
			during = fmt.Errorf("GET while moving = %q, %v; want x", v, err)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if during != nil {
		t.Fatal(during)
	}
	if owner, _ := c.SlotOwner(ctx, slot); owner != to {
		t.Fatalf("slot %d owned by %s after the move, want %s", slot, owner, to)
	}
	if err := cc.RPush(ctx, key, 5).Err(); err != nil {
		t.Fatalf("RPUSH after the move: %v", err)
	}
	if got, err := cc.LRange(ctx, key, 0, -1).Result(); err != nil || len(got) != 6 {
		t.Fatalf("LRANGE after the move = %v, %v; want 6 items", got, err)
	}
}

// TestSharedIsolatesTests gives two tests the same kind of shared target
// one after the other: neither sees the other's keys.
func TestSharedIsolatesTests(t *testing.T) {
	for _, kind := range Kinds {
		t.Run(string(kind), func(t *testing.T) {
			t.Setenv("REDIS_URL", "")
			for _, name := range []string{"first", "second"} {
				t.Run(name, func(t *testing.T) {
					tg := Shared(t, kind)
					ctx := topoCtx(t)
					if n, err := tg.Client.Exists(ctx, "shared-key").Result(); err != nil || n != 0 {
						t.Fatalf("EXISTS shared-key at start = %d, %v; want 0", n, err)
					}
					if err := tg.Client.Set(ctx, "shared-key", name, 0).Err(); err != nil {
						t.Fatal(err)
					}
					switch kind {
					case KindSingle:
						if tg.URL == "" {
							t.Errorf("single target has no URL")
						}
					case KindSentinel:
						if len(tg.Addrs) != 3 || tg.MasterName != MasterName {
							t.Errorf("sentinel target = %v %q; want 3 sentinels and %q", tg.Addrs, tg.MasterName, MasterName)
						}
					case KindCluster:
						if len(tg.Addrs) != clusterPrimaries || tg.DB != 0 {
							t.Errorf("cluster target = %v db %d; want %d nodes, db 0", tg.Addrs, tg.DB, clusterPrimaries)
						}
					}
				})
			}
		})
	}
}
