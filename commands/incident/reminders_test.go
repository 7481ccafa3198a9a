package incident

import (
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/opsbot/opsbot/bot"
	"github.com/opsbot/opsbot/bot/bottest"
)

func reminders(c *bottest.Chat, channel string) []bot.Message {
	var out []bot.Message
	for _, m := range c.PostsIn(channel) {
		if strings.Contains(m.Text, ":bell:") {
			out = append(out, m)
		}
	}
	return out
}

func TestRemindersBySeverity(t *testing.T) {
	tests := []struct {
		name    string
		sev     string
		advance time.Duration
		want    int
	}{
		{name: "sev1 before 15m", sev: "sev1", advance: 14 * time.Minute, want: 0},
		{name: "sev1 at 15m", sev: "sev1", advance: 15 * time.Minute, want: 1},
		{name: "sev2 at 29m", sev: "sev2", advance: 29 * time.Minute, want: 0},
		{name: "sev2 at 30m", sev: "sev2", advance: 30 * time.Minute, want: 1},
		{name: "sev3 at 60m", sev: "sev3", advance: time.Hour, want: 1},
		{name: "sev4 never", sev: "sev4", advance: 48 * time.Hour, want: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, nil)
			inc := h.declare(tt.sev + " something broke")
			h.clock.Add(tt.advance)
			if err := h.svc.Tick(h.ctx()); err != nil {
				t.Fatal(err)
			}
			got := reminders(h.chat, inc.Channel)
			if len(got) != tt.want {
				t.Fatalf("%d reminders after %s, want %d", len(got), tt.advance, tt.want)
			}
			if tt.want > 0 && !strings.HasPrefix(got[0].Text, "<@UALICE>") {
				t.Errorf("reminder = %q, want it addressed to the commander", got[0].Text)
			}
		})
	}
}

func TestReminderCountsFromLastUpdateAndRepeats(t *testing.T) {
	h := newHarness(t, nil)
	inc := h.declare("sev1 payments down")
	h.clock.Add(10 * time.Minute)
	h.must("UALICE", inc.Channel, "update investigating the card processor")
	h.clock.Add(10 * time.Minute) // 20m since declare, 10m since the update
	if err := h.svc.Tick(h.ctx()); err != nil {
		t.Fatal(err)
	}
	if n := len(reminders(h.chat, inc.Channel)); n != 0 {
		t.Fatalf("%d reminders 10m after an update, want 0", n)
	}
	h.clock.Add(5 * time.Minute)
	_ = h.svc.Tick(h.ctx())
	h.clock.Add(time.Minute)
	_ = h.svc.Tick(h.ctx()) // not again a minute later
	if n := len(reminders(h.chat, inc.Channel)); n != 1 {
		t.Fatalf("%d reminders 15-16m after the update, want 1", n)
	}
	h.clock.Add(14 * time.Minute)
	_ = h.svc.Tick(h.ctx())
	if n := len(reminders(h.chat, inc.Channel)); n != 2 {
		t.Errorf("%d reminders one interval after the first, want 2", n)
	}
	evs := h.events(inc.Key)
	if last := evs[len(evs)-1]; last.Type != bot.TLReminder || last.Actor != actorBot {
		t.Errorf("last event = %+v, want a reminder by opsbot", last)
	}
}

// Two replicas on one Redis, ticking at the same moment, remind once.
func TestReminderOnceAcrossReplicas(t *testing.T) {
	a := newHarness(t, nil)
	b := newHarnessOn(t, a.rdb, a.clock, a.chat, nil)
	inc := a.declare("sev2 search slow")
	a.clock.Add(31 * time.Minute)
	for round := 0; round < 3; round++ {
		var wg sync.WaitGroup
		for _, h := range []*harness{a, b, a, b} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := h.svc.Tick(h.ctx()); err != nil {
					t.Errorf("Tick: %v", err)
				}
			}()
		}
		wg.Wait()
	}
	if n := len(reminders(a.chat, inc.Channel)); n != 1 {
		t.Errorf("%d reminders from two replicas ticking together, want 1", n)
	}
	// Without the lease (a replica whose lock store is down, say), the
	// store's atomic claim still makes it once.
	c := newHarnessOn(t, a.rdb, a.clock, a.chat, func(cfg *Config) { cfg.Locker = nil })
	d := newHarnessOn(t, a.rdb, a.clock, a.chat, func(cfg *Config) { cfg.Locker = nil })
	a.clock.Add(31 * time.Minute)
	var wg sync.WaitGroup
	for _, h := range []*harness{c, d, c, d} {
		wg.Add(1)
		go func() { defer wg.Done(); _ = h.svc.Tick(h.ctx()) }()
	}
	wg.Wait()
	if n := len(reminders(a.chat, inc.Channel)); n != 2 {
		t.Errorf("%d reminders after a second interval without leases, want 2", n)
	}
}
