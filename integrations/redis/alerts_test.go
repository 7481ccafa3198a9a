package redis

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/opsbot/opsbot/bot"
	"github.com/opsbot/opsbot/integrations/redis/redistest"
)

var at0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func newAlerts(t testing.TB, c Client, dir string) *Alerts {
	t.Helper()
	a, err := NewAlerts(AlertsConfig{Client: c, SpoolDir: dir, Logger: zaptest.NewLogger(t),
		RecordTimeout: 500 * time.Millisecond, RetryMin: 5 * time.Millisecond, RetryMax: 50 * time.Millisecond})
	if err != nil {
		t.Fatalf("NewAlerts: %v", err)
	}
	t.Cleanup(func() { _ = a.Close() })
	return a
}

func firing(fp string, starts time.Time) bot.Alert {
	return bot.Alert{Status: bot.AlertFiring, Fingerprint: fp, StartsAt: starts,
		Labels: map[string]string{"alertname": "Disk", "instance": fp}}
}

func resolved(fp string, starts, ends time.Time) bot.Alert {
	a := firing(fp, starts)
	a.Status, a.EndsAt = bot.AlertResolved, ends
	return a
}

func note(received time.Time, alerts ...bot.Alert) bot.AlertNotification {
	return bot.AlertNotification{Source: bot.AlertSourceAlertmanager, Receiver: "opsbot", Status: bot.AlertFiring,
		GroupKey: `{}:{alertname="Disk"}`, GroupLabels: map[string]string{"alertname": "Disk"},
		CommonLabels: map[string]string{"alertname": "Disk"}, Alerts: alerts, ReceivedAt: received}
}

func mustRecord(t *testing.T, a *Alerts, id string, n bot.AlertNotification) {
	t.Helper()
	if err := a.Record(testCtx(t), id, n); err != nil {
		t.Fatalf("Record: %v", err)
	}
}

func mustGroup(t *testing.T, a *Alerts, id string) bot.AlertGroup {
	t.Helper()
	g, err := a.Group(testCtx(t), id)
	if err != nil {
		t.Fatalf("Group(%s): %v", id, err)
	}
	return g
}

func statuses(g bot.AlertGroup) string {
	var parts []string
	for _, al := range g.Alerts {
		parts = append(parts, al.Fingerprint+"="+string(al.Status))
	}
	return strings.Join(parts, ",")
}

func due(t *testing.T, a *Alerts, now time.Time) []string {
	t.Helper()
	ids, err := a.Due(testCtx(t), now, 100)
	if err != nil {
		t.Fatalf("Due: %v", err)
	}
	return ids
}

