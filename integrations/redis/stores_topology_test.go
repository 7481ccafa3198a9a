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

			t.Run("alerts", func(t *testing.T) {
				a, err := NewAlerts(AlertsConfig{Client: c, SpoolDir: t.TempDir(), Durability: Durability{}})
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { _ = a.Close() })
				if err := a.Record(ctx, "g1", note(at0, firing("f1", at0), firing("f2", at0))); err != nil {
					t.Fatal(err)
				}
				g, err := a.Group(ctx, "g1")
				if err != nil || g.Firing != 2 {
					t.Fatalf("Group = %d firing, %v; want 2", g.Firing, err)
				}
				if _, err := a.UpdateState(ctx, "g1", false, func(st *bot.AlertGroupState) error {
					st.Episode, st.Message = g.Episode, bot.MessageRef{Channel: "C1", TS: "1.1"}
					return nil
				}); err != nil {
					t.Fatal(err)
				}
				if _, err := a.ClaimState(ctx, "g1", true, func(st *bot.AlertGroupState) error {
					st.AckedBy = "U1"
					return nil
				}); err != nil {
					t.Fatal(err)
				}
				if g := mustGroupCtx(t, a, "g1"); g.State.AckedBy != "U1" || g.State.Message.TS != "1.1" || g.DueAt.IsZero() {
					t.Fatalf("state after the claim = %+v, due %s", g.State, g.DueAt)
				}
				if err := a.ScheduleTimer(ctx, "escalate", "g1", at0); err != nil {
					t.Fatal(err)
				}
				ids, err := a.ClaimTimers(ctx, "escalate", at0.Add(time.Second), time.Minute, 10)
				if err != nil || !cmp.Equal(ids, []string{"g1"}) {
					t.Fatalf("ClaimTimers = %v, %v", ids, err)
				}
				if ids, err := a.ClaimTimers(ctx, "escalate", at0.Add(time.Second), time.Minute, 10); err != nil || len(ids) != 0 {
					t.Fatalf("second ClaimTimers = %v, %v; want none (leased)", ids, err)
				}
			})

			t.Run("covers and file overrides", func(t *testing.T) {
				cv := NewCovers(c, WithDurability(Durability{}))
				now := at0
				for _, id := range []string{"CA", "CB"} {
					if err := cv.CreateCover(ctx, bot.CoverRequest{ID: id, Schedule: "P1", Requester: "U0", Start: now, End: now.Add(time.Hour)}, now); err != nil {
						t.Fatal(err)
					}
				}
				if _, won, err := cv.ClaimCover(ctx, "CA", "U1", now, now.Add(time.Minute)); err != nil || !won {
					t.Fatalf("ClaimCover = %v, %v", won, err)
				}
				if r, ok, err := cv.CompleteCover(ctx, "CA", "U1", "PO1", now); err != nil || !ok || r.State != bot.CoverTaken {
					t.Fatalf("CompleteCover = %+v, %v, %v", r, ok, err)
				}
				if r, ok, err := cv.CancelCover(ctx, "CB", "U0"); err != nil || !ok || r.State != bot.CoverCancelled {
					t.Fatalf("CancelCover = %+v, %v, %v", r, ok, err)
				}
				rec := bot.OverrideRecord{Override: bot.Override{ID: "PO1", Schedule: "P1", End: now.Add(time.Hour)}, CreatedAt: now}
				if err := cv.RecordOverride(ctx, rec); err != nil {
					t.Fatal(err)
				}
				if recs, err := cv.OverrideRecords(ctx, "P1", now); err != nil || len(recs) != 1 {
					t.Fatalf("OverrideRecords = %v, %v", recs, err)
				}
				fo := NewFileOverrides(c, WithDurability(Durability{}))
				var added []string
				for _, sc := range []string{"rota-a", "rota-b", "rota-a"} {
					o, err := fo.AddOverride(ctx, bot.Override{Schedule: sc, Start: now, End: now.Add(time.Hour)})
					if err != nil {
						t.Fatal(err)
					}
					added = append(added, o.ID)
				}
				if list, err := fo.Overrides(ctx, "rota-a", now, now.Add(time.Hour)); err != nil || len(list) != 2 || list[1].ID != added[2] {
					t.Fatalf("Overrides = %+v, %v; want %s last", list, err, added[2])
				}
				if err := fo.DeleteOverride(ctx, "rota-b", added[1]); err != nil {
					t.Fatal(err)
				}
			})

			t.Run("follow-ups and limits", func(t *testing.T) {
				fs, err := NewFollowups(c, WithDurability(Durability{}))
				if err != nil {
					t.Fatal(err)
				}
				f, created, err := fs.Add(ctx, "req-1", bot.Followup{Incident: "INC-1", Text: "x", Owner: "U1", RemindAt: at0, SyncAt: at0})
				if err != nil || !created {
					t.Fatalf("Add = %v, %v", created, err)
				}
				if _, err := fs.Claim(ctx, f.Incident, f.Number, func(g *bot.Followup) error {
					g.RemindAt = time.Time{}
					return nil
				}); err != nil {
					t.Fatal(err)
				}
				if _, err := fs.Update(ctx, f.Incident, f.Number, func(g *bot.Followup) error {
					g.Owner = "U2"
					return nil
				}); err != nil {
					t.Fatal(err)
				}
				if due, err := fs.RemindDue(ctx, at0, 10); err != nil || len(due) != 0 {
					t.Fatalf("RemindDue = %v, %v; want none", due, err)
				}
				if mine, err := fs.OpenByOwner(ctx, "U2"); err != nil || len(mine) != 1 {
					t.Fatalf("OpenByOwner = %v, %v", mine, err)
				}
				l := NewLimiter(c, nil)
				for i, want := range []bool{true, true, false} {
					if ok, _, err := l.Allow(ctx, "declare:U1", 2, time.Hour); err != nil || ok != want {
						t.Fatalf("Allow %d = %v, %v; want %v", i, ok, err, want)
					}
					if ok, _, err := l.Allow(ctx, "timeline:INC-1", 2, 0); err != nil || ok != want {
						t.Fatalf("cap Allow %d = %v, %v; want %v", i, ok, err, want)
					}
				}
			})

			t.Run("run slots", func(t *testing.T) {
				s, err := NewRunbooks(c, WithDurability(Durability{}))
				if err != nil {
					t.Fatal(err)
				}
				release, _, ok, err := s.AcquireRunSlot(ctx, "U1", 1, bot.RunSlot{RunID: "R1"}, at0, time.Hour)
				if err != nil || !ok {
					t.Fatalf("AcquireRunSlot = %v, %v", ok, err)
				}
				if _, running, ok, err := s.AcquireRunSlot(ctx, "U1", 1, bot.RunSlot{RunID: "R2"}, at0, time.Hour); err != nil || ok || len(running) != 1 {
					t.Fatalf("second AcquireRunSlot = %v, %v, %v; want full", ok, running, err)
				}
				release()
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

func mustGroupCtx(t *testing.T, a *Alerts, id string) bot.AlertGroup {
	t.Helper()
	g, err := a.Group(topoCtx(t), id)
	if err != nil {
		t.Fatalf("Group(%s): %v", id, err)
	}
	return g
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
