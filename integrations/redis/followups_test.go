package redis_test

import (
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

func newFollowups(t *testing.T) *redis.Followups {
	t.Helper()
	s, err := redis.NewFollowups(redistest.New(t))
	if err != nil {
		t.Fatalf("NewFollowups: %v", err)
	}
	return s
}

func ids(fs []bot.Followup) []string {
	out := make([]string, len(fs))
	for i, f := range fs {
		out[i] = f.ID()
	}
	return out
}

func TestFollowupsAddNumbersPerIncidentOncePerRequest(t *testing.T) {
	ctx, s := testCtx(t), newFollowups(t)
	tests := []struct {
		name, key, incident string
		wantID              string
		wantCreated         bool
	}{
		{name: "first of INC-1", key: "r1", incident: "INC-1", wantID: "INC-1/1", wantCreated: true},
		{name: "second of INC-1", key: "r2", incident: "INC-1", wantID: "INC-1/2", wantCreated: true},
		{name: "first of INC-2 starts at 1", key: "r3", incident: "INC-2", wantID: "INC-2/1", wantCreated: true},
		{name: "redelivery of r2", key: "r2", incident: "INC-1", wantID: "INC-1/2", wantCreated: false},
		{name: "no number burnt by the redelivery", key: "r4", incident: "INC-1", wantID: "INC-1/3", wantCreated: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, created, err := s.Add(ctx, tt.key, bot.Followup{Incident: tt.incident, Text: "text " + tt.key, CreatedAt: t0})
			if err != nil {
				t.Fatalf("Add: %v", err)
			}
			if got.ID() != tt.wantID || created != tt.wantCreated {
				t.Errorf("Add(%s) = %s created=%v, want %s created=%v", tt.key, got.ID(), created, tt.wantID, tt.wantCreated)
			}
			if got.State != bot.FollowupOpen {
				t.Errorf("state = %q, want open", got.State)
			}
		})
	}
	all, err := s.ForIncident(ctx, "INC-1")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"INC-1/1", "INC-1/2", "INC-1/3"}, ids(all)); diff != "" {
		t.Errorf("ForIncident (-want +got):\n%s", diff)
	}
	if all[1].Text != "text r2" {
		t.Errorf("redelivery changed the record: text %q", all[1].Text)
	}
	if _, err := s.Get(ctx, "INC-1", 9); !errors.Is(err, bot.ErrFollowupNotFound) {
		t.Errorf("Get of a missing follow-up: err %v, want ErrFollowupNotFound", err)
	}
	if _, _, err := s.Add(ctx, "r9", bot.Followup{Incident: "nonsense"}); err == nil {
		t.Error("Add with a bad incident key succeeded")
	}
}

func TestFollowupsConcurrentAddsGetDistinctNumbers(t *testing.T) {
	ctx, s := testCtx(t), newFollowups(t)
	const n = 20
	var wg sync.WaitGroup
	got := make([]string, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			f, _, err := s.Add(ctx, fmt.Sprintf("req-%d", i), bot.Followup{Incident: "INC-7", Text: "x"})
			if err != nil {
				t.Errorf("Add: %v", err)
				return
			}
			got[i] = f.ID()
		}()
	}
	wg.Wait()
	seen := map[string]bool{}
	for _, id := range got {
		if seen[id] {
			t.Errorf("number handed out twice: %s", id)
		}
		seen[id] = true
	}
	all, _ := s.ForIncident(ctx, "INC-7")
	if len(all) != n {
		t.Errorf("%d follow-ups stored, want %d", len(all), n)
	}
}

