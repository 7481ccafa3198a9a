package pagerduty

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/opsbot/opsbot/bot"
	"github.com/opsbot/opsbot/integrations/pagerduty/fakepd"
)

func TestPersonByEmail(t *testing.T) {
	f := world(t)
	c, _ := newClient(t, f, nil)
	ctx := context.Background()
	p, err := c.PersonByEmail(ctx, "Carol@Example.com")
	if err != nil || p.ProviderID != "PUCAROL" || p.Name != "Carol" {
		t.Fatalf("got %+v, %v; want Carol (PUCAROL)", p, err)
	}
	for i := 0; i < 2; i++ {
		if _, err := c.PersonByEmail(ctx, "dana@example.com"); !errors.Is(err, bot.ErrNotFound) {
			t.Fatalf("unknown address: %v, want ErrNotFound", err)
		}
	}
	// "carol@example.co" is a prefix of no one's address but would match a
	// prefix search of a longer one; only exact addresses count.
	if _, err := c.PersonByEmail(ctx, "carol@example.co"); !errors.Is(err, bot.ErrNotFound) {
		t.Errorf("prefix of an address: %v, want ErrNotFound", err)
	}
	if n := f.Requests("GET /users"); n != 3 {
		t.Errorf("%d user searches, want 3: hits and misses are cached", n)
	}
}

// TestCreateOverride: an override is made once with PagerDuty's shapes, and
// PagerDuty's refusals and failures come back as the provider-neutral
// classes with nothing made.
func TestCreateOverride(t *testing.T) {
	carol := bot.Person{Name: "Carol", Email: "carol@example.com", ProviderID: "PUCAROL"}
	start, end := t0.Add(10*time.Hour), t0.Add(14*time.Hour)
	tests := []struct {
		name       string
		schedule   string
		who        bot.Person
		start, end time.Time
		faults     []fakepd.Fault
		wantClass  error
		wantPosts  int
		wantMade   int
	}{
		{name: "made", schedule: "PSCHED01", who: carol, start: start, end: end, wantPosts: 1, wantMade: 1},
		{name: "reversed window is a 400", schedule: "PSCHED01", who: carol, start: end, end: start, wantClass: bot.ErrRejected, wantPosts: 1},
		{name: "unknown user is a 400", schedule: "PSCHED01", who: bot.Person{ProviderID: "PUNOBODY"}, start: start, end: end, wantClass: bot.ErrRejected, wantPosts: 1},
		{name: "unknown schedule is a 404", schedule: "PNOPE", who: carol, start: start, end: end, wantClass: bot.ErrNotFound, wantPosts: 1},
		{name: "429 is retried", schedule: "PSCHED01", who: carol, start: start, end: end, faults: []fakepd.Fault{{Status: 429, RetryAfter: "1"}}, wantPosts: 2, wantMade: 1},
		{name: "429 throughout is a rate limit", schedule: "PSCHED01", who: carol, start: start, end: end,
			faults: []fakepd.Fault{{Status: 429}, {Status: 429}, {Status: 429}}, wantClass: bot.ErrRateLimited, wantPosts: 3},
		{name: "503 is not repeated (it may have made it)", schedule: "PSCHED01", who: carol, start: start, end: end,
			faults: []fakepd.Fault{{Status: 503}}, wantClass: bot.ErrUnavailable, wantPosts: 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := world(t)
			c, _ := newClient(t, f, nil)
			before := len(f.Overrides("PSCHED01"))
			for _, fl := range tc.faults {
				f.FailNextOn("POST /schedules/{id}/overrides", 1, fl)
			}
			o, err := c.CreateOverride(context.Background(), tc.schedule, tc.who, tc.start, tc.end)
			if tc.wantClass != nil {
				if !errors.Is(err, tc.wantClass) {
					t.Errorf("got %v, want class %v", err, tc.wantClass)
				}
			} else if err != nil {
				t.Fatalf("CreateOverride: %v", err)
			} else if o.ID == "" || o.Person.Email != "carol@example.com" || !o.Start.Equal(tc.start) || !o.End.Equal(tc.end) || o.Schedule != "PSCHED01" {
				t.Errorf("got %+v, want carol's override %s–%s with an ID", o, tc.start, tc.end)
			}
			if n := f.Requests("POST /schedules/{id}/overrides"); n != tc.wantPosts {
				t.Errorf("%d POSTs, want %d", n, tc.wantPosts)
			}
			if n := len(f.Overrides("PSCHED01")) - before; n != tc.wantMade {
				t.Errorf("%d overrides made, want %d", n, tc.wantMade)
			}
		})
	}
}

// TestOverridesReflectedAndDeleted: /oncalls (and so Shifts) reflect an
// override made here; the list and delete endpoints round-trip it.
func TestOverridesReflectedAndDeleted(t *testing.T) {
	f := world(t)
	c, _ := newClient(t, f, nil)
	ctx := context.Background()
	carol := bot.Person{Name: "Carol", Email: "carol@example.com", ProviderID: "PUCAROL"}
	start, end := t0.Add(30*time.Hour), t0.Add(31*time.Hour)
	o, err := c.CreateOverride(ctx, "PSCHED01", carol, start, end)
	if err != nil {
		t.Fatal(err)
	}
	shifts, err := c.Shifts(ctx, "PSCHED01", start, end)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, s := range shifts {
		if s.Level == 1 && s.Person.ProviderID == "PUCAROL" && s.Start.Equal(start) && s.End.Equal(end) {
			found = true
		}
	}
	if !found {
		t.Errorf("shifts %+v lack carol's override at level 1", shifts)
	}
	list, err := c.Overrides(ctx, "PSCHED01", start, end)
	if err != nil || len(list) != 1 || list[0].ID != o.ID || list[0].Person.Email != "carol@example.com" {
		t.Errorf("overrides %+v, %v; want the one made", list, err)
	}
	if err := c.DeleteOverride(ctx, "PSCHED01", o.ID); err != nil {
		t.Fatalf("delete: %v", err)
	}
	if err := c.DeleteOverride(ctx, "PSCHED01", o.ID); !errors.Is(err, bot.ErrNotFound) {
		t.Errorf("second delete: %v, want ErrNotFound", err)
	}
	if list, _ := c.Overrides(ctx, "PSCHED01", start, end); len(list) != 0 {
		t.Errorf("overrides after delete: %+v", list)
	}
}
