package incident

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/opsbot/opsbot/bot"
)

// Statistics are computed from the milestones each incident records —
// detected, declared, acknowledged, mitigated, resolved — never from when a
// record was last touched. Every duration is measured from the declaration,
// except time to detect, which runs from detection to the declaration.
// Incidents count under the highest severity they had, as post-mortems
// report them: a sev1 lowered to sev3 once mitigated is still a sev1 (the
// export shows the same "highest"). Drills are left out and counted apart.

// StatsWindows are the windows /incident stats and opsbot stats accept.
var StatsWindows = []string{"7d", "30d", "90d"}

// ParseStatsWindow reads "7d", "30d" or "90d".
func ParseStatsWindow(s string) (time.Duration, error) {
	w := strings.ToLower(strings.TrimSpace(s))
	switch w {
	case "7d", "30d", "90d":
		days := 0
		fmt.Sscanf(w, "%dd", &days)
		return time.Duration(days) * 24 * time.Hour, nil
	}
	return 0, bot.Userf("`%s` is not a window I report on: use 7d, 30d or 90d.", bot.Quote(s))
}

// Spread is the median and 90th percentile of a set of durations.
type Spread struct {
	// N is how many incidents reached the milestone; Median and P90 are
	// zero when N is 0.
	N      int           `json:"n"`
	Median time.Duration `json:"-"`
	P90    time.Duration `json:"-"`
}

// SeverityStats are the counts and durations of one severity (or of all,
// Severity "all").
type SeverityStats struct {
	Severity string `json:"severity"`
	Count    int    `json:"count"`
	// Open counts the incidents not yet resolved.
	Open     int    `json:"open"`
	Detect   Spread `json:"time_to_detect"`
	Ack      Spread `json:"time_to_acknowledge"`
	Mitigate Spread `json:"time_to_mitigate"`
	Resolve  Spread `json:"time_to_resolve"`
}

// WeekStats is one calendar week (Monday 00:00 in the report's zone).
type WeekStats struct {
	Start time.Time `json:"start"`
	// Counts are incidents declared that week, by severity (worst first).
	Counts [4]int `json:"-"`
	// Resolve is the spread of time to resolve of the week's incidents
	// that are resolved.
	Resolve Spread `json:"time_to_resolve"`
}

// Stats is a report over [From, To]: To is the moment it was made.
type Stats struct {
	From, To time.Time
	Zone     *time.Location
	// Total counts the incidents in the report; Drills those left out.
	Total      int
	Drills     int
	BySeverity []SeverityStats // sev1..sev4, then "all"
	Weeks      []WeekStats
}

// ComputeStats builds the report over [from, to] from incident records.
// Records of failed declarations (no channel was ever created) and drills
// are left out.
func ComputeStats(incs []bot.Incident, from, to time.Time, zone *time.Location) Stats {
	if zone == nil {
		zone = time.UTC
	}
	st := Stats{From: from, To: to, Zone: zone}
	type samples struct{ detect, ack, mitigate, resolve []time.Duration }
	per := make([]samples, len(bot.Severities)+1) // index rank-1, last is all
	counts := make([]SeverityStats, len(bot.Severities)+1)
	for i, sev := range bot.Severities {
		counts[i].Severity = string(sev)
	}
	counts[len(bot.Severities)].Severity = "all"
	for w := weekStart(from, zone); w.Before(to); w = w.AddDate(0, 0, 7) {
		st.Weeks = append(st.Weeks, WeekStats{Start: w})
	}
	weekSamples := make([][]time.Duration, len(st.Weeks))
	for i := range incs {
		inc := &incs[i]
		if inc.DeclaredAt.Before(from) || inc.DeclaredAt.After(to) || inc.Channel == "" {
			continue
		}
		if inc.Drill {
			st.Drills++
			continue
		}
		rank := inc.Highest().Rank()
		if rank == 0 {
			continue
		}
		st.Total++
		for _, k := range []int{rank - 1, len(bot.Severities)} {
			c, p := &counts[k], &per[k]
			c.Count++
			if inc.Open() {
				c.Open++
			}
			if d, ok := between(inc.DetectedAt, inc.DeclaredAt); ok {
				p.detect = append(p.detect, d)
			}
			if d, ok := between(inc.DeclaredAt, inc.AcknowledgedAt); ok {
				p.ack = append(p.ack, d)
			}
			if d, ok := between(inc.DeclaredAt, inc.MitigatedAt); ok {
				p.mitigate = append(p.mitigate, d)
			}
			if d, ok := between(inc.DeclaredAt, inc.ResolvedAt); ok {
				p.resolve = append(p.resolve, d)
			}
		}
		if w := weekIndex(st.Weeks, inc.DeclaredAt); w >= 0 {
			st.Weeks[w].Counts[rank-1]++
			if d, ok := between(inc.DeclaredAt, inc.ResolvedAt); ok {
				weekSamples[w] = append(weekSamples[w], d)
			}
		}
	}
	for k := range counts {
		counts[k].Detect = spread(per[k].detect)
		counts[k].Ack = spread(per[k].ack)
		counts[k].Mitigate = spread(per[k].mitigate)
		counts[k].Resolve = spread(per[k].resolve)
	}
	for w := range st.Weeks {
		st.Weeks[w].Resolve = spread(weekSamples[w])
	}
	st.BySeverity = counts
	return st
}

// between is b - a when both are set and b is not before a.
func between(a, b time.Time) (time.Duration, bool) {
	if a.IsZero() || b.IsZero() || b.Before(a) {
		return 0, false
	}
	return b.Sub(a), true
}

// weekStart is the Monday 00:00 (in zone) of the week holding t.
func weekStart(t time.Time, zone *time.Location) time.Time {
	l := t.In(zone)
	day := time.Date(l.Year(), l.Month(), l.Day(), 0, 0, 0, 0, zone)
	back := (int(day.Weekday()) + 6) % 7 // Monday is 0
	return day.AddDate(0, 0, -back)
}

func weekIndex(weeks []WeekStats, t time.Time) int {
	for i := len(weeks) - 1; i >= 0; i-- {
		if !t.Before(weeks[i].Start) {
			return i
		}
	}
	return -1
}

// spread computes the median and 90th percentile of ds.
func spread(ds []time.Duration) Spread {
	if len(ds) == 0 {
		return Spread{}
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return Spread{N: len(s), Median: Percentile(s, 0.5), P90: Percentile(s, 0.9)}
}

// Percentile is the p-quantile (0 ≤ p ≤ 1) of sorted values, interpolated
// linearly between the two nearest ranks (the definition of Excel's
// PERCENTILE.INC and NumPy's default): the median of 1, 2, 3, 4 is 2.5, and
// the 90th percentile of 1…10 is 9.1. It rounds to the second.
func Percentile(sorted []time.Duration, p float64) time.Duration {
	switch n := len(sorted); {
	case n == 0:
		return 0
	case n == 1:
		return sorted[0]
	}
	h := p * float64(len(sorted)-1)
	lo := int(h)
	if lo >= len(sorted)-1 {
		return sorted[len(sorted)-1]
	}
	frac := h - float64(lo)
	v := float64(sorted[lo]) + frac*float64(sorted[lo+1]-sorted[lo])
	return time.Duration(v).Round(time.Second)
}

// All is the row over every severity.
func (s *Stats) All() SeverityStats { return s.BySeverity[len(s.BySeverity)-1] }
