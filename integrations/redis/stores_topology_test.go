package redis

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.uber.org/zap/zaptest"

	"github.com/opsbot/opsbot/bot"
	"github.com/opsbot/opsbot/integrations/redis/redistest"
)

// TestStoresOnEveryTopology runs every store's multi-key scripts and
// transactions on a single server, through Sentinel, and on a Cluster,
// where keys that one script or MULTI touches must share a slot (no
// CROSSSLOT) and go-redis must route each command to its node.
func TestStoresOnEveryTopology(t *testing.T) {
	for _, kind := range redistest.Kinds {
		t.Run(string(kind), func(t *testing.T) {
			tg := redistest.Shared(t, kind)
			c := tg.Client
			ctx := topoCtx(t)

			t.Run("incidents", func(t *testing.T) {
				s, err := NewIncidents(c)
				if err != nil {
					t.Fatal(err)
				}
				for i := 1; i <= 3; i++ {
					inc, created, err := s.Create(ctx, fmt.Sprintf("trigger:%d", i), bot.Incident{Title: "t", Channel: fmt.Sprintf("C%d", i),
						Status: bot.StatusInvestigating, Severity: bot.Sev2})
					if err != nil || !created || inc.Key != bot.IncidentKey(int64(i)) {
						t.Fatalf("Create %d = %s, %v, %v", i, inc.Key, created, err)
					}
				}
				var wg sync.WaitGroup
				for i := 0; i < 8; i++ {
					wg.Add(1)
					go func() {
						defer wg.Done()
						if _, err := s.Update(ctx, "INC-2", func(inc *bot.Incident) error {
							inc.Pinned = append(inc.Pinned, "x")
							return nil
						}); err != nil {
							t.Errorf("Update: %v", err)
						}
					}()
				}
				wg.Wait()
				if _, err := s.Update(ctx, "INC-3", func(inc *bot.Incident) error {
					inc.Status, inc.Channel = bot.StatusResolved, "C9"
					return nil
				}); err != nil {
					t.Fatal(err)
				}
				got, err := s.ByChannel(ctx, "C2")
				if err != nil || len(got.Pinned) != 8 {
					t.Fatalf("ByChannel(C2) = %+v, %v; want INC-2 with 8 updates", got, err)
				}
				if got, err := s.ByChannel(ctx, "C9"); err != nil || got.Key != "INC-3" {
					t.Fatalf("ByChannel(C9) = %s, %v; want INC-3", got.Key, err)
				}
				open, err := s.Open(ctx)
				if err != nil || len(open) != 2 {
					t.Fatalf("Open() = %d incidents, %v; want 2", len(open), err)
				}
			})

			t.Run("runbooks", func(t *testing.T) {
				s, err := NewRunbooks(c)
				if err != nil {
					t.Fatal(err)
				}
				a := bot.PendingApproval{ID: "A1", ExpiresAt: time.Now().Add(-time.Second)}
				if err := s.PutApproval(ctx, a, time.Minute); err != nil {
					t.Fatal(err)
				}
				if ok, err := s.SetApprovalMessage(ctx, "A1", bot.MessageRef{Channel: "C1", TS: "1.2"}); err != nil || !ok {
					t.Fatalf("SetApprovalMessage = %v, %v", ok, err)
				}
				if ids, err := s.ExpiredApprovals(ctx, time.Now(), 10); err != nil || !cmp.Equal(ids, []string{"A1"}) {
					t.Fatalf("ExpiredApprovals = %v, %v", ids, err)
				}
				if got, ok, err := s.TakeApproval(ctx, "A1"); err != nil || !ok || got.Message.TS != "1.2" {
					t.Fatalf("TakeApproval = %+v, %v, %v", got, ok, err)
				}
				if _, ok, err := s.TakeApproval(ctx, "A1"); err != nil || ok {
					t.Fatalf("second TakeApproval = %v, %v; want gone", ok, err)
				}
				if err := s.AppendAudit(ctx, bot.AuditRecord{ID: "R1", Event: "requested", Runbook: "probe"}); err != nil {
					t.Fatal(err)
				}
				if recs, err := s.RecentAudit(ctx, 5); err != nil || len(recs) != 1 {
					t.Fatalf("RecentAudit = %v, %v", recs, err)
				}
				release, _, ok, err := s.AcquireRunLock(ctx, "probe", bot.RunLockHolder{User: "U1"}, time.Minute)
				if err != nil || !ok {
					t.Fatalf("AcquireRunLock = %v, %v", ok, err)
				}
				if _, holder, ok, err := s.AcquireRunLock(ctx, "probe", bot.RunLockHolder{User: "U2"}, time.Minute); err != nil || ok || holder.User != "U1" {
					t.Fatalf("second AcquireRunLock = %v, %+v, %v; want held by U1", ok, holder, err)
				}
				release()
			})

			t.Run("oncall, dedupe, locks", func(t *testing.T) {
				oc := NewOnCall(c)
				snap := bot.OnCallSnapshot{Schedule: "P1", SyncedAt: time.Now()}
				if err := oc.SaveSnapshot(ctx, snap); err != nil {
					t.Fatal(err)
				}
				if _, ok, err := oc.Snapshot(ctx, "P1"); err != nil || !ok {
					t.Fatalf("Snapshot = %v, %v", ok, err)
				}
				if won, err := oc.ClaimOnce(ctx, "handoff:P1", time.Minute); err != nil || !won {
					t.Fatalf("ClaimOnce = %v, %v", won, err)
				}
				if won, err := NewDeduper(c).Claim(ctx, "envelope:E1", time.Minute); err != nil || !won {
					t.Fatalf("Claim = %v, %v", won, err)
				}
				l, err := NewLocker(c).Lock(ctx, "sched", time.Minute)
				if err != nil || l == nil {
					t.Fatalf("Lock = %v, %v", l, err)
				}
				if err := l.Renew(ctx, time.Minute); err != nil {
					t.Fatalf("Renew: %v", err)
				}
				if err := l.Release(ctx); err != nil {
					t.Fatalf("Release: %v", err)
				}
			})

			t.Run("timeline", func(t *testing.T) {
				tl := newTimelineWith(t, c, t.TempDir(), Durability{})
				// Incidents spread over the cluster's nodes; one batch of
				// held events pipelines to each node.
				var batch []heldEvent
				for i := 0; i < 20; i++ {
					ev := event(fmt.Sprintf("INC-%d", 100+i%10), fmt.Sprintf("e%02d", i))
					mustAppend(t, tl, ev)
					re := event(ev.Incident, fmt.Sprintf("r%02d", i))
					batch = append(batch, heldEvent{ev: re, data: mustJSON(t, re)})
				}
				safe, _, err := tl.storeBatch(ctx, batch)
				if err != nil {
					t.Fatalf("storeBatch: %v", err)
				}
				for i, ok := range safe {
					if !ok {
						t.Fatalf("event %d of the batch not stored", i)
					}
				}
				for i := 0; i < 10; i++ {
					inc := fmt.Sprintf("INC-%d", 100+i)
					want := []string{fmt.Sprintf("e%02d", i), fmt.Sprintf("e%02d", i+10), fmt.Sprintf("r%02d", i), fmt.Sprintf("r%02d", i+10)}
					if got := texts(mustEvents(t, tl, inc)); !cmp.Equal(got, want) {
						t.Errorf("Events(%s) = %q, want %q", inc, got, want)
					}
				}
			})
		})
	}
}

