package oncallfile

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/opsbot/opsbot/bot"
)

func utc(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t.UTC()
}

func who(name string) bot.Person {
	e := strings.ToLower(name) + "@example.com"
	return bot.Person{Name: name, Email: e, ProviderID: e}
}

func loadBerlin(t *testing.T) *Provider {
	t.Helper()
	p, err := Load("testdata/berlin.yaml")
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	return p
}

// TestOnCallAtFixedDates checks who is on call at level 1 at moments around
// shift boundaries, both DST changes in Europe/Berlin, and an override.
func TestOnCallAtFixedDates(t *testing.T) {
	p := loadBerlin(t)
	tests := []struct {
		name  string
		at    string
		who   string
		start string
		end   string
	}{
		{name: "before the rotation starts nobody", at: "2026-03-27T07:59:59Z"},
		{name: "first turn starts at 09:00 CET", at: "2026-03-27T08:00:00Z", who: "Anna", start: "2026-03-27T08:00:00Z", end: "2026-03-28T08:00:00Z"},
		{name: "last second of a turn", at: "2026-03-28T07:59:59Z", who: "Anna", start: "2026-03-27T08:00:00Z", end: "2026-03-28T08:00:00Z"},
		{name: "turn across spring DST lasts 23h and ends 09:00 CEST", at: "2026-03-28T20:00:00Z", who: "Ben", start: "2026-03-28T08:00:00Z", end: "2026-03-29T07:00:00Z"},
		{name: "09:00 CEST is 07:00 UTC after the change", at: "2026-03-29T07:00:00Z", who: "Cleo", start: "2026-03-29T07:00:00Z", end: "2026-03-30T07:00:00Z"},
		{name: "one second before the CEST boundary", at: "2026-03-29T06:59:59Z", who: "Ben", start: "2026-03-28T08:00:00Z", end: "2026-03-29T07:00:00Z"},
		{name: "override start cuts the turn", at: "2026-03-30T09:59:59Z", who: "Anna", start: "2026-03-30T07:00:00Z", end: "2026-03-30T10:00:00Z"},
		{name: "override in force", at: "2026-03-30T10:00:00Z", who: "Dora", start: "2026-03-30T10:00:00Z", end: "2026-03-30T16:00:00Z"},
		{name: "rotation resumes after the override", at: "2026-03-30T16:00:00Z", who: "Anna", start: "2026-03-30T16:00:00Z", end: "2026-03-31T07:00:00Z"},
		{name: "turn across autumn DST lasts 25h", at: "2026-10-25T01:30:00Z", who: "Ben", start: "2026-10-24T07:00:00Z", end: "2026-10-25T08:00:00Z"},
		{name: "09:00 CET is 08:00 UTC after the change", at: "2026-10-25T08:00:00Z", who: "Cleo", start: "2026-10-25T08:00:00Z", end: "2026-10-26T08:00:00Z"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			at := utc(tc.at)
			shifts, err := p.Shifts(context.Background(), "berlin", at, at.Add(time.Second))
			if err != nil {
				t.Fatalf("Shifts: %v", err)
			}
			var got []bot.Shift
			for _, s := range shifts {
				if s.Level == 1 && s.Covers(at) {
					got = append(got, s)
				}
			}
			var want []bot.Shift
			if tc.who != "" {
				want = []bot.Shift{{Schedule: "berlin", Level: 1, Person: who(tc.who), Start: utc(tc.start), End: utc(tc.end)}}
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("level-1 shift at %s (-want +got):\n%s", tc.at, diff)
			}
		})
	}
}

func TestShiftsWindowAllLevels(t *testing.T) {
	p := loadBerlin(t)
	got, err := p.Shifts(context.Background(), "berlin", utc("2026-03-30T09:00:00Z"), utc("2026-03-31T12:00:00Z"))
	if err != nil {
		t.Fatalf("Shifts: %v", err)
	}
	want := []bot.Shift{
		{Schedule: "berlin", Level: 1, Person: who("Anna"), Start: utc("2026-03-30T07:00:00Z"), End: utc("2026-03-30T10:00:00Z")},
		{Schedule: "berlin", Level: 1, Person: who("Dora"), Start: utc("2026-03-30T10:00:00Z"), End: utc("2026-03-30T16:00:00Z")},
		{Schedule: "berlin", Level: 1, Person: who("Anna"), Start: utc("2026-03-30T16:00:00Z"), End: utc("2026-03-31T07:00:00Z")},
		{Schedule: "berlin", Level: 1, Person: who("Ben"), Start: utc("2026-03-31T07:00:00Z"), End: utc("2026-04-01T07:00:00Z")},
		// Level 2 turns are exact 168h durations, so 09:00 CET becomes 10:00 CEST.
		{Schedule: "berlin", Level: 2, Person: who("Lead"), Start: utc("2026-03-30T08:00:00Z"), End: utc("2026-04-06T08:00:00Z")},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("shifts (-want +got):\n%s", diff)
	}
}