func TestFollowupsIndexesFollowTheRecord(t *testing.T) {
	ctx, s := testCtx(t), newFollowups(t)
	day := func(d int) time.Time { return time.Date(2026, 3, d, 0, 0, 0, 0, time.UTC) }
	add := func(key, inc, owner string, due time.Time) bot.Followup {
		t.Helper()
		f, _, err := s.Add(ctx, key, bot.Followup{Incident: inc, Text: key, Owner: owner, DueAt: due, RemindAt: due})
		if err != nil {
			t.Fatal(err)
		}
		return f
	}
	a := add("a", "INC-1", "U0BOB", day(10))
	add("b", "INC-2", "U0BOB", time.Time{})
	add("c", "INC-2", "U0BOB", day(5))
	add("d", "INC-3", "U0CAROL", day(1))

	check := func(what string, want []string, got []bot.Followup, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if diff := cmp.Diff(want, ids(got)); diff != "" {
			t.Errorf("%s (-want +got):\n%s", what, diff)
		}
	}
	mine, err := s.OpenByOwner(ctx, "U0BOB")
	check("bob's, by due date, undated last", []string{"INC-2/2", "INC-1/1", "INC-2/1"}, mine, err)
	due, err := s.OpenDueBy(ctx, day(6))
	check("due by the 6th", []string{"INC-3/1", "INC-2/2"}, due, err)
	rem, err := s.RemindDue(ctx, day(10), 2)
	check("first two reminders", []string{"INC-3/1", "INC-2/2"}, rem, err)

	// Done: out of the open, owner and reminder indexes; a new owner moves it.
	if _, err := s.Update(ctx, "INC-2", 2, func(f *bot.Followup) error {
		f.State, f.RemindAt, f.SyncAt = bot.FollowupDone, time.Time{}, day(2)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Update(ctx, a.Incident, a.Number, func(f *bot.Followup) error { f.Owner = "U0CAROL"; return nil }); err != nil {
		t.Fatal(err)
	}
	mine, err = s.OpenByOwner(ctx, "U0BOB")
	check("bob's after done and reassign", []string{"INC-2/1"}, mine, err)
	carol, err := s.OpenByOwner(ctx, "U0CAROL")
	check("carol's", []string{"INC-3/1", "INC-1/1"}, carol, err)
	due, err = s.OpenDueBy(ctx, day(6))
	check("due by the 6th after done", []string{"INC-3/1"}, due, err)
	rem, err = s.RemindDue(ctx, day(31), 10)
	check("reminders after done", []string{"INC-3/1", "INC-1/1"}, rem, err)
	sync, err := s.SyncDue(ctx, day(3), 10)
	check("sync due", []string{"INC-2/2"}, sync, err)

	// An error from fn changes nothing.
	boom := errors.New("boom")
	if _, err := s.Update(ctx, "INC-3", 1, func(f *bot.Followup) error { f.Owner = ""; return boom }); !errors.Is(err, boom) {
		t.Errorf("Update error = %v, want boom", err)
	}
	if f, _ := s.Get(ctx, "INC-3", 1); f.Owner != "U0CAROL" {
		t.Errorf("aborted update changed owner to %q", f.Owner)
	}
	if _, err := s.Update(ctx, "INC-3", 5, func(*bot.Followup) error { return nil }); !errors.Is(err, bot.ErrFollowupNotFound) {
		t.Errorf("Update of a missing follow-up: %v", err)
	}
}

// TestFollowupsUpdateIsAtomicClaim: many concurrent updates that each claim a
// reminder only when none was sent yet, as replicas do: exactly one wins.
func TestFollowupsUpdateIsAtomicClaim(t *testing.T) {
	ctx, s := testCtx(t), newFollowups(t)
	f, _, err := s.Add(ctx, "k", bot.Followup{Incident: "INC-1", Text: "x", RemindAt: t0})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	wins := 0
	for range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			won := false
			_, err := s.Update(ctx, f.Incident, f.Number, func(g *bot.Followup) error {
				won = g.Reminders == 0
				if won {
					g.Reminders = 1
				}
				return nil
			})
			if err != nil {
				t.Error(err)
				return
			}
			if won {
				mu.Lock()
				wins++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if wins != 1 {
		t.Errorf("%d updates claimed the reminder, want 1", wins)
	}
}

func TestIncidentsDeclaredSince(t *testing.T) {
	ctx, s := testCtx(t), newIncidents(t)
	// 1,200 incidents, one an hour, so the walk crosses batches.
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range 1200 {
		if _, _, err := s.Create(ctx, fmt.Sprintf("d%d", i), bot.Incident{Title: "t", Severity: bot.Sev3,
			Status: bot.StatusInvestigating, DeclaredAt: base.Add(time.Duration(i) * time.Hour)}); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name      string
		since     time.Time
		wantN     int
		wantFirst string
	}{
		{name: "last day", since: base.Add(1176 * time.Hour), wantN: 24, wantFirst: "INC-1177"},
		{name: "across batches", since: base.Add(100 * time.Hour), wantN: 1100, wantFirst: "INC-101"},
		{name: "everything", since: base.Add(-time.Hour), wantN: 1200, wantFirst: "INC-1"},
		{name: "future", since: base.Add(2000 * time.Hour), wantN: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.DeclaredSince(ctx, tt.since)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != tt.wantN {
				t.Fatalf("got %d incidents, want %d", len(got), tt.wantN)
			}
			if tt.wantN > 0 && got[0].Key != tt.wantFirst {
				t.Errorf("first = %s, want %s", got[0].Key, tt.wantFirst)
			}
			for i := 1; i < len(got); i++ {
				if got[i].Number <= got[i-1].Number {
					t.Fatalf("not in number order at %d: %s after %s", i, got[i].Key, got[i-1].Key)
				}
			}
		})
	}
	empty := newIncidents(t)
	if got, err := empty.DeclaredSince(ctx, base); err != nil || len(got) != 0 {
		t.Errorf("empty store: %v, %v", got, err)
	}
}