// TestTimelineFollowsSlotMoves appends to one incident while the cluster
// moves its slot to another node: go-redis follows the ASK and MOVED
// redirections (the stream and its seen set move one at a time, and a
// script over both is refused until both have), and every event is stored
// once, in order.
func TestTimelineFollowsSlotMoves(t *testing.T) {
	cl := redistest.NewCluster(t)
	ctx := topoCtx(t)
	c, err := New(ctx, Config{Addrs: cl.Addrs()})
	if err != nil {
		t.Fatalf("New on the cluster: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	cfg := timelineConfig(t, c, t.TempDir(), zaptest.NewLogger(t))
	tl, err := NewTimeline(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tl.Close() })
	startRun(t, tl)

	const inc = "INC-42"
	var want []string
	appendN := func(from, to int) {
		for i := from; i < to; i++ {
			name := fmt.Sprintf("e%03d", i)
			mustAppend(t, tl, event(inc, name))
			want = append(want, name)
		}
	}
	appendN(0, 20)
	slot, err := cl.Slot(ctx, StreamKey(inc))
	if err != nil {
		t.Fatal(err)
	}
	from, err := cl.SlotOwner(ctx, slot)
	if err != nil {
		t.Fatal(err)
	}
	var to string
	for _, a := range cl.Addrs() {
		if a != from {
			to = a
			break
		}
	}
	if err := cl.MoveSlot(ctx, slot, to, func() { appendN(20, 40) }); err != nil {
		t.Fatal(err)
	}
	appendN(40, 60)
	waitDrained(t, tl)
	if got := texts(mustEvents(t, tl, inc)); !cmp.Equal(got, want) {
		t.Fatalf("Events() across the slot move mismatch (-want +got):\n%s", cmp.Diff(want, got))
	}
	if owner, _ := cl.SlotOwner(ctx, slot); owner != to {
		t.Fatalf("slot owner after the move = %s, want %s", owner, to)
	}
}
