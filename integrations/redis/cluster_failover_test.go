package redis

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/opsbot/opsbot/bot"
	"github.com/opsbot/opsbot/integrations/redis/redistest"
)

// clusterFailovers is how many times TestClusterFailoversLoseNothing kills
// a primary.
const clusterFailovers = 3

// followWithin bounds how long after the cluster promoted a replica the
// stores may take to write to it, the killed primary still down. A hang
// guard, not a speed claim: the client follows within a few hundred
// milliseconds of the promotion, and one that only followed go-redis's own
// slot map refresh, every 60 s, would fail here.
const followWithin = 30 * time.Second

// TestClusterFailoversLoseNothing writes timeline events and alert
// notifications from several writers while the Cluster primary that serves
// both (an incident's timeline and the alert groups) is killed with
// SIGKILL, the cluster promotes its replica, the stores follow to it with
// the killed node still down, and the killed node comes back as a replica:
// three times in a row. Every event Append accepted is in the timeline
// exactly once, in each writer's order, and every notification Record
// accepted has its alert in the group: a Cluster failover loses nothing
// opsbot acknowledged.
func TestClusterFailoversLoseNothing(t *testing.T) {
	cl := redistest.NewCluster(t, redistest.WithClusterReplicas(1))
	ctx := topoCtx(t)
	c, err := New(ctx, Config{Addrs: cl.Addrs()})
	if err != nil {
		t.Fatalf("New on the cluster: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })

	// An incident whose timeline shares its primary with the alert groups,
	// so that each kill hits both stores.
	alertSlot, err := cl.Slot(ctx, alertsDueKey)
	if err != nil {
		t.Fatal(err)
	}
	alertOwner, err := cl.SlotOwner(ctx, alertSlot)
	if err != nil {
		t.Fatal(err)
	}
	inc, slot := "", 0
	for i := 1; i < 1000 && inc == ""; i++ {
		candidate := fmt.Sprintf("INC-%d", i)
		s, err := cl.Slot(ctx, StreamKey(candidate))
		if err != nil {
			t.Fatal(err)
		}
		if owner, err := cl.SlotOwner(ctx, s); err == nil && owner == alertOwner {
			inc, slot = candidate, s
		}
	}
	if inc == "" {
		t.Fatalf("no incident key among INC-1…999 on %s, the alert groups' primary", alertOwner)
	}

	tl := newTimelineWith(t, c, t.TempDir(), Durability{})
	startRun(t, tl)
	al := newAlerts(t, c, t.TempDir())
	runCtx, stopRun := context.WithCancel(context.Background())
	ran := make(chan error, 1)
	go func() { ran <- al.Run(runCtx) }()
	t.Cleanup(func() {
		stopRun()
		<-ran
	})

	var (
		mu       sync.Mutex
		accepted = map[string][]string{} // writer -> event texts in append order
		recorded []string                // fingerprints of accepted notifications
		stop     = make(chan struct{})
		wg       sync.WaitGroup
	)
	for w := 0; w < 2; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			writer := fmt.Sprintf("w%d", w)
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				name := fmt.Sprintf("%s-%05d", writer, i)
				if err := tl.Append(ctx, event(inc, name)); err != nil {
					t.Errorf("Append(%s) = %v", name, err)
					return
				}
				mu.Lock()
				accepted[writer] = append(accepted[writer], name)
				mu.Unlock()
				time.Sleep(2 * time.Millisecond)
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			fp := fmt.Sprintf("fp-%05d", i)
			if err := al.Record(ctx, "g1", note(at0, firing(fp, at0))); err != nil {
				t.Errorf("Record(%s) = %v", fp, err)
				return
			}
			mu.Lock()
			recorded = append(recorded, fp)
			mu.Unlock()
			time.Sleep(5 * time.Millisecond)
		}
	}()
	halt := func() {
		select {
		case <-stop:
		default:
			close(stop)
		}
		wg.Wait()
	}
	defer halt()

	// Every store counts the replicas of a primary from its first write
	// to it on, and a primary it first meets alone has none to wait for:
	// the kills start once each has written.
	if err := pollUntil(ctx, func() error {
		mu.Lock()
		defer mu.Unlock()
		if len(accepted) < 2 || len(recorded) == 0 {
			return fmt.Errorf("%d writers appended, %d notifications recorded", len(accepted), len(recorded))
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= clusterFailovers; i++ {
		start := time.Now()
		old, err := cl.KillPrimaryOf(ctx, slot)
		if err != nil {
			t.Fatalf("failover %d: %v", i, err)
		}
		promoted, err := cl.WaitFailover(ctx, slot, old)
		if err != nil {
			t.Fatalf("failover %d: %v", i, err)
		}
		promotedIn := time.Since(start)
		// Both stores write to the promoted primary before the killed one
		// is back: its MOVED cannot be what shows them the way.
		events, fence := timelineWritesOn(t, promoted, inc), fenceOn(t, promoted, alertsFence)
		fctx, cancel := context.WithTimeout(ctx, followWithin)
		err = pollUntil(fctx, func() error {
			if timelineWritesOn(t, promoted, inc) == events {
				return fmt.Errorf("the timeline wrote nothing to %s", promoted)
			}
			if fenceOn(t, promoted, alertsFence) == fence {
				return fmt.Errorf("the alert store merged nothing on %s", promoted)
			}
			return nil
		})
		cancel()
		if err != nil {
			t.Fatalf("failover %d: %s killed, %s promoted: the stores do not follow: %v", i, old, promoted, err)
		}
		followedIn := time.Since(start)
		if err := cl.Restart(ctx, old); err != nil {
			t.Fatalf("failover %d: %v", i, err)
		}
		t.Logf("failover %d: %s killed, %s promoted after %s, written to after %s, healed (%s back as its replica) after %s",
			i, old, promoted, promotedIn.Round(time.Millisecond), followedIn.Round(time.Millisecond), old,
			time.Since(start).Round(time.Millisecond))
	}
	halt()
	waitDrained(t, tl)
	if err := pollUntil(ctx, func() error {
		if n := al.Pending(); n > 0 {
			return fmt.Errorf("%d alert notifications still held", n)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}

	aloneDuringFailover(t, cl, c, slot, inc, tl, al)

	got := texts(mustEvents(t, tl, inc))
	count := map[string]int{}
	for _, g := range got {
		count[g]++
	}
	total, missing, duplicated := 0, 0, 0
	for writer, want := range accepted {
		total += len(want)
		for _, w := range want {
			switch n := count[w]; {
			case n == 0:
				missing++
				t.Errorf("%s: accepted event %s is not in the timeline", writer, w)
			case n > 1:
				duplicated++
				t.Errorf("%s: accepted event %s is in the timeline %d times", writer, w, n)
			}
		}
	}
	last := map[string]string{}
	for _, g := range got {
		writer, _, _ := strings.Cut(g, "-")
		if g < last[writer] {
			t.Errorf("%s after %s; want each writer's order", g, last[writer])
		}
		last[writer] = g
	}
	primary, err := cl.SlotOwner(ctx, slot)
	if err != nil {
		t.Fatal(err)
	}
	if n := xlenOnPrimary(t, primary, inc); n != int64(len(got)) {
		t.Errorf("the stream on %s has %d entries, Events() %d", primary, n, len(got))
	}
	if count["alone"] != 1 || len(got) != total+1 {
		t.Errorf("the timeline has %d events, the one written alone %d times; want the %d accepted and it once",
			len(got), count["alone"], total)
	}

	g := mustGroupCtx(t, al, "g1")
	inGroup := map[string]int{}
	for _, a := range g.Alerts {
		inGroup[a.Fingerprint]++
	}
	lostAlerts := 0
	for _, fp := range recorded {
		if inGroup[fp] != 1 {
			lostAlerts++
			t.Errorf("accepted notification of alert %s: the group has it %d times, want once", fp, inGroup[fp])
		}
	}
	alone := 0
	for i := 0; i < aloneNotifications; i++ {
		alone += inGroup[fmt.Sprintf("fp-alone-%02d", i)]
	}
	if alone != aloneNotifications || g.Firing != len(recorded)+aloneNotifications {
		t.Errorf("group firing = %d with %d of the alerts recorded alone; want the %d alerts recorded and the %d recorded alone",
			g.Firing, alone, len(recorded), aloneNotifications)
	}
	t.Logf("over %d cluster failovers: %d events accepted, %d in the timeline, %d duplicated, %d missing; "+
		"%d alert notifications accepted, %d alerts in the group, %d missing",
		clusterFailovers, total, len(got), duplicated, missing, len(recorded), len(g.Alerts), lostAlerts)
	if total == 0 || len(recorded) == 0 {
		t.Fatalf("%d events and %d notifications accepted; want some of each", total, len(recorded))
	}
}

// aloneNotifications is how many notifications aloneDuringFailover
// records: more than one flush batch.
const aloneNotifications = 70

// aloneDuringFailover kills the primary of slot once more, with nothing
// else writing, and checks that the promoted replica, alone in its shard
// until the killed node is back, counts nothing as safe: an event and a
// notification written to it stay held (the spool keeps them) and a claim
// fails closed, because a second failure now would lose them with it. The
// held notifications are merged on the primary all the same, so the group
// shows them meanwhile. Once the killed node is back as its replica, both
// are confirmed and written once. A client of its own that only runs WATCH
// transactions, which go-redis sends to a node directly, follows the
// promotion too.
func aloneDuringFailover(t *testing.T, cl *redistest.Cluster, c Client, slot int, inc string, tl *Timeline, al *Alerts) {
	t.Helper()
	ctx := topoCtx(t)
	dedupe := NewDeduper(c)
	if won, err := dedupe.Claim(ctx, "envelope:{"+inc+"}:before", time.Minute); err != nil || !won {
		t.Fatalf("claim before the failover = %v, %v; want won", won, err)
	}
	wc, err := New(ctx, Config{Addrs: cl.Addrs()})
	if err != nil {
		t.Fatal(err)
	}
	defer wc.Close()
	watcher := newAlerts(t, wc, t.TempDir())
	touch := func(ctx context.Context) error {
		_, err := watcher.UpdateState(ctx, "g1", false, func(*bot.AlertGroupState) error { return nil })
		return err
	}
	if err := touch(ctx); err != nil {
		t.Fatalf("UpdateState before the failover: %v", err)
	}
	old, err := cl.KillPrimaryOf(ctx, slot)
	if err != nil {
		t.Fatal(err)
	}
	promoted, err := cl.WaitFailover(ctx, slot, old)
	if err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithTimeout(ctx, followWithin)
	defer cancel()
	if err := pollUntil(wctx, func() error { return touch(wctx) }); err != nil {
		t.Fatalf("%s killed, %s promoted: a client running only WATCH transactions does not follow: %v", old, promoted, err)
	}
	events, fence := xlenOnPrimary(t, promoted, inc), fenceOn(t, promoted, alertsFence)
	if err := tl.Append(ctx, event(inc, "alone")); err != nil {
		t.Fatalf("Append(alone) = %v", err)
	}
	for i := 0; i < aloneNotifications; i++ {
		fp := fmt.Sprintf("fp-alone-%02d", i)
		if err := al.Record(ctx, "g1", note(at0, firing(fp, at0))); err != nil {
			t.Fatalf("Record(%s) = %v", fp, err)
		}
	}
	fctx, fcancel := context.WithTimeout(ctx, followWithin)
	defer fcancel()
	if err := pollUntil(fctx, func() error {
		if n := xlenOnPrimary(t, promoted, inc); n != events+1 {
			return fmt.Errorf("the stream on %s has %d events, want %d", promoted, n, events+1)
		}
		if fenceOn(t, promoted, alertsFence) == fence {
			return fmt.Errorf("the alert store merged nothing on %s", promoted)
		}
		return nil
	}); err != nil {
		t.Fatalf("%s killed, %s promoted: the stores do not follow: %v", old, promoted, err)
	}
	// On the promoted primary, not confirmed: a re-send finds no replica.
	if err := tl.Flush(ctx); !errors.Is(err, ErrNotReplicated) || tl.Pending() != 1 {
		t.Errorf("timeline Flush on a primary with no replica = %v with %d held; want ErrNotReplicated, the event held",
			err, tl.Pending())
	}
	if err := al.Flush(ctx); !errors.Is(err, ErrNotReplicated) || al.Pending() != aloneNotifications {
		t.Errorf("alerts Flush on a primary with no replica = %v with %d held; want ErrNotReplicated, the %d notifications held",
			err, al.Pending(), aloneNotifications)
	}
	// Held, yet merged on the primary: the group's message shows them.
	g := mustGroupCtx(t, al, "g1")
	shown := 0
	for _, a := range g.Alerts {
		if strings.HasPrefix(a.Fingerprint, "fp-alone-") {
			shown++
		}
	}
	if shown != aloneNotifications {
		t.Errorf("the group shows %d of the %d alerts recorded while its primary is alone, want all", shown, aloneNotifications)
	}
	if won, err := dedupe.Claim(ctx, "envelope:{"+inc+"}:alone", time.Minute); !errors.Is(err, ErrNotReplicated) || won {
		t.Errorf("claim on a primary with no replica = %v, %v; want ErrNotReplicated", won, err)
	}
	if err := cl.Restart(ctx, old); err != nil {
		t.Fatal(err)
	}
	waitDrained(t, tl)
	if err := pollUntil(ctx, func() error {
		if n := al.Pending(); n > 0 {
			return fmt.Errorf("%d alert notifications still held", n)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if won, err := dedupe.Claim(ctx, "envelope:{"+inc+"}:alone", time.Minute); err != nil || !won {
		t.Errorf("claim once %s is back as a replica = %v, %v; want won (the failed one was given back)", old, won, err)
	}
	if !t.Failed() {
		t.Logf("alone: %s killed, %s promoted: an event, %d notifications (shown meanwhile) and a claim waited for %s to be back as its replica",
			old, promoted, aloneNotifications, old)
	}
}

// xlenOnPrimary counts the entries of incident's stream on the cluster
// node at addr, which must serve it.
func xlenOnPrimary(t testing.TB, addr, incident string) int64 {
	t.Helper()
	c := goredis.NewClient(&goredis.Options{Addr: addr})
	defer c.Close()
	n, err := c.XLen(testCtx(t), StreamKey(incident)).Result()
	if err != nil {
		t.Fatalf("XLEN on %s: %v", addr, err)
	}
	return n
}

// timelineWritesOn counts what the timeline wrote for incident on the
// cluster node at addr, which must serve it: the events in its stream and
// the re-sends of events already there (which bump its fence).
func timelineWritesOn(t testing.TB, addr, incident string) int64 {
	t.Helper()
	return xlenOnPrimary(t, addr, incident) + fenceOn(t, addr, fenceKey(incident))
}

// fenceOn reads a fence counter on the cluster node at addr, which must
// serve it.
func fenceOn(t testing.TB, addr, key string) int64 {
	t.Helper()
	c := goredis.NewClient(&goredis.Options{Addr: addr})
	defer c.Close()
	n, err := c.Get(testCtx(t), key).Int64()
	if err != nil && err != goredis.Nil {
		t.Fatalf("GET %s on %s: %v", key, addr, err)
	}
	return n
}

// pollUntil calls check every 20 ms until it succeeds or ctx ends, and
// then returns check's last error.
func pollUntil(ctx context.Context, check func() error) error {
	for {
		err := check()
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(20 * time.Millisecond):
		}
	}
}