// TestAlertsMerge walks one group through an episode, duplicates and late
// deliveries included, step by step at fixed times.
func TestAlertsMerge(t *testing.T) {
	c := redistest.New(t)
	a := newAlerts(t, c, t.TempDir())
	const id = "g1"
	s1, s2 := at0.Add(-10*time.Minute), at0.Add(-5*time.Minute)

	// First firing: episode 1, due at once, listed as firing.
	mustRecord(t, a, id, note(at0, firing("a", s1)))
	g := mustGroup(t, a, id)
	if g.Episode != 1 || g.Firing != 1 || !g.EpisodeStart.Equal(s1) || g.Version != 1 || !g.Pending.Equal(at0) || g.Name() != "Disk" ||
		!g.DueAt.Equal(at0) {
		t.Fatalf("after first firing: %+v", g)
	}
	if got := due(t, a, at0); len(got) != 1 || got[0] != id {
		t.Errorf("due at %v: %v, want [%s]", at0, got, id)
	}
	if ids, _ := a.Firing(testCtx(t)); len(ids) != 1 {
		t.Errorf("Firing() = %v", ids)
	}

	// The same notification again (a retry, the HA peer): nothing changes.
	mustRecord(t, a, id, note(at0.Add(time.Second), firing("a", s1)))
	if g := mustGroup(t, a, id); g.Version != 1 {
		t.Errorf("duplicate changed the version to %d", g.Version)
	}

	// Rendered at version 1; the next edit may come a minute later.
	next := at0.Add(time.Minute)
	if err := a.Rendered(testCtx(t), id, 1, next); err != nil {
		t.Fatal(err)
	}
	if got := due(t, a, next); len(got) != 0 {
		t.Errorf("due after render: %v, want none", got)
	}
	if g := mustGroup(t, a, id); !g.DueAt.IsZero() || !g.NextEdit.Equal(next) || g.Shown != 1 {
		t.Errorf("after render: due %v, next edit %v, shown %d", g.DueAt, g.NextEdit, g.Shown)
	}

	// A second alert joins: due, but not before the next allowed edit.
	mustRecord(t, a, id, note(at0.Add(2*time.Second), firing("a", s1), firing("b", s2)))
	if got := due(t, a, at0.Add(30*time.Second)); len(got) != 0 {
		t.Errorf("due before the next edit: %v", got)
	}
	if got := due(t, a, next); len(got) != 1 {
		t.Errorf("due at the next edit: %v", got)
	}
	g = mustGroup(t, a, id)
	if g.Firing != 2 || g.Episode != 1 || statuses(g) != "a=firing,b=firing" || !g.Pending.Equal(at0.Add(2*time.Second)) {
		t.Errorf("after b joined: firing %d, episode %d, %s, pending %v", g.Firing, g.Episode, statuses(g), g.Pending)
	}

	// a resolves; then a late copy of the earlier notification arrives:
	// a stays resolved.
	endA := at0.Add(3 * time.Second)
	mustRecord(t, a, id, note(at0.Add(4*time.Second), resolved("a", s1, endA), firing("b", s2)))
	mustRecord(t, a, id, note(at0.Add(5*time.Second), firing("a", s1), firing("b", s2)))
	g = mustGroup(t, a, id)
	if g.Firing != 1 || statuses(g) != "b=firing,a=resolved" {
		t.Errorf("after the late copy: firing %d, %s", g.Firing, statuses(g))
	}

	// b resolves: the group is resolved, no longer listed, and expires.
	endB := at0.Add(6 * time.Second)
	mustRecord(t, a, id, note(at0.Add(7*time.Second), resolved("a", s1, endA), resolved("b", s2, endB)))
	g = mustGroup(t, a, id)
	if g.Firing != 0 || g.Episode != 1 {
		t.Errorf("resolved: firing %d, episode %d", g.Firing, g.Episode)
	}
	if ids, _ := a.Firing(testCtx(t)); len(ids) != 0 {
		t.Errorf("Firing() after resolution = %v", ids)
	}
	if ttl := c.PTTL(testCtx(t), alertGroupKey(id)).Val(); ttl <= 0 || ttl > DefaultResolvedTTL {
		t.Errorf("resolved group TTL %v, want up to %v", ttl, DefaultResolvedTTL)
	}

	// A late firing copy from the ended episode starts nothing.
	v := mustGroup(t, a, id).Version
	mustRecord(t, a, id, note(at0.Add(8*time.Second), firing("b", s2)))
	if g := mustGroup(t, a, id); g.Episode != 1 || g.Firing != 0 || g.Version != v {
		t.Errorf("late firing copy: episode %d, firing %d, version %d→%d", g.Episode, g.Firing, v, g.Version)
	}

	// a fires again: episode 2 with only the new alert, due at once, kept.
	s3 := at0.Add(time.Minute)
	mustRecord(t, a, id, note(at0.Add(2*time.Minute), firing("a", s3)))
	g = mustGroup(t, a, id)
	if g.Episode != 2 || g.Firing != 1 || statuses(g) != "a=firing" || !g.EpisodeStart.Equal(s3) {
		t.Errorf("new episode: %+v", g)
	}
	if got := due(t, a, at0.Add(2*time.Minute)); len(got) != 1 {
		t.Errorf("new episode not due at once: %v", got)
	}
	if ttl := c.PTTL(testCtx(t), alertGroupKey(id)).Val(); ttl != -1 {
		t.Errorf("firing group TTL %v, want none", ttl)
	}
	// A resolved copy from episode 1 does not join episode 2.
	mustRecord(t, a, id, note(at0.Add(3*time.Minute), firing("a", s3), resolved("b", s2, endB)))
	if g := mustGroup(t, a, id); statuses(g) != "a=firing" {
		t.Errorf("episode 1 leftover joined: %s", statuses(g))
	}
}

