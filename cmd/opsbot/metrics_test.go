package main

import (
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/zap/zaptest"

	"github.com/opsbot/opsbot/bot"
	"github.com/opsbot/opsbot/bot/bottest"
	"github.com/opsbot/opsbot/cmd/opsbot/config"
	oredis "github.com/opsbot/opsbot/integrations/redis"
	"github.com/opsbot/opsbot/integrations/redis/redistest"
)

// TestDurabilityMetrics: with Redis down, an event held in the spool shows
// in the timeline gauges, and the failed commands in the Redis error count.
func TestDurabilityMetrics(t *testing.T) {
	srv := redistest.NewServer(t)
	clock := bottest.NewClock(time.Date(2026, 11, 22, 9, 0, 0, 0, time.UTC))
	reg := prometheus.NewRegistry()
	c, err := oredis.New(testCtx(t), oredis.Config{URL: srv.URL()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	a, err := buildApp(config.Config{}, appDeps{Chat: newConsoleWorkspace(io.Discard, clock), Redis: c, Clock: clock,
		Logger: zaptest.NewLogger(t), Registry: reg, SpoolDir: t.TempDir(), TeamID: consoleTeam})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = a.shutdown(context.Background()) })
	srv.Stop()
	ev := bot.TimelineEvent{ID: uuid.New(), Incident: "INC-1", Type: bot.TLNote, Actor: "U0ALICE", Time: clock.Now(), Text: "held"}
	if err := a.timeline.Append(testCtx(t), ev); err != nil {
		t.Fatal(err)
	}
	clock.Add(90 * time.Second)
	// Collectors that read Redis fail now; these must not.
	families, _ := reg.Gather()
	got := map[string]float64{}
	for _, f := range families {
		for _, m := range f.GetMetric() {
			switch {
			case m.GetGauge() != nil:
				got[f.GetName()] += m.GetGauge().GetValue()
			case m.GetCounter() != nil:
				got[f.GetName()] += m.GetCounter().GetValue()
			}
		}
	}
	want := map[string]float64{
		"opsbot_timeline_held_events":         1,
		"opsbot_timeline_oldest_held_seconds": 90,
		"opsbot_timeline_awaiting_replicas":   0,
	}
	for name, v := range want {
		if g, ok := got[name]; !ok || g != v {
			t.Errorf("%s = %v (present %v), want %v", name, g, ok, v)
		}
	}
	if got["opsbot_redis_errors_total"] == 0 {
		t.Error("opsbot_redis_errors_total is 0 after commands failed")
	}
}

// TestAlertNotificationsHeldMetric: an alert notification recorded while
// Redis is down is held, and opsbot_alert_notifications_held says so until
// Redis is back and the store has merged it.
func TestAlertNotificationsHeldMetric(t *testing.T) {
	srv := redistest.NewServer(t)
	clock := bottest.NewClock(time.Date(2026, 11, 22, 9, 0, 0, 0, time.UTC))
	reg := prometheus.NewRegistry()
	c, err := oredis.New(testCtx(t), oredis.Config{URL: srv.URL()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	file, err := config.ParseFile("opsbot.yaml", []byte("alerts:\n  default_channel: C0ALERTS\n"))
	if err != nil {
		t.Fatal(err)
	}
	a, err := buildApp(config.Config{File: file}, appDeps{Chat: newConsoleWorkspace(io.Discard, clock), Redis: c, Clock: clock,
		Logger: zaptest.NewLogger(t), Registry: reg, SpoolDir: t.TempDir(), TeamID: consoleTeam})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = a.shutdown(context.Background()) })
	held := func() float64 {
		t.Helper()
		// Collectors that read Redis fail during the outage; this one
		// must not.
		families, _ := reg.Gather()
		for _, f := range families {
			if f.GetName() == "opsbot_alert_notifications_held" {
				return f.GetMetric()[0].GetGauge().GetValue()
			}
		}
		t.Fatal("opsbot_alert_notifications_held is not registered")
		return 0
	}
	if got := held(); got != 0 {
		t.Fatalf("before the outage: held = %v, want 0", got)
	}
	srv.Stop()
	for i, fp := range []string{"a", "b"} {
		n := bot.AlertNotification{Source: bot.AlertSourceAlertmanager, Receiver: "opsbot", Status: bot.AlertFiring,
			GroupKey: `{}:{alertname="Disk"}`, GroupLabels: map[string]string{"alertname": "Disk"},
			Alerts: []bot.Alert{{Status: bot.AlertFiring, Fingerprint: fp, StartsAt: clock.Now(),
				Labels: map[string]string{"alertname": "Disk", "instance": fp}}},
			ReceivedAt: clock.Now().Add(time.Duration(i) * time.Second)}
		if err := a.alertStore.Record(testCtx(t), "g1", n); err != nil {
			t.Fatal(err)
		}
	}
	if got := held(); got != 2 {
		t.Errorf("during the outage: held = %v, want 2", got)
	}
	srv.Start()
	if err := a.alertStore.Flush(testCtx(t)); err != nil {
		t.Fatalf("flush: %v", err)
	}
	if got := held(); got != 0 {
		t.Errorf("after the outage: held = %v, want 0", got)
	}
}

func TestRunOutcome(t *testing.T) {
	zero, one := 0, 1
	tests := []struct {
		rec  bot.AuditRecord
		want string
	}{
		{bot.AuditRecord{Event: bot.AuditFinished, ExitCode: &zero}, "succeeded"},
		{bot.AuditRecord{Event: bot.AuditFinished, ExitCode: &one}, "failed"},
		{bot.AuditRecord{Event: bot.AuditFailed}, "not_started"},
		{bot.AuditRecord{Event: bot.AuditTimedOut}, "timed_out"},
		{bot.AuditRecord{Event: bot.AuditKilled}, "killed"},
		{bot.AuditRecord{Event: bot.AuditRefused}, "refused"},
		{bot.AuditRecord{Event: bot.AuditApprovalDenied}, "denied"},
		{bot.AuditRecord{Event: bot.AuditApprovalExpired}, "expired"},
		{bot.AuditRecord{Event: bot.AuditStarted}, ""},
		{bot.AuditRecord{Event: bot.AuditApprovalRequested}, ""},
	}
	for _, tt := range tests {
		if got := runOutcome(tt.rec); got != tt.want {
			t.Errorf("runOutcome(%s) = %q, want %q", tt.rec.Event, got, tt.want)
		}
	}
}

// fakeSnapshots is an on-call cache with one schedule synced.
type fakeSnapshots map[string]time.Time

func (f fakeSnapshots) Snapshot(_ context.Context, schedule string) (bot.OnCallSnapshot, bool, error) {
	at, ok := f[schedule]
	return bot.OnCallSnapshot{Schedule: schedule, SyncedAt: at}, ok, nil
}

func TestOnCallSyncAge(t *testing.T) {
	now := time.Date(2026, 11, 22, 9, 0, 0, 0, time.UTC)
	m := newOnCallSyncAge(func() []bot.ScheduleConfig { return []bot.ScheduleConfig{{ID: "PSCHED01"}, {ID: "PNEVER"}} },
		fakeSnapshots{"PSCHED01": now.Add(-3 * time.Minute)}, bot.ClockFunc(func() time.Time { return now }))
	want := `
# HELP opsbot_oncall_sync_age_seconds Age of the last good on-call sync of each schedule.
# TYPE opsbot_oncall_sync_age_seconds gauge
opsbot_oncall_sync_age_seconds{schedule="PSCHED01"} 180
`
	if err := testutil.CollectAndCompare(m, strings.NewReader(want)); err != nil {
		t.Error(err)
	}
}
