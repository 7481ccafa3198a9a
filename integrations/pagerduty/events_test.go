package pagerduty

import (
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/opsbot/opsbot/bot"
	"github.com/opsbot/opsbot/integrations/pagerduty/fakepd"
)

const routingKey = "R0UT1NGKEY0123456789abcdefghijkl" // 32 characters, a secret

func newEvents(t *testing.T, fake *fakepd.EventsServer) (*Events, *sleeps) {
	t.Helper()
	e, err := NewEvents(EventsConfig{URL: fake.URL, Logger: zaptest.NewLogger(t), Timeout: 2 * time.Second,
		MaxAttempts: 3, MinBackoff: time.Millisecond, MaxBackoff: 4 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	s := &sleeps{}
	e.c.sleep = s.sleep
	return e, s
}

func trigger(dedup string) bot.PagerEvent {
	return bot.PagerEvent{RoutingKey: routingKey, Action: bot.PagerTrigger, DedupKey: dedup,
		Summary: "Disk full on db-1", Source: "opsbot", Severity: "critical",
		Details: map[string]string{"alertname": "DiskFull"}, Links: []bot.PagerLink{{Href: "https://fake.slack.com/archives/C1/p1", Text: "Slack"}}}
}

func TestEventsLifecycle(t *testing.T) {
	fake := fakepd.NewEvents(t)
	fake.AddRoutingKey(routingKey, "checkout")
	e, _ := newEvents(t, fake)
	ctx := t.Context()

	key, err := e.Enqueue(ctx, trigger("alertgroup-g1"))
	if err != nil || key != "alertgroup-g1" {
		t.Fatalf("trigger: %q, %v", key, err)
	}
	// A second trigger with the same dedup key (a retry, another replica)
	// adds nothing at PagerDuty.
	if _, err := e.Enqueue(ctx, trigger("alertgroup-g1")); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Enqueue(ctx, bot.PagerEvent{RoutingKey: routingKey, Action: bot.PagerResolve, DedupKey: "alertgroup-g1"}); err != nil {
		t.Fatal(err)
	}
	alerts := fake.Alerts()
	if len(alerts) != 1 || alerts[0].Status != "resolved" || alerts[0].Triggers != 2 || alerts[0].Service != "checkout" {
		t.Fatalf("got alerts %+v, want one resolved alert triggered twice", alerts)
	}
	evs := fake.Events()
	if len(evs) != 3 || evs[0].Severity != "critical" || evs[0].Summary != "Disk full on db-1" ||
		evs[0].Details["alertname"] != "DiskFull" || len(evs[0].Links) != 1 || evs[0].Client != "opsbot" {
		t.Errorf("got events %+v", evs)
	}
	// A trigger after the resolve is a new alert.
	if _, err := e.Enqueue(ctx, trigger("alertgroup-g1")); err != nil {
		t.Fatal(err)
	}
	if n := len(fake.Alerts()); n != 2 {
		t.Errorf("got %d alerts after a new trigger, want 2", n)
	}
}

func TestEventsErrors(t *testing.T) {
	fake := fakepd.NewEvents(t)
	fake.AddRoutingKey(routingKey, "checkout")
	ctx := t.Context()

	t.Run("429 is retried after Retry-After", func(t *testing.T) {
		e, s := newEvents(t, fake)
		fake.FailNext(1, fakepd.Fault{Status: http.StatusTooManyRequests, RetryAfter: "2"})
		if _, err := e.Enqueue(ctx, trigger("k429")); err != nil {
			t.Fatal(err)
		}
		if len(s.got) != 1 || s.got[0] != 2*time.Second {
			t.Errorf("waits %v, want [2s]", s.got)
		}
	})
	t.Run("5xx is retried, then given up", func(t *testing.T) {
		e, s := newEvents(t, fake)
		fake.FailNext(3, fakepd.Fault{Status: http.StatusBadGateway})
		_, err := e.Enqueue(ctx, trigger("k502"))
		if !errors.Is(err, ErrUnavailable) || len(s.got) != 2 {
			t.Errorf("got %v after %d waits, want ErrUnavailable after 2", err, len(s.got))
		}
	})
	t.Run("an invalid event is refused with PagerDuty's reason, the key redacted", func(t *testing.T) {
		e, s := newEvents(t, fake)
		ev := trigger("kbad")
		ev.Severity = "sev1"
		_, err := e.Enqueue(ctx, ev)
		if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "payload.severity") || len(s.got) != 0 {
			t.Errorf("got %v (%d retries), want ErrInvalid naming payload.severity, no retry", err, len(s.got))
		}
	})
	t.Run("an unknown routing key", func(t *testing.T) {
		e, _ := newEvents(t, fake)
		ev := trigger("kunknown")
		ev.RoutingKey = strings.Repeat("x", 32)
		_, err := e.Enqueue(ctx, ev)
		if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "Invalid routing key") || strings.Contains(err.Error(), ev.RoutingKey) {
			t.Errorf("got %v, want ErrInvalid without the key", err)
		}
	})
	t.Run("checked before sending", func(t *testing.T) {
		e, _ := newEvents(t, fake)
		for _, ev := range []bot.PagerEvent{
			{Action: bot.PagerTrigger},
			{RoutingKey: routingKey, Action: "page"},
			{RoutingKey: routingKey, Action: bot.PagerResolve},
		} {
			if _, err := e.Enqueue(ctx, ev); !errors.Is(err, ErrInvalid) {
				t.Errorf("%+v: got %v, want ErrInvalid", ev, err)
			}
		}
	})
	for _, u := range []string{"ftp://x", "http://user:pw@x", "://"} {
		if _, err := NewEvents(EventsConfig{URL: u}); err == nil {
			t.Errorf("NewEvents(%q): nil error", u)
		}
	}
}
