package oncall

import (
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/opsbot/opsbot/bot"
)

// Times people type after /oncall cover and /oncall override, read in the
// typist's own time zone (their Slack tz):
//
//	2026-12-01 18:00   2026-12-01T18:00   2026-12-01 (midnight)
//	today 18:00        tomorrow 09:00     fri 18:00 / friday 18:00 (the next one)
//	18:00              the next 18:00 after the reference
//	+4h  +90m  +1d  +1d12h   from the reference; d is a calendar day in the zone
//	now                (FROM only)
//
// The reference is now for FROM and FROM for UNTIL, so "tomorrow 22:00
// 06:00" is a night and "18:00 +4h" four hours. A wall-clock time that the
// zone skips (the hour clocks go forward) is refused; one it repeats (the
// hour clocks go back) is the earlier of the two.

// whenExamples is shown with every time the bot cannot read.
const whenExamples = "`2026-12-01 18:00`, `tomorrow 09:00`, `fri 18:00`, `18:00` or `+4h`"

var (
	clockRE    = regexp.MustCompile(`^([01]?\d|2[0-3]):([0-5]\d)$`)
	dateRE     = regexp.MustCompile(`^(\d{4})-(\d{2})-(\d{2})$`)
	dateTimeRE = regexp.MustCompile(`^(\d{4}-\d{2}-\d{2})[Tt](\d{1,2}:\d{2})$`)
	relRE      = regexp.MustCompile(`^\+(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?$`)
	weekdays   = map[string]time.Weekday{
		"sun": time.Sunday, "sunday": time.Sunday, "mon": time.Monday, "monday": time.Monday,
		"tue": time.Tuesday, "tues": time.Tuesday, "tuesday": time.Tuesday, "wed": time.Wednesday, "wednesday": time.Wednesday,
		"thu": time.Thursday, "thurs": time.Thursday, "thursday": time.Thursday, "fri": time.Friday, "friday": time.Friday,
		"sat": time.Saturday, "saturday": time.Saturday,
	}
)

// parseWindow reads FROM and UNTIL at the start of args and returns the
// window in UTC and how many words it used.
func parseWindow(args []string, now time.Time, loc *time.Location) (start, end time.Time, used int, err error) {
	start, n, err := parseWhen(args, now, loc, true)
	if err != nil {
		return start, end, 0, err
	}
	end, m, err := parseWhen(args[n:], start, loc, false)
	if err != nil {
		return start, end, 0, err
	}
	return start, end, n + m, nil
}