func TestAlertsResolvedOnlyGroupIsNotDue(t *testing.T) {
	a := newAlerts(t, redistest.New(t), t.TempDir())
	mustRecord(t, a, "g2", note(at0, resolved("a", at0.Add(-time.Hour), at0.Add(-time.Minute))))
	g := mustGroup(t, a, "g2")
	if g.Episode != 0 || g.Firing != 0 {
		t.Errorf("got episode %d firing %d, want 0 and 0", g.Episode, g.Firing)
	}
	if got := due(t, a, at0); len(got) != 0 {
		t.Errorf("a group never seen firing is due: %v", got)
	}
	// It fires later: episode 1.
	mustRecord(t, a, "g2", note(at0.Add(time.Minute), firing("a", at0.Add(30*time.Second))))
	if g := mustGroup(t, a, "g2"); g.Episode != 1 || statuses(g) != "a=firing" {
		t.Errorf("got episode %d, %s", g.Episode, statuses(g))
	}
}

func TestAlertsRenderedWhileChanging(t *testing.T) {
	a := newAlerts(t, redistest.New(t), t.TempDir())
	mustRecord(t, a, "g3", note(at0, firing("a", at0.Add(-time.Minute))))
	g := mustGroup(t, a, "g3")
	// A change lands while version 1 is being rendered.
	mustRecord(t, a, "g3", note(at0.Add(time.Second), firing("a", at0.Add(-time.Minute)), firing("b", at0)))
	next := at0.Add(10 * time.Second)
	if err := a.Rendered(testCtx(t), "g3", g.Version, next); err != nil {
		t.Fatal(err)
	}
	if got := due(t, a, next.Add(-time.Millisecond)); len(got) != 0 {
		t.Errorf("due before the next edit: %v", got)
	}
	if got := due(t, a, next); len(got) != 1 {
		t.Errorf("the change made during the render is not due at the next edit: %v", got)
	}
	if g := mustGroup(t, a, "g3"); !g.Pending.Equal(at0) || g.Shown != 1 || g.Version != 2 {
		t.Errorf("pending %v shown %d version %d, want the first unrendered receipt %v, shown 1 of 2", g.Pending, g.Shown, g.Version, at0)
	}
	// A zero next keeps the recorded next edit.
	if err := a.Rendered(testCtx(t), "g3", 1, time.Time{}); err != nil {
		t.Fatal(err)
	}
	if got := due(t, a, next.Add(-time.Millisecond)); len(got) != 0 {
		t.Errorf("a render without a next edit made the group due early: %v", got)
	}
	if err := a.Rendered(testCtx(t), "g3", 2, next.Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	if g := mustGroup(t, a, "g3"); !g.Pending.IsZero() {
		t.Errorf("pending %v after rendering everything", g.Pending)
	}
	// Rendering an unknown group clears it from the due set.
	if err := a.Reschedule(testCtx(t), "gone", at0); err != nil {
		t.Fatal(err)
	}
	if err := a.Rendered(testCtx(t), "gone", 1, at0); err != nil {
		t.Fatal(err)
	}
	if got := due(t, a, at0.Add(time.Hour)); len(got) != 0 {
		t.Errorf("due: %v", got)
	}
}

func TestAlertsUpdateState(t *testing.T) {
	c := redistest.New(t)
	a := newAlerts(t, c, t.TempDir())
	ctx := testCtx(t)
	if _, err := a.UpdateState(ctx, "nope", false, func(*bot.AlertGroupState) error { return nil }); !isNotFound(err) {
		t.Errorf("unknown group: got %v, want ErrAlertGroupNotFound", err)
	}
	mustRecord(t, a, "g4", note(at0, firing("a", at0.Add(-time.Minute))))
	if err := a.Rendered(ctx, "g4", 1, at0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	refused := fmt.Errorf("refused")
	if _, err := a.UpdateState(ctx, "g4", true, func(*bot.AlertGroupState) error { return refused }); err != refused {
		t.Errorf("fn error: got %v, want it as is", err)
	}
	if g := mustGroup(t, a, "g4"); g.Version != 1 {
		t.Errorf("an aborted update changed the version to %d", g.Version)
	}

	// Concurrent updates from "replicas" all land.
	var wg sync.WaitGroup
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := a.UpdateState(ctx, "g4", false, func(s *bot.AlertGroupState) error {
				s.Incident += "x"
				return nil
			}); err != nil {
				t.Errorf("UpdateState: %v", err)
			}
		}()
	}
	wg.Wait()
	if g := mustGroup(t, a, "g4"); len(g.State.Incident) != 20 || g.Version != 1 {
		t.Errorf("after 20 concurrent updates: %q, version %d", g.State.Incident, g.Version)
	}

	// touch: the version changes and the group is due at once, whatever
	// its next edit.
	st, err := a.UpdateState(ctx, "g4", true, func(s *bot.AlertGroupState) error { s.AckedBy = "U1"; return nil })
	if err != nil || st.AckedBy != "U1" {
		t.Fatalf("touch: %+v, %v", st, err)
	}
	if g := mustGroup(t, a, "g4"); g.Version != 2 || g.State.AckedBy != "U1" {
		t.Errorf("after touch: version %d, state %+v", g.Version, g.State)
	}
	if got := due(t, a, at0); len(got) != 1 {
		t.Errorf("touched group not due: %v", got)
	}
	if g := mustGroup(t, a, "g4"); g.DueAt.IsZero() || !g.DueAt.Before(at0) {
		t.Errorf("touched group due at %v, want at once", g.DueAt)
	}

	// The state expires with its resolved group.
	mustRecord(t, a, "g4", note(at0.Add(time.Second), resolved("a", at0.Add(-time.Minute), at0)))
	if _, err := a.UpdateState(ctx, "g4", false, func(s *bot.AlertGroupState) error { return nil }); err != nil {
		t.Fatal(err)
	}
	if ttl := c.PTTL(ctx, alertStateKey("g4")).Val(); ttl <= 0 {
		t.Errorf("state of a resolved group has TTL %v, want one", ttl)
	}
}

