package redis_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/opsbot/opsbot/bot"
	"github.com/opsbot/opsbot/integrations/redis"
	"github.com/opsbot/opsbot/integrations/redis/redistest"
)

func newIncidents(t *testing.T) *redis.Incidents {
	t.Helper()
	s, err := redis.NewIncidents(redistest.New(t))
	if err != nil {
		t.Fatalf("NewIncidents: %v", err)
	}
	return s
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

var t0 = time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)

func TestIncidentsCreateOncePerTrigger(t *testing.T) {
	ctx, s := testCtx(t), newIncidents(t)
	tests := []struct {
		name        string
		trigger     string
		wantKey     string
		wantCreated bool
	}{
		{name: "first declaration", trigger: "T1", wantKey: "INC-1", wantCreated: true},
		{name: "second declaration", trigger: "T2", wantKey: "INC-2", wantCreated: true},
		{name: "redelivery of the first", trigger: "T1", wantKey: "INC-1", wantCreated: false},
		{name: "next number is not burnt by the redelivery", trigger: "T3", wantKey: "INC-3", wantCreated: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, created, err := s.Create(ctx, tt.trigger, bot.Incident{Title: "title " + tt.trigger,
				Severity: bot.Sev2, Status: bot.StatusInvestigating, DeclaredAt: t0})
			if err != nil {
				t.Fatalf("Create: %v", err)
			}
			if got.Key != tt.wantKey || created != tt.wantCreated {
				t.Errorf("Create(%s) = %s created=%v, want %s created=%v", tt.trigger, got.Key, created, tt.wantKey, tt.wantCreated)
			}
			if tt.wantCreated == false && got.Title != "title "+tt.trigger {
				t.Errorf("redelivery returned title %q, want the stored %q", got.Title, "title "+tt.trigger)
			}
		})
	}
}

func TestIncidentsConcurrentRedeliveryCreatesOne(t *testing.T) {
	ctx, s := testCtx(t), newIncidents(t)
	const n = 16
	var wg sync.WaitGroup
	var mu sync.Mutex
	created, keys := 0, map[string]bool{}
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			inc, c, err := s.Create(ctx, "same-trigger", bot.Incident{Title: "x", Status: bot.StatusInvestigating})
			if err != nil {
				t.Errorf("Create: %v", err)
				return
			}
			mu.Lock()
			defer mu.Unlock()
			keys[inc.Key] = true
			if c {
				created++
			}
		}()
	}
	wg.Wait()
	if created != 1 || len(keys) != 1 {
		t.Errorf("got %d created and keys %v, want 1 created and one key", created, keys)
	}
}

func TestIncidentsChannelIndexAndUpdate(t *testing.T) {
	ctx, s := testCtx(t), newIncidents(t)
	inc, _, err := s.Create(ctx, "T1", bot.Incident{Title: "db down", Status: bot.StatusInvestigating})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.ByChannel(ctx, "C1"); !errors.Is(err, bot.ErrIncidentNotFound) {
		t.Fatalf("ByChannel before the channel exists: got %v, want ErrIncidentNotFound", err)
	}
	if _, err := s.Update(ctx, inc.Key, func(i *bot.Incident) error { i.Channel = "C1"; return nil }); err != nil {
		t.Fatal(err)
	}
	got, err := s.ByChannel(ctx, "C1")
	if err != nil || got.Key != inc.Key {
		t.Fatalf("ByChannel(C1) = %s, %v; want %s", got.Key, err, inc.Key)
	}
	if _, err := s.Update(ctx, inc.Key, func(i *bot.Incident) error { i.Channel = "C2"; return nil }); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ByChannel(ctx, "C1"); !errors.Is(err, bot.ErrIncidentNotFound) {
		t.Errorf("old channel still indexed: got %v, want ErrIncidentNotFound", err)
	}
	if got, err := s.ByChannel(ctx, "C2"); err != nil || got.Key != inc.Key {
		t.Errorf("ByChannel(C2) = %s, %v; want %s", got.Key, err, inc.Key)
	}
}

