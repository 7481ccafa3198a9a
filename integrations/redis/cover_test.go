package redis_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/opsbot/opsbot/bot"
	"github.com/opsbot/opsbot/integrations/redis"
	"github.com/opsbot/opsbot/integrations/redis/redistest"
)

// TestCoverClaimOnce: of many concurrent claims exactly one wins, and only
// the winner completes or releases.
func TestCoverClaimOnce(t *testing.T) {
	ctx := context.Background()
	c := redistest.New(t)
	s := redis.NewCovers(c)
	t0 := time.Date(2026, 12, 1, 18, 0, 0, 0, time.UTC)
	req := bot.CoverRequest{ID: "c1", Schedule: "P1", Requester: "UREQ", Start: t0, End: t0.Add(4 * time.Hour), CreatedAt: t0.Add(-time.Hour)}
	if err := s.CreateCover(ctx, req, t0.Add(-time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateCover(ctx, req, t0.Add(-time.Hour)); err == nil {
		t.Error("second CreateCover with the same ID succeeded, want an error")
	}
	// Two store instances, as two replicas have.
	stores := []*redis.Covers{s, redis.NewCovers(c)}
	const clickers = 16
	var wg sync.WaitGroup
	wins := make(chan string, clickers)
	for i := 0; i < clickers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			user := fmt.Sprintf("U%02d", i)
			_, ok, err := stores[i%2].ClaimCover(ctx, "c1", user, t0.Add(-time.Hour), t0.Add(-time.Hour+time.Minute))
			if err != nil {
				t.Errorf("claim: %v", err)
			}
			if ok {
				wins <- user
			}
		}()
	}
	wg.Wait()
	close(wins)
	var winners []string
	for w := range wins {
		winners = append(winners, w)
	}
	if len(winners) != 1 {
		t.Fatalf("winners %v, want exactly one", winners)
	}
	winner := winners[0]
	if _, ok, _ := s.CompleteCover(ctx, "c1", "UOTHER", "PQ1", t0); ok {
		t.Error("someone without the claim completed it")
	}
	if _, ok, _ := s.CancelCover(ctx, "c1", "UREQ"); ok {
		t.Error("cancel succeeded while claimed, want refused")
	}
	got, ok, err := s.CompleteCover(ctx, "c1", winner, "PQ1", t0.Add(-59*time.Minute))
	if err != nil || !ok {
		t.Fatalf("complete by the claimer: ok %v, err %v", ok, err)
	}
	if got.State != bot.CoverTaken || got.Taker != winner || got.OverrideID != "PQ1" || got.Requester != "UREQ" || !got.End.Equal(req.End) {
		t.Errorf("after complete: %+v, want taken by %s with override PQ1", got, winner)
	}
	if _, ok, _ := s.ClaimCover(ctx, "c1", "ULATE", t0, t0.Add(time.Minute)); ok {
		t.Error("a taken request was claimed again")
	}
	if _, _, err := s.ClaimCover(ctx, "nope", "U1", t0, t0); !errors.Is(err, bot.ErrNotFound) {
		t.Errorf("claim of an unknown request: %v, want ErrNotFound", err)
	}
}

