package oncall_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/opsbot/opsbot/bot"
	"github.com/opsbot/opsbot/bot/bottest"
	"github.com/opsbot/opsbot/commands/oncall"
	"github.com/opsbot/opsbot/integrations/pagerduty"
	"github.com/opsbot/opsbot/integrations/pagerduty/fakepd"
	"github.com/opsbot/opsbot/integrations/redis"
	"github.com/opsbot/opsbot/integrations/redis/redistest"
)

// TestTwoReplicasOneRedisExactlyOneHandoff runs two services against one
// Redis and one Slack, syncing at the same moments as two replicas without
// a lease would, over five daily shift changes.
func TestTwoReplicasOneRedisExactlyOneHandoff(t *testing.T) {
	ctx := context.Background()
	rdb := redistest.New(t)
	chat := newChat()
	clk := bottest.NewClock(utc("2026-03-28T06:59:00Z"))
	var replicas []*oncall.Service
	for i := 0; i < 2; i++ {
		svc, err := oncall.New(oncall.Config{
			Provider: fileProvider(t), Chat: chat, Cache: redis.NewOnCall(rdb), Locker: nil, Clock: clk,
			Logger: zaptest.NewLogger(t).Named([]string{"a", "b"}[i]),
			Settings: oncall.Settings{TimeZone: "Europe/Berlin", Schedules: []bot.ScheduleConfig{
				{ID: "berlin", Name: "berlin", HandoffChannel: "CHANDOFF"},
			}},
		})
		if err != nil {
			t.Fatalf("oncall.New: %v", err)
		}
		replicas = append(replicas, svc)
	}
	syncBoth := func() {
		var wg sync.WaitGroup
		for _, r := range replicas {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := r.SyncNow(ctx); err != nil {
					t.Errorf("SyncNow: %v", err)
				}
			}()
		}
		wg.Wait()
	}
	syncBoth()
	// Handoffs at 09:00 Berlin: 08:00Z before the DST change, 07:00Z after.
	boundaries := []string{"2026-03-28T08:00:00Z", "2026-03-29T07:00:00Z", "2026-03-30T07:00:00Z", "2026-03-31T07:00:00Z", "2026-04-01T07:00:00Z"}
	for _, b := range boundaries {
		for _, offset := range []time.Duration{-30 * time.Second, 5 * time.Second, 35 * time.Second, 65 * time.Second} {
			clk.Set(utc(b).Add(offset))
			syncBoth()
		}
	}
	var handoffs []bot.Message
	for _, p := range chat.ChannelPosts() {
		if strings.HasPrefix(p.Title, "On-call handoff") {
			handoffs = append(handoffs, p)
		}
	}
	// Dora's override (12:00-18:00 on 30 March) is not synced across here,
	// so each daily boundary is one change.
	if len(handoffs) != len(boundaries) {
		for _, h := range handoffs {
			t.Logf("handoff: %s", h.Text)
		}
		t.Fatalf("got %d handoff messages, want exactly %d (one per shift change)", len(handoffs), len(boundaries))
	}
	for i, want := range []string{"<@UANNA> hands over to <@UBEN>", "<@UBEN> hands over to <@UCLEO>", "<@UCLEO> hands over to <@UANNA>", "<@UANNA> hands over to <@UBEN>", "<@UBEN> hands over to <@UCLEO>"} {
		if !strings.Contains(handoffs[i].Text, want) {
			t.Errorf("handoff %d: got %q, want it to contain %q", i, handoffs[i].Text, want)
		}
	}
}