func TestUnknownScheduleIsNotFound(t *testing.T) {
	p := loadBerlin(t)
	_, err := p.Shifts(context.Background(), "nope", utc("2026-03-30T09:00:00Z"), utc("2026-03-31T09:00:00Z"))
	if !errors.Is(err, bot.ErrNotFound) {
		t.Errorf("got error %v, want one wrapping bot.ErrNotFound", err)
	}
}

func TestExampleFileLoads(t *testing.T) {
	p, err := Load("oncall.example.yaml")
	if err != nil {
		t.Fatalf("Load example: %v", err)
	}
	got := p.Schedules()
	want := []bot.ScheduleConfig{{ID: "payments", Name: "payments"}, {ID: "platform", Name: "platform"}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("schedules (-want +got):\n%s", diff)
	}
	// The Tuesday override replaces Alice with Bob for one day.
	at := utc("2026-01-06T12:00:00Z")
	shifts, err := p.Shifts(context.Background(), "payments", at, at.Add(time.Minute))
	if err != nil {
		t.Fatalf("Shifts: %v", err)
	}
	if len(shifts) != 2 || shifts[0].Person.Name != "Bob Example" || shifts[1].Person.Name != "Dana Lead" {
		t.Errorf("got %+v, want Bob Example at level 1 and Dana Lead at level 2", shifts)
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want string
	}{
		{name: "empty", yaml: "schedules: []", want: "no schedules"},
		{name: "unknown field", yaml: "schedules: [{id: a, colour: red}]", want: "field colour not found"},
		{name: "missing id", yaml: "schedules: [{rotations: [{start: '2026-01-01 09:00', shift: 1d, people: [{email: a@x.io}]}]}]", want: "id is required"},
		{name: "bad zone", yaml: "schedules: [{id: a, time_zone: Mars/Olympus, rotations: [{start: '2026-01-01 09:00', shift: 1d, people: [{email: a@x.io}]}]}]", want: `time_zone "Mars/Olympus"`},
		{name: "bad shift", yaml: "schedules: [{id: a, rotations: [{start: '2026-01-01 09:00', shift: 0d, people: [{email: a@x.io}]}]}]", want: "rotations[0].shift"},
		{name: "bad start", yaml: "schedules: [{id: a, rotations: [{start: 'monday', shift: 1d, people: [{email: a@x.io}]}]}]", want: "rotations[0].start"},
		{name: "no people", yaml: "schedules: [{id: a, rotations: [{start: '2026-01-01 09:00', shift: 1d}]}]", want: "at least one person"},
		{name: "no email", yaml: "schedules: [{id: a, rotations: [{start: '2026-01-01 09:00', shift: 1d, people: [{name: Al}]}]}]", want: "people[0]: email"},
		{name: "override ends before start", yaml: "schedules: [{id: a, rotations: [{start: '2026-01-01 09:00', shift: 1d, people: [{email: a@x.io}]}], overrides: [{start: '2026-01-02 09:00', end: '2026-01-01 09:00', person: {email: b@x.io}}]}]", want: "end must be after start"},
		{name: "duplicate id", yaml: "schedules: [{id: a, rotations: [{start: '2026-01-01 09:00', shift: 1d, people: [{email: a@x.io}]}]}, {id: a, rotations: [{start: '2026-01-01 09:00', shift: 1d, people: [{email: a@x.io}]}]}]", want: `duplicate id "a"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.yaml))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

func TestLongRunningRotationIsFast(t *testing.T) {
	// A rotation started years ago must not be walked turn by turn.
	p, err := Parse([]byte("schedules: [{id: a, time_zone: Europe/Berlin, rotations: [{start: '2000-01-01 09:00', shift: 1d, people: [{email: a@x.io}, {email: b@x.io}]}]}]"))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	at := utc("2026-10-25T12:00:00Z")
	got, err := p.Shifts(context.Background(), "a", at, at.Add(time.Minute))
	if err != nil {
		t.Fatalf("Shifts: %v", err)
	}
	if len(got) != 1 || !got[0].Start.Equal(utc("2026-10-25T08:00:00Z")) || !got[0].End.Equal(utc("2026-10-26T08:00:00Z")) {
		t.Errorf("got %+v, want one turn 2026-10-25T08:00Z..2026-10-26T08:00Z", got)
	}
}
