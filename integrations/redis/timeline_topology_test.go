package redis

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	goredis "github.com/redis/go-redis/v9"
	"go.uber.org/zap/zaptest"

	"github.com/opsbot/opsbot/integrations/redis/redistest"
)

// topoCtx bounds a test that forms topologies and waits out failovers.
func topoCtx(t testing.TB) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// sentinelClient connects to a Sentinel topology through opsbot's own
// configuration path, as redis.addrs and redis.master_name do.
func sentinelClient(t testing.TB, s *redistest.Sentinel) Client {
	t.Helper()
	c, err := New(topoCtx(t), Config{Addrs: s.Addrs(), MasterName: redistest.MasterName})
	if err != nil {
		t.Fatalf("New on sentinels: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func newTimelineWith(t testing.TB, c Client, dir string, d Durability) *Timeline {
	t.Helper()
	cfg := timelineConfig(t, c, dir, zaptest.NewLogger(t))
	cfg.Durability = d
	tl, err := NewTimeline(cfg)
	if err != nil {
		t.Fatalf("NewTimeline: %v", err)
	}
	t.Cleanup(func() { _ = tl.Close() })
	return tl
}

// xlenOn counts the entries of incident's stream on one server, primary or
// replica.
func xlenOn(t testing.TB, addr, incident string) int64 {
	t.Helper()
	c := goredis.NewClient(&goredis.Options{Addr: addr})
	defer c.Close()
	n, err := c.XLen(testCtx(t), StreamKey(incident)).Result()
	if err != nil {
		t.Fatalf("XLEN on %s: %v", addr, err)
	}
	return n
}

// xlenOnClusterReplica is xlenOn for a cluster replica, which answers
// reads only on a READONLY connection.
func xlenOnClusterReplica(t testing.TB, addr, incident string) int64 {
	t.Helper()
	c := goredis.NewClient(&goredis.Options{Addr: addr, OnConnect: func(ctx context.Context, cn *goredis.Conn) error {
		return cn.ReadOnly(ctx).Err()
	}})
	defer c.Close()
	n, err := c.XLen(testCtx(t), StreamKey(incident)).Result()
	if err != nil {
		t.Fatalf("XLEN on %s: %v", addr, err)
	}
	return n
}

// TestTimelineWaitsForReplicas checks when an appended event counts as
// safe on a primary with two replicas: by default once both have it; with
// more replicas asked for than there are, it stays held (on the primary,
// awaiting replicas) and is shown once; and when a replica dies, events
// wait in the spool until it is back rather than trusting the one left.
func TestTimelineWaitsForReplicas(t *testing.T) {
	s := redistest.NewSentinel(t)
	c := sentinelClient(t, s)
	ctx := topoCtx(t)

	auto := newTimelineWith(t, c, t.TempDir(), Durability{})
	mustAppend(t, auto, event("INC-1", "both replicas"))
	if n := auto.Pending(); n != 0 {
		reps, _ := s.Replicas(ctx)
		for _, r := range append(reps, mustPrimary(t, s)) {
			c := goredis.NewClient(&goredis.Options{Addr: r})
			info, _ := c.Info(ctx, "replication").Result()
			t.Logf("%s: %s", r, info)
			c.Close()
		}
		t.Fatalf("Pending() after an append both replicas confirmed = %d, want 0", n)
	}
	replicas, err := s.Replicas(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range replicas {
		// WAIT returned only once each replica had it: no polling needed.
		if n := xlenOn(t, r, "INC-1"); n != 1 {
			t.Errorf("replica %s has %d events right after Append, want 1", r, n)
		}
	}

	tooMany := newTimelineWith(t, c, t.TempDir(), Durability{Replicas: 3, Timeout: 50 * time.Millisecond})
	mustAppend(t, tooMany, event("INC-2", "three replicas asked"))
	st := tooMany.Stats()
	if st.Held != 1 || st.AwaitingReplicas != 1 {
		t.Fatalf("Stats() with 3 replicas asked of 2 = %+v, want 1 held, awaiting replicas", st)
	}
	if got := texts(mustEvents(t, tooMany, "INC-2")); !cmp.Equal(got, []string{"three replicas asked"}) {
		t.Fatalf("Events() = %q, want the event once", got)
	}
	if err := tooMany.Flush(ctx); err == nil || !strings.Contains(err.Error(), ErrNotReplicated.Error()) {
		t.Fatalf("Flush() with too few replicas = %v, want ErrNotReplicated", err)
	}
	if n := xlenOn(t, mustPrimary(t, s), "INC-2"); n != 1 {
		t.Fatalf("primary has %d INC-2 events after a re-send, want 1", n)
	}

	// One replica dies: the event waits for it, held, and is written out
	// once it is back.
	if err := s.Kill(replicas[0]); err != nil {
		t.Fatal(err)
	}
	startRun(t, auto)
	mustAppend(t, auto, event("INC-1", "one replica left"))
	if st := auto.Stats(); st.Held != 1 || st.AwaitingReplicas != 1 {
		t.Fatalf("Stats() with a replica down = %+v, want the event held, awaiting replicas", st)
	}
	if err := s.Restart(ctx, replicas[0]); err != nil {
		t.Fatal(err)
	}
	waitDrained(t, auto)
	for _, r := range replicas {
		if n := xlenOn(t, r, "INC-1"); n != 2 {
			t.Errorf("replica %s has %d events after the drain, want 2", r, n)
		}
	}
}

// TestTimelineWaitsForClusterReplicas checks confirmation on a Cluster
// whose primaries have a replica each: every event waits for the replica
// of the primary that serves its incident (WAIT on that primary's own
// connection), so the replica has it the moment Append returns; asking
// for more replicas than a primary has holds the event; and a claim asking
// for too many fails closed there as under Sentinel.
func TestTimelineWaitsForClusterReplicas(t *testing.T) {
	cl := redistest.NewCluster(t, redistest.WithClusterReplicas(1))
	ctx := topoCtx(t)
	c, err := New(ctx, Config{Addrs: cl.Addrs()})
	if err != nil {
		t.Fatalf("New on the cluster: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	// A bound, not a speed claim: a replica fresh from its initial sync has
	// been seen to take seconds to acknowledge its first writes on a busy
	// machine, and the default 250 ms would then hold the event in the
	// spool (safe, but not what this test looks at).
	tl := newTimelineWith(t, c, t.TempDir(), Durability{Timeout: 5 * time.Second})

	// Enough incidents that every primary serves some.
	primaries := map[string]bool{}
	for i := 0; i < 12; i++ {
		inc := fmt.Sprintf("INC-%d", 200+i)
		mustAppend(t, tl, event(inc, "confirmed"))
		if n := tl.Pending(); n != 0 {
			t.Fatalf("Pending() after appending to %s = %d, want 0 (its primary's replica confirmed it)", inc, n)
		}
		slot, err := cl.Slot(ctx, StreamKey(inc))
		if err != nil {
			t.Fatal(err)
		}
		primary, err := cl.SlotOwner(ctx, slot)
		if err != nil {
			t.Fatal(err)
		}
		primaries[primary] = true
		replicas, err := cl.ReplicasOf(ctx, primary)
		if err != nil || len(replicas) != 1 {
			t.Fatalf("ReplicasOf(%s) = %v, %v; want one", primary, replicas, err)
		}
		// WAIT returned only once the replica had it: no polling needed.
		if n := xlenOnClusterReplica(t, replicas[0], inc); n != 1 {
			t.Errorf("replica %s of %s has %d events of %s right after Append, want 1", replicas[0], primary, n, inc)
		}
	}
	if len(primaries) != 3 {
		t.Fatalf("the incidents landed on %d primaries, want all 3", len(primaries))
	}

	tooMany := newTimelineWith(t, c, t.TempDir(), Durability{Replicas: 2, Timeout: 50 * time.Millisecond})
	mustAppend(t, tooMany, event("INC-300", "two replicas asked"))
	if st := tooMany.Stats(); st.Held != 1 || st.AwaitingReplicas != 1 {
		t.Fatalf("Stats() with 2 replicas asked of 1 = %+v, want 1 held, awaiting replicas", st)
	}
	won, err := NewDeduper(c, WithDurability(Durability{Replicas: 2, Timeout: 50 * time.Millisecond})).Claim(ctx, "envelope:E1", time.Minute)
	if !errors.Is(err, ErrNotReplicated) || won {
		t.Fatalf("claim with 2 replicas asked of 1 = %v, %v; want ErrNotReplicated", won, err)
	}
	if won, err := NewDeduper(c).Claim(ctx, "envelope:E1", time.Minute); err != nil || !won {
		t.Fatalf("claim after the failed one = %v, %v; want won (it was given back)", won, err)
	}
}

// TestReplicaCountRemembersReplicas steps the automatic count through a
// replica leaving and coming back, and leaving for good.
func TestReplicaCountRemembersReplicas(t *testing.T) {
	at := func(d time.Duration) time.Time { return t0.Add(d) }
	var rc replicaCount
	steps := []struct {
		at          time.Duration
		online      int
		wantNeed    int
		wantLowered bool
	}{
		{0, 0, 0, false},               // single server: nothing to wait for
		{time.Second, 2, 2, false},     // replicas attach
		{2 * time.Second, 1, 2, false}, // one drops out (a failover, a restart)
		{time.Minute, 0, 2, false},     // a primary cut off from both
		{2 * time.Minute, 2, 2, false}, // back
		{3 * time.Minute, 1, 2, false}, // one leaves for good
		{3*time.Minute + ReplicaForgetAfter - time.Second, 1, 2, false},
		{3*time.Minute + ReplicaForgetAfter, 1, 1, true}, // forgotten
		{9 * time.Minute, 2, 2, false},                   // a new one joins
	}
	for _, s := range steps {
		lowered := rc.observe(s.online, at(s.at))
		if rc.need != s.wantNeed || lowered != s.wantLowered {
			t.Fatalf("at %s with %d online: need %d lowered %v; want %d, %v",
				s.at, s.online, rc.need, lowered, s.wantNeed, s.wantLowered)
		}
	}
}

func mustPrimary(t testing.TB, s *redistest.Sentinel) string {
	t.Helper()
	p, err := s.Primary(topoCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestTimelineKeepsAcceptedEventsAcrossFailover appends from several
// writers while the primary is killed and a replica promoted: every event
// Append accepted is in the timeline exactly once afterwards, in each
// writer's order.
func TestTimelineKeepsAcceptedEventsAcrossFailover(t *testing.T) {
	s := redistest.NewSentinel(t)
	c := sentinelClient(t, s)
	ctx := topoCtx(t)
	// A bound, not a speed claim: a replica fresh from its initial sync has
	// been seen to take seconds to acknowledge its first writes on a busy
	// machine, and the default 250 ms would then hold the event in the
	// spool (safe, but not what this test looks at).
	tl := newTimelineWith(t, c, t.TempDir(), Durability{Timeout: 5 * time.Second})
	startRun(t, tl)

	const writers = 4
	var (
		mu       sync.Mutex
		accepted = map[string][]string{} // incident -> texts in append order
		stop     = make(chan struct{})
		wg       sync.WaitGroup
	)
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			inc := fmt.Sprintf("INC-%d", 10+w%2) // two writers per incident
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				name := fmt.Sprintf("w%d-%05d", w, i)
				if err := tl.Append(ctx, event(inc, name)); err != nil {
					t.Errorf("Append(%s) = %v", name, err)
					return
				}
				mu.Lock()
				accepted[inc] = append(accepted[inc], name)
				mu.Unlock()
				time.Sleep(2 * time.Millisecond)
			}
		}()
	}
	time.Sleep(300 * time.Millisecond)
	old, promoted, err := s.Failover(ctx)
	if err != nil {
		close(stop)
		wg.Wait()
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	close(stop)
	wg.Wait()
	waitDrained(t, tl)
	t.Logf("failover %s -> %s", old, promoted)

	total := 0
	for inc, want := range accepted {
		total += len(want)
		got := texts(mustEvents(t, tl, inc))
		count := map[string]int{}
		for _, g := range got {
			count[g]++
		}
		for _, w := range want {
			if count[w] != 1 {
				t.Errorf("%s: accepted event %s is in the timeline %d times, want once", inc, w, count[w])
			}
		}
		last := map[string]string{}
		for _, g := range got {
			writer, _, _ := strings.Cut(g, "-")
			if g < last[writer] {
				t.Errorf("%s: %s after %s; want each writer's order", inc, g, last[writer])
			}
			last[writer] = g
		}
		if n := xlenOn(t, promoted, inc); n != int64(len(got)) {
			t.Errorf("%s: stream on the new primary has %d entries, Events() %d", inc, n, len(got))
		}
	}
	t.Logf("%d events accepted across the failover, each stored once", total)
	if total == 0 {
		t.Fatal("no event was accepted")
	}
}

// TestTimelineIncidentsDoNotWaitForEachOther holds one incident's events
// (Redis refuses them: its stream key has the wrong type) while another
// incident's go straight to Redis; once the key is fixed, the held ones are
// written in their order.
func TestTimelineIncidentsDoNotWaitForEachOther(t *testing.T) {
	c := redistest.New(t)
	tl := newTimeline(t, c, t.TempDir())
	ctx := testCtx(t)
	if err := c.Set(ctx, StreamKey("INC-BAD"), "not a stream", 0).Err(); err != nil {
		t.Fatal(err)
	}
	mustAppend(t, tl, event("INC-BAD", "bad 1"), event("INC-OK", "ok 1"), event("INC-BAD", "bad 2"), event("INC-OK", "ok 2"))
	if got := tl.Pending(); got != 2 {
		t.Fatalf("Pending() = %d, want only the 2 events of the refused incident", got)
	}
	if n := c.XLen(ctx, StreamKey("INC-OK")).Val(); n != 2 {
		t.Fatalf("INC-OK stream has %d events, want 2 (not held behind INC-BAD)", n)
	}
	if err := c.Del(ctx, StreamKey("INC-BAD")).Err(); err != nil {
		t.Fatal(err)
	}
	if err := tl.Flush(ctx); err != nil {
		t.Fatalf("Flush() = %v", err)
	}
	if got := texts(mustEvents(t, tl, "INC-BAD")); !cmp.Equal(got, []string{"bad 1", "bad 2"}) {
		t.Fatalf("Events(INC-BAD) = %q, want [bad 1 bad 2]", got)
	}
}

// TestTimelineAdoptsSpoolOfGoneProcess runs two Timelines on one spool
// directory, as two processes on one host: the first holds events during
// an outage and goes away; the second, still running, adopts its spool
// file, writes the events once Redis is back and deletes the file.
func TestTimelineAdoptsSpoolOfGoneProcess(t *testing.T) {
	srv := redistest.NewServer(t)
	dir := t.TempDir()
	first := newTimeline(t, srv.Client(), dir)
	cfg := timelineConfig(t, srv.Client(), dir, zaptest.NewLogger(t))
	cfg.AdoptInterval = 20 * time.Millisecond
	second, err := NewTimeline(cfg)
	if err != nil {
		t.Fatalf("second NewTimeline on the same dir = %v, want nil", err)
	}
	t.Cleanup(func() { _ = second.Close() })
	startRun(t, second)

	srv.Stop()
	mustAppend(t, first, event("INC-20", "a"), event("INC-20", "b"))
	mustAppend(t, second, event("INC-21", "mine"))
	time.Sleep(100 * time.Millisecond) // several adoption rounds: the first is alive
	if st := second.Stats(); st.Adopted != 0 || st.Held != 1 {
		t.Fatalf("second's Stats() beside a live first = %+v, want its own 1 event and no adoption", st)
	}
	// The first goes away (Close, with Redis still down, leaves its
	// events in its file, as a crash does).
	if err := first.Close(); err != nil {
		t.Fatalf("Close() = %v", err)
	}
	srv.Start()
	waitDrained(t, second)
	if got := texts(mustEvents(t, second, "INC-20")); !cmp.Equal(got, []string{"a", "b"}) {
		t.Fatalf("Events(INC-20) = %q, want [a b]", got)
	}
	if n := spoolBytes(t, dir); n != 0 {
		t.Errorf("spools hold %d bytes after the drain, want none", n)
	}
	if st := second.Stats(); st.Adopted != 2 {
		t.Errorf("Stats().Adopted after the drain = %d, want the first's 2 events", st.Adopted)
	}
}