// parseWhen reads one time at the start of args relative to ref; isFrom
// allows "now".
func parseWhen(args []string, ref time.Time, loc *time.Location, isFrom bool) (time.Time, int, error) {
	what := "UNTIL"
	if isFrom {
		what = "FROM"
	}
	if len(args) == 0 {
		return time.Time{}, 0, bot.Userf("Say when: %s is missing. Write it like %s.", what, whenExamples)
	}
	w := strings.ToLower(args[0])
	next := ""
	if len(args) > 1 {
		next = args[1]
	}
	refLocal := ref.In(loc)
	switch {
	case w == "now" && isFrom:
		return ref.UTC(), 1, nil
	case w == "now":
		return time.Time{}, 0, bot.Userf("`now` can only be FROM, the start: give UNTIL as a later time, e.g. `+2h` or `18:00`.")
	case relRE.MatchString(w) && w != "+":
		m := relRE.FindStringSubmatch(w)
		days, _ := strconv.Atoi(m[1])
		hours, _ := strconv.Atoi(m[2])
		mins, _ := strconv.Atoi(m[3])
		if days > 3660 || hours > 87840 || mins > 5270400 {
			return time.Time{}, 0, bot.Userf("`%s` is too far away.", bot.Quote(args[0]))
		}
		t := refLocal
		if days > 0 {
			// Only when asked: AddDate goes through the wall clock, which
			// would move a time in a repeated hour to its other instance.
			t = t.AddDate(0, 0, days)
		}
		t = t.Add(time.Duration(hours)*time.Hour + time.Duration(mins)*time.Minute)
		return t.UTC(), 1, nil
	case dateTimeRE.MatchString(w):
		m := dateTimeRE.FindStringSubmatch(w)
		t, err := dateAt(m[1], m[2], loc)
		return t, 1, err
	case dateRE.MatchString(w):
		if clockRE.MatchString(next) {
			t, err := dateAt(w, next, loc)
			return t, 2, err
		}
		t, err := dateAt(w, "00:00", loc)
		return t, 1, err
	case w == "today" || w == "tomorrow":
		if !clockRE.MatchString(next) {
			return time.Time{}, 0, bot.Userf("`%s` needs a time after it, e.g. `%s 09:00`.", w, w)
		}
		d := refLocal
		if w == "tomorrow" {
			d = d.AddDate(0, 0, 1)
		}
		t, err := localAt(d.Year(), d.Month(), d.Day(), next, loc)
		return t, 2, err
	case weekdays[w] != 0 || w == "sun" || w == "sunday":
		if !clockRE.MatchString(next) {
			return time.Time{}, 0, bot.Userf("`%s` needs a time after it, e.g. `%s 18:00`.", w, w)
		}
		wd := weekdays[w]
		for i := 0; i <= 7; i++ {
			d := refLocal.AddDate(0, 0, i)
			if d.Weekday() != wd {
				continue
			}
			t, err := localAt(d.Year(), d.Month(), d.Day(), next, loc)
			if err != nil {
				return t, 2, err
			}
			if t.After(ref) {
				return t, 2, nil
			}
		}
		return time.Time{}, 0, bot.Userf("I could not place `%s %s`.", w, next)
	case clockRE.MatchString(w):
		// The next such time after the reference: today or tomorrow.
		for i := 0; i <= 2; i++ {
			d := refLocal.AddDate(0, 0, i)
			t, err := localAt(d.Year(), d.Month(), d.Day(), w, loc)
			if err != nil {
				continue // skipped tonight by a clock change; tomorrow has it
			}
			if t.After(ref) {
				return t, 1, nil
			}
		}
		return time.Time{}, 0, bot.Userf("I could not place `%s`.", w)
	}
	return time.Time{}, 0, bot.Userf("I cannot read %s `%s` as a time. Write it like %s (your time zone, %s).",
		what, bot.Quote(args[0]), whenExamples, loc)
}

func dateAt(date, clock string, loc *time.Location) (time.Time, error) {
	d, err := time.ParseInLocation("2006-01-02", date, loc)
	if err != nil {
		return time.Time{}, bot.Userf("`%s` is not a date.", date)
	}
	return localAt(d.Year(), d.Month(), d.Day(), clock, loc)
}

// localAt is the wall-clock time hh:mm on that day in loc, in UTC.
func localAt(y int, mo time.Month, d int, clock string, loc *time.Location) (time.Time, error) {
	m := clockRE.FindStringSubmatch(clock)
	if m == nil {
		return time.Time{}, bot.Userf("`%s` is not a time of day like 18:00.", clock)
	}
	hh, _ := strconv.Atoi(m[1])
	mm, _ := strconv.Atoi(m[2])
	t := time.Date(y, mo, d, hh, mm, 0, 0, loc)
	// time.Date leaves the choice unspecified when the wall-clock time is
	// skipped or repeated; decide here, the same way every time.
	var best time.Time
	for _, c := range []time.Time{t.Add(-time.Hour), t, t.Add(time.Hour)} {
		l := c.In(loc)
		if l.Year() == y && l.Month() == mo && l.Day() == d && l.Hour() == hh && l.Minute() == mm {
			if best.IsZero() || c.Before(best) {
				best = c
			}
		}
	}
	if best.IsZero() {
		return time.Time{}, bot.Userf("%04d-%02d-%02d %02d:%02d does not exist in %s: the clocks go forward then. Pick another time.",
			y, mo, d, hh, mm, loc)
	}
	return best.UTC(), nil
}