// TestCoverReleaseLeaseCancel walks the other transitions step by step.
func TestCoverReleaseLeaseCancel(t *testing.T) {
	ctx := context.Background()
	s := redis.NewCovers(redistest.New(t))
	t0 := time.Date(2026, 12, 1, 18, 0, 0, 0, time.UTC)
	if err := s.CreateCover(ctx, bot.CoverRequest{ID: "c2", Schedule: "P1", Requester: "UREQ", Start: t0, End: t0.Add(time.Hour)}, t0); err != nil {
		t.Fatal(err)
	}
	if err := s.SetCoverMessage(ctx, "c2", bot.MessageRef{Channel: "C1", TS: "1.2"}); err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		name      string
		do        func() (bot.CoverRequest, bool, error)
		wantOK    bool
		wantState bot.CoverState
		wantTaker string
	}{
		{"A claims", func() (bot.CoverRequest, bool, error) { return s.ClaimCover(ctx, "c2", "UA", t0, t0.Add(time.Minute)) }, true, bot.CoverClaimed, "UA"},
		{"B cannot while A's lease runs", func() (bot.CoverRequest, bool, error) {
			return s.ClaimCover(ctx, "c2", "UB", t0.Add(59*time.Second), t0.Add(2*time.Minute))
		}, false, bot.CoverClaimed, "UA"},
		{"B cannot release A's claim", func() (bot.CoverRequest, bool, error) { return s.ReleaseCover(ctx, "c2", "UB") }, false, bot.CoverClaimed, "UA"},
		{"A releases (override failed)", func() (bot.CoverRequest, bool, error) { return s.ReleaseCover(ctx, "c2", "UA") }, true, bot.CoverOpen, ""},
		{"B claims", func() (bot.CoverRequest, bool, error) { return s.ClaimCover(ctx, "c2", "UB", t0, t0.Add(time.Minute)) }, true, bot.CoverClaimed, "UB"},
		{"C takes over after B's lease ran out", func() (bot.CoverRequest, bool, error) {
			return s.ClaimCover(ctx, "c2", "UC", t0.Add(time.Minute+time.Millisecond), t0.Add(2*time.Minute))
		}, true, bot.CoverClaimed, "UC"},
		{"B, late, cannot complete", func() (bot.CoverRequest, bool, error) { return s.CompleteCover(ctx, "c2", "UB", "PQ9", t0) }, false, bot.CoverClaimed, "UC"},
		{"C releases", func() (bot.CoverRequest, bool, error) { return s.ReleaseCover(ctx, "c2", "UC") }, true, bot.CoverOpen, ""},
		{"not the requester cannot cancel", func() (bot.CoverRequest, bool, error) { return s.CancelCover(ctx, "c2", "UA") }, false, bot.CoverOpen, ""},
		{"the requester cancels", func() (bot.CoverRequest, bool, error) { return s.CancelCover(ctx, "c2", "UREQ") }, true, bot.CoverCancelled, ""},
		{"nobody claims a cancelled request", func() (bot.CoverRequest, bool, error) { return s.ClaimCover(ctx, "c2", "UA", t0, t0.Add(time.Minute)) }, false, bot.CoverCancelled, ""},
	}
	for _, st := range steps {
		got, ok, err := st.do()
		if err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		if ok != st.wantOK || got.State != st.wantState || got.Taker != st.wantTaker {
			t.Errorf("%s: got ok=%v state=%s taker=%q, want ok=%v state=%s taker=%q", st.name, ok, got.State, got.Taker, st.wantOK, st.wantState, st.wantTaker)
		}
		if got.Message != (bot.MessageRef{Channel: "C1", TS: "1.2"}) {
			t.Errorf("%s: message %+v lost", st.name, got.Message)
		}
	}
	// Every claim is remembered, released and lapsed ones too: each may
	// have left an override for whoever claims next to find.
	got, _, err := s.Cover(ctx, "c2")
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"UA", "UB", "UC"}; !slices.Equal(got.Attempts, want) {
		t.Errorf("attempts %q, want %q", got.Attempts, want)
	}
}

func TestOverrideRecordsAndFileOverrides(t *testing.T) {
	ctx := context.Background()
	c := redistest.New(t)
	s := redis.NewCovers(c)
	t0 := time.Date(2026, 12, 1, 18, 0, 0, 0, time.UTC)
	for i, end := range []time.Time{t0.Add(2 * time.Hour), t0.Add(time.Hour)} {
		rec := bot.OverrideRecord{Override: bot.Override{ID: fmt.Sprintf("PQ%d", i), Schedule: "P1", Start: t0, End: end},
			OnCall: "UA", For: "UB", By: "UB", CreatedAt: t0.Add(-time.Hour)}
		if err := s.RecordOverride(ctx, rec); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.OverrideRecords(ctx, "P1", t0.Add(time.Hour))
	if err != nil || len(got) != 1 || got[0].ID != "PQ0" {
		t.Errorf("records ending after %s: %+v, %v; want only PQ0", t0.Add(time.Hour), got, err)
	}
	all, _ := s.OverrideRecords(ctx, "P1", t0)
	if len(all) != 2 || all[0].ID != "PQ1" {
		t.Errorf("all records %+v, want PQ1 then PQ0 (soonest ending first)", all)
	}

	fo := redis.NewFileOverrides(c)
	a, err := fo.AddOverride(ctx, bot.Override{Schedule: "S", Person: bot.Person{Email: "a@x"}, Start: t0, End: t0.Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := fo.AddOverride(ctx, bot.Override{Schedule: "S", Person: bot.Person{Email: "b@x"}, Start: t0.Add(30 * time.Minute), End: t0.Add(3 * time.Hour)})
	list, err := fo.Overrides(ctx, "S", t0.Add(-time.Hour), t0.Add(time.Hour))
	if err != nil || len(list) != 2 || list[0].ID != a.ID || list[1].ID != b.ID {
		t.Errorf("overrides %+v, %v; want %s then %s", list, err, a.ID, b.ID)
	}
	if list, _ := fo.Overrides(ctx, "S", t0.Add(time.Hour), t0.Add(2*time.Hour)); len(list) != 1 || list[0].ID != b.ID {
		t.Errorf("overrides after the first ended: %+v, want only %s", list, b.ID)
	}
	if err := fo.DeleteOverride(ctx, "S", a.ID); err != nil {
		t.Fatal(err)
	}
	if err := fo.DeleteOverride(ctx, "S", a.ID); !errors.Is(err, bot.ErrNotFound) {
		t.Errorf("second delete: %v, want ErrNotFound", err)
	}
}
