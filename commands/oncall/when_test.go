package oncall

import (
	"strings"
	"testing"
	"time"
)

func mustLoc(t *testing.T, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

// TestParseWindowAcrossDST reads FROM/UNTIL at fixed dates around the
// clock changes of 2026 (Europe/Berlin: 29 March 02:00→03:00, 25 October
// 03:00→02:00; America/New_York: 8 March, 1 November), one step at a time,
// as goalert tests its calculators.
func TestParseWindowAcrossDST(t *testing.T) {
	berlin, ny := mustLoc(t, "Europe/Berlin"), mustLoc(t, "America/New_York")
	utc := func(s string) time.Time {
		t.Helper()
		v, err := time.Parse("2006-01-02 15:04", s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	tests := []struct {
		name      string
		now       string // UTC
		loc       *time.Location
		in        string
		wantStart string // UTC; empty when an error is wanted
		wantEnd   string
		wantUsed  int
		wantErr   string
	}{
		{name: "absolute, winter time", now: "2026-03-27 12:00", loc: berlin, in: "2026-03-28 18:00 2026-03-28 22:00", wantStart: "2026-03-28 17:00", wantEnd: "2026-03-28 21:00", wantUsed: 4},
		{name: "absolute across spring forward: 8 wall hours are 7 real", now: "2026-03-27 12:00", loc: berlin, in: "2026-03-28 22:00 2026-03-29 06:00", wantStart: "2026-03-28 21:00", wantEnd: "2026-03-29 04:00", wantUsed: 4},
		{name: "skipped wall time refused", now: "2026-03-27 12:00", loc: berlin, in: "2026-03-29 02:30 +1h", wantErr: "does not exist in Europe/Berlin"},
		{name: "tomorrow on the spring-forward day", now: "2026-03-28 10:00", loc: berlin, in: "tomorrow 09:00 +4h", wantStart: "2026-03-29 07:00", wantEnd: "2026-03-29 11:00", wantUsed: 3},
		{name: "+1d is a calendar day (23h) across spring forward", now: "2026-03-28 10:00", loc: berlin, in: "today 12:00 +1d", wantStart: "2026-03-28 11:00", wantEnd: "2026-03-29 10:00", wantUsed: 3},
		{name: "+24h is exact across spring forward", now: "2026-03-28 10:00", loc: berlin, in: "today 12:00 +24h", wantStart: "2026-03-28 11:00", wantEnd: "2026-03-29 11:00", wantUsed: 3},
		{name: "repeated wall time is the earlier", now: "2026-10-24 12:00", loc: berlin, in: "2026-10-25 02:30 +1h", wantStart: "2026-10-25 00:30", wantEnd: "2026-10-25 01:30", wantUsed: 3},
		{name: "+1d is 25h across fall back", now: "2026-10-24 12:00", loc: berlin, in: "today 18:00 +1d", wantStart: "2026-10-24 16:00", wantEnd: "2026-10-25 17:00", wantUsed: 3},
		{name: "bare clock time: the next one after FROM", now: "2026-10-24 12:00", loc: berlin, in: "today 22:00 06:00", wantStart: "2026-10-24 20:00", wantEnd: "2026-10-25 05:00", wantUsed: 3},
		{name: "bare clock FROM later today", now: "2026-10-24 12:00", loc: berlin, in: "18:00 +4h", wantStart: "2026-10-24 16:00", wantEnd: "2026-10-24 20:00", wantUsed: 2},
		{name: "bare clock FROM already past today is tomorrow", now: "2026-10-24 12:00", loc: berlin, in: "09:00 +4h", wantStart: "2026-10-25 08:00", wantEnd: "2026-10-25 12:00", wantUsed: 2},
		{name: "weekday: the next one", now: "2026-03-04 15:00", loc: ny, in: "mon 09:00 friday 17:00", wantStart: "2026-03-09 13:00", wantEnd: "2026-03-13 21:00", wantUsed: 4},
		{name: "weekday today, still ahead", now: "2026-03-09 12:00", loc: ny, in: "monday 18:00 +2h", wantStart: "2026-03-09 22:00", wantEnd: "2026-03-10 00:00", wantUsed: 3},
		{name: "weekday today, already past: next week", now: "2026-03-09 12:00", loc: ny, in: "monday 07:00 +2h", wantStart: "2026-03-16 11:00", wantEnd: "2026-03-16 13:00", wantUsed: 3},
		{name: "New York spring forward skipped time", now: "2026-03-07 12:00", loc: ny, in: "tomorrow 02:15 +1h", wantErr: "does not exist in America/New_York"},
		{name: "New York fall back, repeated 01:30 is EDT", now: "2026-10-31 12:00", loc: ny, in: "tomorrow 01:30 +1h", wantStart: "2026-11-01 05:30", wantEnd: "2026-11-01 06:30", wantUsed: 3},
		{name: "now and a relative end, reason left over", now: "2026-11-29 15:00", loc: time.UTC, in: "now +90m dentist appointment", wantStart: "2026-11-29 15:00", wantEnd: "2026-11-29 16:30", wantUsed: 2},
		{name: "date only is midnight", now: "2026-11-29 15:00", loc: berlin, in: "2026-12-24 2026-12-27", wantStart: "2026-12-23 23:00", wantEnd: "2026-12-26 23:00", wantUsed: 2},
		{name: "T form", now: "2026-11-29 15:00", loc: time.UTC, in: "2026-12-01T18:00 2026-12-01T22:00", wantStart: "2026-12-01 18:00", wantEnd: "2026-12-01 22:00", wantUsed: 2},
		{name: "unparsable", now: "2026-11-29 15:00", loc: time.UTC, in: "soonish +4h", wantErr: "cannot read FROM `soonish`"},
		{name: "missing UNTIL", now: "2026-11-29 15:00", loc: time.UTC, in: "tomorrow 09:00", wantErr: "UNTIL is missing"},
		{name: "today without a time", now: "2026-11-29 15:00", loc: time.UTC, in: "today +4h", wantErr: "needs a time"},
		{name: "bad date", now: "2026-11-29 15:00", loc: time.UTC, in: "2026-02-30 10:00 +1h", wantErr: "not a date"},
		{name: "now is not an UNTIL", now: "2026-11-29 15:00", loc: time.UTC, in: "+1h now", wantErr: "`now` can only be FROM"},
		{name: "absurd offset", now: "2026-11-29 15:00", loc: time.UTC, in: "now +99999d", wantErr: "too far away"},
		{name: "markup is quoted back", now: "2026-11-29 15:00", loc: time.UTC, in: "<!here> +1h", wantErr: "cannot read FROM `@here`"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			start, end, used, err := parseWindow(strings.Fields(tc.in), utc(tc.now), tc.loc)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("got %v (start %s, end %s), want error containing %q", err, start, end, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("got error %v, want %s → %s", err, tc.wantStart, tc.wantEnd)
			}
			if !start.Equal(utc(tc.wantStart)) || !end.Equal(utc(tc.wantEnd)) || used != tc.wantUsed {
				t.Errorf("got %s → %s using %d words, want %s → %s using %d",
					start.Format("2006-01-02 15:04"), end.Format("2006-01-02 15:04"), used, tc.wantStart, tc.wantEnd, tc.wantUsed)
			}
			if start.Location() != time.UTC || end.Location() != time.UTC {
				t.Errorf("times not in UTC: %v %v", start.Location(), end.Location())
			}
		})
	}
}

// FuzzParseWindow: whatever people type after `/oncall cover SCHEDULE`,
// reading FROM and UNTIL never panics, never consumes more words than there
// are, and a window it accepts has both ends set, UNTIL from FROM onwards
// for offsets, and no refusal that repeats typed markup.
func FuzzParseWindow(f *testing.F) {
	for _, s := range []string{"now +4h", "tomorrow 09:00 +90m dentist", "2026-12-01 18:00 2026-12-02", "fri 18:00 mon 09:00",
		"18:00 +1d12h", "today 20:00 today 19:00", "+99999999d now", "<!here> +1h", "2026-03-29 02:30 +1h", "now +-1h", ""} {
		f.Add(s)
	}
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		f.Fatal(err)
	}
	now := time.Date(2026, 3, 28, 22, 30, 0, 0, time.UTC) // the night Berlin's clocks go forward
	f.Fuzz(func(t *testing.T, text string) {
		args := strings.Fields(text)
		start, end, used, err := parseWindow(args, now, berlin)
		if err != nil {
			if msg := err.Error(); strings.Contains(msg, "<!") || strings.Contains(msg, "<@") {
				t.Fatalf("refusal %q repeats markup", msg)
			}
			return
		}
		if used < 2 || used > len(args) {
			t.Fatalf("used %d of %d words", used, len(args))
		}
		if start.IsZero() || end.IsZero() {
			t.Fatalf("window %s–%s has an unset end", start, end)
		}
		if strings.HasPrefix(args[used-1], "+") && end.Before(start) {
			t.Fatalf("offset %q gave an end %s before the start %s", args[used-1], end, start)
		}
	})
}
