package oncall

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/opsbot/opsbot/bot"
	"github.com/opsbot/opsbot/integrations/oncallfile"
)

// memOverrides is an in-process oncallfile.OverrideStore.
type memOverrides struct {
	mu  sync.Mutex
	all []bot.Override
}

func (m *memOverrides) AddOverride(_ context.Context, o bot.Override) (bot.Override, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	o.ID = string(rune('A' + len(m.all)))
	m.all = append(m.all, o)
	return o, nil
}

func (m *memOverrides) Overrides(_ context.Context, sc string, from, to time.Time) ([]bot.Override, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []bot.Override
	for _, o := range m.all {
		if o.Schedule == sc && o.Start.Before(to) && o.End.After(from) {
			out = append(out, o)
		}
	}
	return out, nil
}

func (m *memOverrides) DeleteOverride(context.Context, string, string) error { return nil }

// TestCalculatorStepByStep walks the rotation calculator (runs, current,
// next) through fixed moments of the Berlin test rotation (daily 09:00
// handoffs across the 29 March 2026 clock change, a file override for Dora
// on 30 March) with overrides made from chat on top: Erin across the night
// of the change, Ben inside Dora's override (the later one wins), and Cleo
// extending her own turn (joined into one run). Each step says who is on
// call at level 1 from when until when, and who is next.
func TestCalculatorStepByStep(t *testing.T) {
	ctx := context.Background()
	base, err := oncallfile.Load("../../integrations/oncallfile/testdata/berlin.yaml")
	if err != nil {
		t.Fatal(err)
	}
	store := &memOverrides{}
	p := base.WithOverrides(store)
	at := func(s string) time.Time {
		v, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	person := func(name string) bot.Person {
		e := map[string]string{"Erin": "erin@example.com", "Ben": "ben@example.com", "Cleo": "cleo@example.com"}[name]
		return bot.Person{Name: name, Email: e}
	}
	for _, o := range []struct{ who, from, to string }{
		{"Erin", "2026-03-28T20:00:00Z", "2026-03-29T09:00:00Z"},
		{"Ben", "2026-03-30T12:00:00Z", "2026-03-30T13:00:00Z"},
		{"Cleo", "2026-03-30T06:00:00Z", "2026-03-30T08:00:00Z"},
	} {
		if _, err := p.CreateOverride(ctx, "berlin", person(o.who), at(o.from), at(o.to)); err != nil {
			t.Fatal(err)
		}
	}
	shifts, err := p.Shifts(ctx, "berlin", at("2026-03-27T00:00:00Z"), at("2026-04-03T00:00:00Z"))
	if err != nil {
		t.Fatal(err)
	}
	sc := bot.ScheduleConfig{ID: "berlin", Name: "Berlin"}
	snap := bot.OnCallSnapshot{Schedule: "berlin", SyncedAt: at("2026-03-27T00:00:00Z"), Shifts: shifts}
	steps := []struct {
		at                string
		who, from, until  string
		nextWho, nextFrom string
	}{
		{"2026-03-28T19:59:59Z", "ben@example.com", "2026-03-28T08:00:00Z", "2026-03-28T20:00:00Z", "erin@example.com", "2026-03-28T20:00:00Z"},
		{"2026-03-28T20:00:00Z", "erin@example.com", "2026-03-28T20:00:00Z", "2026-03-29T09:00:00Z", "cleo@example.com", "2026-03-29T09:00:00Z"},
		{"2026-03-29T06:59:59Z", "erin@example.com", "2026-03-28T20:00:00Z", "2026-03-29T09:00:00Z", "cleo@example.com", "2026-03-29T09:00:00Z"},
		{"2026-03-29T09:00:00Z", "cleo@example.com", "2026-03-29T09:00:00Z", "2026-03-30T08:00:00Z", "anna@example.com", "2026-03-30T08:00:00Z"},
		{"2026-03-30T07:59:59Z", "cleo@example.com", "2026-03-29T09:00:00Z", "2026-03-30T08:00:00Z", "anna@example.com", "2026-03-30T08:00:00Z"},
		{"2026-03-30T08:00:00Z", "anna@example.com", "2026-03-30T08:00:00Z", "2026-03-30T10:00:00Z", "dora@example.com", "2026-03-30T10:00:00Z"},
		{"2026-03-30T10:00:00Z", "dora@example.com", "2026-03-30T10:00:00Z", "2026-03-30T12:00:00Z", "ben@example.com", "2026-03-30T12:00:00Z"},
		{"2026-03-30T12:30:00Z", "ben@example.com", "2026-03-30T12:00:00Z", "2026-03-30T13:00:00Z", "dora@example.com", "2026-03-30T13:00:00Z"},
		{"2026-03-30T13:00:00Z", "dora@example.com", "2026-03-30T13:00:00Z", "2026-03-30T16:00:00Z", "anna@example.com", "2026-03-30T16:00:00Z"},
		{"2026-03-30T16:00:00Z", "anna@example.com", "2026-03-30T16:00:00Z", "2026-03-31T07:00:00Z", "ben@example.com", "2026-03-31T07:00:00Z"},
	}
	for _, st := range steps {
		now := at(st.at)
		var cur, nxt []run
		for _, r := range current(sc, snap, now) {
			if r.level == 1 {
				cur = append(cur, r)
			}
		}
		for _, r := range next(sc, snap, now) {
			if r.level == 1 {
				nxt = append(nxt, r)
			}
		}
		if len(cur) != 1 || cur[0].person.Email != st.who || !cur[0].start.Equal(at(st.from)) || !cur[0].end.Equal(at(st.until)) {
			t.Errorf("at %s: on call %+v, want %s from %s until %s", st.at, cur, st.who, st.from, st.until)
		}
		if len(nxt) != 1 || nxt[0].person.Email != st.nextWho || !nxt[0].start.Equal(at(st.nextFrom)) {
			t.Errorf("at %s: next %+v, want %s from %s", st.at, nxt, st.nextWho, st.nextFrom)
		}
	}
}