// pdWorld is a PagerDuty account where schedule PSCHED01 changes from
// Anna to Ben at 09:00 UTC on 30 March 2026.
func pdWorld(t *testing.T, now time.Time) *fakepd.Server {
	f := fakepd.New(t, "pd-test-token")
	f.SetNow(func() time.Time { return now })
	f.AddUser(fakepd.User{ID: "PANNA", Name: "Anna", Email: "anna@example.com"})
	f.AddUser(fakepd.User{ID: "PBEN", Name: "Ben", Email: "ben@example.com"})
	f.AddUser(fakepd.User{ID: "PZED", Name: "Zed Contractor", Email: "zed@contractor.example"})
	h := time.Date(2026, 3, 30, 9, 0, 0, 0, time.UTC)
	f.SetSchedule(fakepd.Schedule{ID: "PSCHED01", Name: "payments", Layers: [][]fakepd.Entry{{
		{UserID: "PANNA", Start: h.Add(-24 * time.Hour), End: h},
		{UserID: "PBEN", Start: h, End: h.Add(24 * time.Hour)},
	}}})
	f.AddEscalationPolicy(fakepd.EscalationPolicy{ID: "PEP1", Name: "payments", Rules: []fakepd.Rule{{Level: 1, ScheduleID: "PSCHED01"}}})
	f.AddEscalationPolicy(fakepd.EscalationPolicy{ID: "PEP2", Name: "payments-escalation", Rules: []fakepd.Rule{{Level: 2, ScheduleID: "PSCHED01"}}})
	return f
}

// TestPagerDutyFailureAnswersFromCache syncs from a fake PagerDuty, then
// makes it fail with 429s or 500s: /oncall answers from the cache and says
// how old the answer is.
func TestPagerDutyFailureAnswersFromCache(t *testing.T) {
	tests := []struct {
		name  string
		fault fakepd.Fault
	}{
		{name: "rate limited", fault: fakepd.Fault{Status: 429, RetryAfter: "2"}},
		{name: "server error", fault: fakepd.Fault{Status: 500}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			clk := bottest.NewClock(utc("2026-03-30T08:58:00Z"))
			fake := pdWorld(t, clk.Now())
			pd, err := pagerduty.New(pagerduty.Config{Token: "pd-test-token", APIURL: fake.URL, Logger: zaptest.NewLogger(t),
				MaxAttempts: 2, MinBackoff: time.Millisecond, MaxBackoff: 2 * time.Millisecond})
			if err != nil {
				t.Fatalf("pagerduty.New: %v", err)
			}
			chat := newChat()
			svc, err := oncall.New(oncall.Config{Provider: pd, ProviderName: "PagerDuty", Chat: chat, Cache: redis.NewOnCall(redistest.New(t)),
				Clock: clk, Logger: zaptest.NewLogger(t),
				// The 2-second Retry-After outlasts this budget, so the
				// answer comes from the cache without waiting it out.
				ProviderTimeout: 500 * time.Millisecond,
				Settings:        oncall.Settings{Schedules: []bot.ScheduleConfig{{ID: "PSCHED01", Name: "payments"}}}})
			if err != nil {
				t.Fatalf("oncall.New: %v", err)
			}
			if err := svc.SyncNow(ctx); err != nil {
				t.Fatalf("SyncNow: %v", err)
			}
			fake.FailNext(100, tc.fault)
			clk.Set(utc("2026-03-30T09:03:00Z"))
			r := bot.NewRouter()
			svc.Register(r)
			req := &bot.Request{Kind: bot.KindCommand, Command: "/oncall", Text: "payments", UserID: "UX"}
			h, _ := r.Route(req)
			resp, err := h(ctx, req)
			if err != nil {
				t.Fatalf("/oncall payments: %v", err)
			}
			got := text(resp)
			for _, want := range []string{
				// Past the 09:00 change, from the cached shifts: Ben now.
				"L1 <@UBEN> until 2026-03-31 09:00 UTC (in 23h 57m)",
				"L2 <@UBEN> until 2026-03-31 09:00 UTC",
				":warning: PagerDuty is not answering; showing the last good sync: payments as of 2026-03-30 08:58 UTC (5m ago).",
			} {
				if !strings.Contains(got, want) {
					t.Errorf("got:\n%s\nwant it to contain %q", got, want)
				}
			}
		})
	}
}