func isNotFound(err error) bool {
	return err != nil && strings.Contains(err.Error(), bot.ErrAlertGroupNotFound.Error())
}

func TestAlertsTimers(t *testing.T) {
	a := newAlerts(t, redistest.New(t), t.TempDir())
	ctx := testCtx(t)
	for i, id := range []string{"g1", "g2", "g3"} {
		if err := a.ScheduleTimer(ctx, "escalate", id, at0.Add(time.Duration(i)*time.Minute)); err != nil {
			t.Fatal(err)
		}
	}
	got, err := a.ClaimTimers(ctx, "escalate", at0.Add(time.Minute), time.Minute, 10)
	if err != nil || strings.Join(got, ",") != "g1,g2" {
		t.Fatalf("first claim: %v, %v; want g1,g2", got, err)
	}
	// Claimed timers are leased: another replica gets nothing until the
	// lease ends.
	if got, _ := a.ClaimTimers(ctx, "escalate", at0.Add(time.Minute), time.Minute, 10); len(got) != 0 {
		t.Errorf("second claim: %v, want none", got)
	}
	if err := a.CancelTimer(ctx, "escalate", "g1"); err != nil {
		t.Fatal(err)
	}
	if got, _ := a.ClaimTimers(ctx, "escalate", at0.Add(2*time.Minute), time.Minute, 10); strings.Join(got, ",") != "g2,g3" {
		t.Errorf("after the lease: %v, want g2,g3", got)
	}
	if got, _ := a.ClaimTimers(ctx, "other", at0.Add(time.Hour), time.Minute, 10); len(got) != 0 {
		t.Errorf("another kind: %v", got)
	}
}

// TestAlertsReplicas: two stores (replicas) recording the same
// notifications concurrently merge each change once.
func TestAlertsReplicas(t *testing.T) {
	c := redistest.New(t)
	r1, r2 := newAlerts(t, c, t.TempDir()), newAlerts(t, c, t.TempDir())
	var wg sync.WaitGroup
	for i := 0; i < 10; i++ {
		n := note(at0.Add(time.Duration(i)*time.Second), firing("a", at0.Add(-time.Minute)))
		for _, r := range []*Alerts{r1, r2} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := r.Record(testCtx(t), "g5", n); err != nil {
					t.Errorf("Record: %v", err)
				}
			}()
		}
	}
	wg.Wait()
	if g := mustGroup(t, r1, "g5"); g.Version != 1 || g.Episode != 1 || g.Firing != 1 {
		t.Errorf("got version %d, episode %d, firing %d; want 1, 1, 1", g.Version, g.Episode, g.Firing)
	}
}