func TestIncidentsUpdateAbortsOnError(t *testing.T) {
	ctx, s := testCtx(t), newIncidents(t)
	inc, _, _ := s.Create(ctx, "T1", bot.Incident{Title: "before", Status: bot.StatusInvestigating})
	boom := bot.Userf("no")
	_, err := s.Update(ctx, inc.Key, func(i *bot.Incident) error { i.Title = "after"; return boom })
	if !errors.Is(err, boom) {
		t.Fatalf("Update error = %v, want fn's error", err)
	}
	got, _ := s.Get(ctx, inc.Key)
	if got.Title != "before" {
		t.Errorf("title = %q after an aborted update, want %q", got.Title, "before")
	}
	if _, err := s.Update(ctx, "INC-999", func(*bot.Incident) error { return nil }); !errors.Is(err, bot.ErrIncidentNotFound) {
		t.Errorf("Update of unknown incident: got %v, want ErrIncidentNotFound", err)
	}
}

func TestIncidentsConcurrentUpdatesAllApply(t *testing.T) {
	ctx, s := testCtx(t), newIncidents(t)
	inc, _, _ := s.Create(ctx, "T1", bot.Incident{Title: "x", Status: bot.StatusInvestigating})
	const n = 20
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ts := fmt.Sprintf("1700000000.%06d", i)
			if _, err := s.Update(ctx, inc.Key, func(x *bot.Incident) error {
				x.Pinned = append(x.Pinned, ts)
				return nil
			}); err != nil {
				t.Errorf("Update: %v", err)
			}
		}()
	}
	wg.Wait()
	got, _ := s.Get(ctx, inc.Key)
	if len(got.Pinned) != n {
		t.Errorf("got %d pinned after %d concurrent updates, want %d (lost updates)", len(got.Pinned), n, n)
	}
}

func TestIncidentsOpenSet(t *testing.T) {
	ctx, s := testCtx(t), newIncidents(t)
	for _, k := range []string{"a", "b", "c", "d"} {
		if _, _, err := s.Create(ctx, k, bot.Incident{Title: k, Status: bot.StatusInvestigating}); err != nil {
			t.Fatal(err)
		}
	}
	resolve := func(key string, archiveAt time.Time, archived bool) {
		t.Helper()
		if _, err := s.Update(ctx, key, func(i *bot.Incident) error {
			i.Status, i.ArchiveAt, i.Archived = bot.StatusResolved, archiveAt, archived
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	resolve("INC-2", time.Time{}, false)       // resolved, never archived
	resolve("INC-3", t0.Add(time.Hour), false) // resolved, archive pending
	resolve("INC-4", t0, true)                 // resolved and archived
	open, err := s.Open(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, i := range open {
		got = append(got, i.Key)
	}
	if diff := cmp.Diff([]string{"INC-1", "INC-3"}, got); diff != "" {
		t.Errorf("Open() keys (-want +got):\n%s", diff)
	}
}

func TestIncidentsRoundTrip(t *testing.T) {
	ctx, s := testCtx(t), newIncidents(t)
	want := bot.Incident{Title: "checkout errors", Description: "5xx", Severity: bot.Sev1,
		Status: bot.StatusIdentified, Channel: "C9", ChannelName: "inc-1-checkout-errors", Commander: "U1",
		Roles: map[bot.Role]string{"comms": "U2"}, DeclaredBy: "U1", DeclaredAt: t0, LastUpdateAt: t0,
		SummaryRef: bot.MessageRef{Channel: "C9", TS: "1.1"}, Pinned: []string{"2.2"}}
	created, _, err := s.Create(ctx, "T", want)
	if err != nil {
		t.Fatal(err)
	}
	want.Key, want.Number = "INC-1", 1
	got, err := s.Get(ctx, created.Key)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("stored incident (-want +got):\n%s", diff)
	}
	if _, err := s.Get(ctx, "INC-77"); !errors.Is(err, bot.ErrIncidentNotFound) {
		t.Errorf("Get unknown: got %v, want ErrIncidentNotFound", err)
	}
}