// TestAlertsHeldWhileRedisIsDown: a notification recorded during an outage
// is durable in the spool, survives a restart of the process, and is merged
// once Redis is back — once, however often the spool is replayed.
func TestAlertsHeldWhileRedisIsDown(t *testing.T) {
	srv := redistest.NewServer(t, redistest.WithAppendOnly())
	dir := t.TempDir()
	a := newAlerts(t, srv.Client(), dir)
	srv.Stop()
	n := note(at0, firing("a", at0.Add(-time.Minute)), firing("b", at0.Add(-time.Minute)))
	mustRecord(t, a, "g6", n)
	if a.Pending() != 1 {
		t.Fatalf("Pending() = %d, want 1", a.Pending())
	}
	if n := alertSpoolBytes(t, dir); n == 0 {
		t.Fatalf("alert spools hold %d bytes; want the held notifications", n)
	}
	// Later notifications are held behind it.
	mustRecord(t, a, "g6", note(at0.Add(time.Second), resolved("a", at0.Add(-time.Minute), at0), firing("b", at0.Add(-time.Minute))))
	// The process stops while Redis is still down.
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	// A new process finds both in the spool.
	b := newAlerts(t, srv.Client(), dir)
	if b.Pending() != 2 {
		t.Fatalf("after restart Pending() = %d, want 2", b.Pending())
	}
	srv.Start()
	if err := b.Flush(testCtx(t)); err != nil {
		t.Fatalf("Flush: %v", err)
	}
	g := mustGroup(t, b, "g6")
	if g.Episode != 1 || g.Firing != 1 || statuses(g) != "b=firing,a=resolved" || g.Version != 2 {
		t.Errorf("after flush: episode %d firing %d %s version %d", g.Episode, g.Firing, statuses(g), g.Version)
	}
	if n := alertSpoolBytes(t, dir); n != 0 {
		t.Errorf("alert spools still hold %d bytes", n)
	}
	// Replaying the same notifications (a crash before the spool was
	// emptied) changes nothing.
	mustRecord(t, b, "g6", n)
	if g := mustGroup(t, b, "g6"); g.Version != 2 || statuses(g) != "b=firing,a=resolved" {
		t.Errorf("replay changed the group: version %d, %s", g.Version, statuses(g))
	}
}

// TestAlertsRunFlushes: the flusher merges held notifications by itself
// once Redis is back.
func TestAlertsRunFlushes(t *testing.T) {
	srv := redistest.NewServer(t)
	a := newAlerts(t, srv.Client(), t.TempDir())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run() = %v", err)
		}
	}()
	srv.Stop()
	mustRecord(t, a, "g7", note(at0, firing("a", at0.Add(-time.Minute))))
	srv.Start()
	deadline := time.Now().Add(30 * time.Second) // a hang guard, not a speed requirement
	for a.Pending() > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("still %d held", a.Pending())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if g := mustGroup(t, a, "g7"); g.Episode != 1 {
		t.Errorf("episode %d", g.Episode)
	}
}

func TestAlertsRefusesBadInput(t *testing.T) {
	a := newAlerts(t, redistest.New(t), t.TempDir())
	if err := a.Record(testCtx(t), "Bad ID", note(at0, firing("a", at0))); err == nil {
		t.Error("bad ID accepted")
	}
	if err := a.Record(testCtx(t), "g8", note(at0)); err == nil {
		t.Error("no alerts accepted")
	}
	if _, err := a.Group(testCtx(t), "../x"); !isNotFound(err) {
		t.Errorf("Group(bad ID) = %v", err)
	}
	// A sender listing one alert twice does not count it twice.
	mustRecord(t, a, "g8", note(at0, firing("a", at0), firing("a", at0)))
	if g := mustGroup(t, a, "g8"); g.Firing != 1 {
		t.Errorf("firing %d, want 1", g.Firing)
	}
}

// TestAlertsKeysShareOneSlot: every key of a multi-key script carries the
// same hash tag, so Redis Cluster runs it.
func TestAlertsKeysShareOneSlot(t *testing.T) {
	keys := []string{alertGroupKey("x"), alertAlertsKey("x"), alertStateKey("x"), alertsDueKey, alertsFiring, alertTimerKey("escalate")}
	for _, k := range keys {
		open, end := strings.Index(k, "{"), strings.Index(k, "}")
		if open < 0 || end < open || k[open:end+1] != alertsTag {
			t.Errorf("key %q does not hash on %s", k, alertsTag)
		}
	}
}

// alertSpoolBytes is the size of every alert spool file in dir together.
func alertSpoolBytes(t testing.TB, dir string) int64 {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "alerts*"+spoolSuffix))
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	for _, f := range files {
		st, err := os.Stat(f)
		if err != nil {
			t.Fatal(err)
		}
		n += st.Size()
	}
	return n
}
